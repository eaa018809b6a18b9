"""Vietnamese names for the domain's enums, as pages show them."""

from __future__ import annotations

from sessions.models import (
    CaseKind,
    CaseStatus,
    CitizenRole,
    Role,
    SessionKind,
    SessionState,
    SubjectArea,
)

ROLE_NAMES = {
    Role.ADMIN: "Quản trị hệ thống",
    Role.LEADER: "Lãnh đạo chủ trì",
    Role.RECEPTION_OFFICER: "Cán bộ tiếp công dân",
    Role.FOCAL_STAFF: "Cán bộ đầu mối",
    Role.ARCHIVIST: "Cán bộ lưu trữ",
    Role.AUDITOR: "Thanh tra, kiểm tra",
}

CASE_KINDS = {
    CaseKind.COMPLAINT: "Khiếu nại",
    CaseKind.DENUNCIATION: "Tố cáo",
    CaseKind.PETITION: "Kiến nghị, phản ánh",
    CaseKind.DISPUTE: "Tranh chấp",
    CaseKind.MIXED: "Đơn có nhiều nội dung",
}

CASE_STATUSES = {
    CaseStatus.RECEIVED: "Tiếp nhận",
    CaseStatus.ACCEPTED: "Thụ lý",
    CaseStatus.GUIDED: "Trả đơn, hướng dẫn",
    CaseStatus.FORWARDED: "Chuyển cơ quan có thẩm quyền",
    CaseStatus.SETTLED: "Đã giải quyết",
    CaseStatus.CLOSED: "Kết thúc, lưu hồ sơ",
}

SUBJECT_AREAS = {
    SubjectArea.LAND: "Đất đai",
    SubjectArea.HOUSING: "Nhà ở",
    SubjectArea.ENVIRONMENT: "Môi trường",
    SubjectArea.SOCIAL_POLICY: "Chính sách xã hội",
    SubjectArea.ADMINISTRATION: "Hành chính",
    SubjectArea.JUSTICE: "Tư pháp",
    SubjectArea.OTHER: "Khác",
}

SESSION_KINDS = {
    SessionKind.PERIODIC: "Định kỳ",
    SessionKind.AD_HOC: "Đột xuất",
}

SESSION_STATES = {
    SessionState.DRAFT: "Nháp",
    SessionState.SCHEDULED: "Đã lên lịch",
    SessionState.LIVE: "Đang diễn ra",
    SessionState.ENDED: "Đã kết thúc",
    SessionState.ARCHIVED: "Đã lưu trữ",
    SessionState.CANCELLED: "Đã hủy",
}

CITIZEN_ROLES = {
    CitizenRole.PETITIONER: "Người đứng đơn",
    CitizenRole.REPRESENTATIVE: "Người đại diện",
    CitizenRole.LAWYER: "Luật sư, người được ủy quyền",
    CitizenRole.DENOUNCED: "Người bị tố cáo",
}

AUDIT_ACTIONS = {
    "login": "Đăng nhập",
    "login.failed": "Đăng nhập thất bại",
    "login.throttled": "Đăng nhập bị tạm khóa",
    "logout": "Đăng xuất",
    "identity.view": "Xem danh tính được bảo mật",
    "unit.create": "Tạo đơn vị",
    "unit.update": "Sửa đơn vị",
    "endpoint.create": "Tạo điểm cầu",
    "endpoint.update": "Sửa điểm cầu",
    "account.create": "Tạo tài khoản",
    "account.update": "Sửa tài khoản",
    "account.roles": "Đổi vai trò",
    "account.password": "Đặt lại mật khẩu",
    "citizen.create": "Tạo công dân",
    "citizen.update": "Sửa công dân",
    "case.create": "Tạo hồ sơ",
    "case.update": "Sửa hồ sơ",
    "case.clearance": "Cấp quyền xem danh tính",
    "case.clearance.revoke": "Thu hồi quyền xem danh tính",
    "case.documents": "Nhận tài liệu",
    "document.download": "Tải tài liệu",
    "session.create": "Tạo phiên",
    "session.update": "Sửa phiên",
}

OBJECT_TYPES = {
    "account": "Tài khoản",
    "unit": "Đơn vị",
    "endpoint": "Điểm cầu",
    "citizen": "Công dân",
    "case": "Hồ sơ",
    "document": "Tài liệu",
    "session": "Phiên",
}

READINESS_STATES = {
    "pending": "Chưa kiểm tra",
    "passed": "Đạt",
    "failed": "Không đạt",
    "overdue": "Quá hạn",
}

# One mapping for the templates: `labels.case_kind[c.kind]`.
ALL = {
    "role": ROLE_NAMES,
    "case_kind": CASE_KINDS,
    "case_status": CASE_STATUSES,
    "subject_area": SUBJECT_AREAS,
    "session_kind": SESSION_KINDS,
    "session_state": SESSION_STATES,
    "citizen_role": CITIZEN_ROLES,
    "audit_action": AUDIT_ACTIONS,
    "object_type": OBJECT_TYPES,
    "readiness_state": READINESS_STATES,
}
