"""Vietnamese names for the domain's enums, as pages show them."""

from __future__ import annotations

from sessions.models import (
    CaseKind,
    CaseStatus,
    CitizenRole,
    MinutesState,
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

MINUTES_STATES = {
    MinutesState.DRAFT: "Bản nháp",
    MinutesState.LOCKED: "Đã hoàn tất",
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
    "session.cancel": "Hủy phiên",
    "session.open": "Mở phiên",
    "session.close": "Đóng phiên",
    "calendar.put": "Sửa lịch ngày nghỉ, ngày làm bù",
    "calendar.delete": "Xóa ngày khỏi lịch nghỉ",
    "readiness.check": "Kiểm tra kết nối điểm cầu",
    "recording.start": "Bắt đầu ghi hình",
    "recording.stop": "Dừng ghi hình",
    "recording.changed": "Bản ghi thay đổi trạng thái",
    "recording.manifest": "Lập bản kê bản ghi",
    "recording.replay": "Xem lại bản ghi",
    "recording.download": "Tải bản ghi",
    "case.bundle": "Đóng gói hồ sơ bàn giao",
    "case.bundle.download": "Tải gói hồ sơ bàn giao",
    "recording.copy_request": "Nhận đề nghị cấp bản sao ghi hình",
    "recording.copy_approved": "Kiểm tra, chấp thuận bản sao ghi hình",
    "recording.copy_refused": "Không chấp thuận bản sao ghi hình",
    "recording.copy_handover": "Bàn giao bản sao ghi hình",
    "recording.verify": "Kiểm tra toàn vẹn bản ghi",
    "session.archive": "Lưu trữ phiên",
    "export.request": "Yêu cầu trích xuất",
    "export.done": "Trích xuất xong",
    "export.failed": "Trích xuất thất bại",
    "export.download": "Tải tệp trích xuất",
    "minutes.create": "Lập biên bản (phiên bản mới)",
    "minutes.save": "Sửa bản nháp biên bản",
    "minutes.finalize": "Hoàn tất biên bản",
}

DENIED = ".denied"


def audit_action(code: str) -> str:
    """An action in words; "X.denied" (a refused attempt at X) as X's words, refused."""
    if code.endswith(DENIED) and code[: -len(DENIED)] in AUDIT_ACTIONS:
        return AUDIT_ACTIONS[code[: -len(DENIED)]] + " (bị từ chối)"
    return AUDIT_ACTIONS.get(code, code)


# The keys and coded values of audit details, in words.
DETAIL_KEYS = {
    "surface": "Nơi xem",
    "case_id": "Hồ sơ",
    "session_id": "Phiên",
    "session_ids": "Các phiên",
    "reason": "Lý do",
    "fields": "Trường đã sửa",
    "roles": "Vai trò",
    "before": "Trước",
    "after": "Sau",
    "error": "Lỗi",
    "key": "Tệp",
    "sha256": "SHA-256",
    "size": "Dung lượng (byte)",
    "files": "Số tệp",
    "run_key": "Lượt ghi",
    "protected_cases": "Hồ sơ có danh tính bảo mật",
    "passed": "Đạt",
    "figures": "Số đo",
    "date": "Ngày",
    "kind": "Loại",
    "name": "Tên",
    "weekday": "Thứ",
    "state": "Trạng thái",
    "t": "Vị trí bắt đầu phát (giây)",
    "range": "Khoảng byte yêu cầu",
    "ok": "Kết quả đạt",
    "failed_keys": "Tệp sai lệch",
    "lines": "Chi tiết sai lệch",
}

DETAIL_VALUES = {
    "bad_credentials": "sai tên đăng nhập hoặc mật khẩu",
    "inactive": "tài khoản đã bị khóa",
    **{role.value: name for role, name in ROLE_NAMES.items()},
}


def _value(value: object) -> str:
    from web.pages.numbers import number

    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, int | float):
        return number(value)
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return "; ".join(
            f"{DETAIL_KEYS.get(str(k), str(k))}: {_value(v)}" for k, v in value.items()
        )
    return DETAIL_VALUES.get(str(value), str(value))


def audit_detail(detail: dict[str, object] | None) -> list[tuple[str, str]]:
    """An audit record's detail as (label, value) lines a person reads, not JSON."""
    return [(DETAIL_KEYS.get(k, k), _value(v)) for k, v in (detail or {}).items()]


OBJECT_TYPES = {
    "account": "Tài khoản",
    "unit": "Đơn vị",
    "endpoint": "Điểm cầu",
    "citizen": "Công dân",
    "case": "Hồ sơ",
    "document": "Tài liệu",
    "session": "Phiên",
    "recording": "Bản ghi",
    "export": "Tệp trích xuất",
    "calendar_day": "Ngày trong lịch",
    "recording_copy": "Bản sao ghi hình cho công dân",
    "minutes": "Biên bản",
}

# The timed events of a session (session_events.kind), as the archive page lists them.
EVENT_KINDS = {
    "join": "Tham gia phòng",
    "leave": "Rời phòng",
    "floor": "Trao quyền phát biểu",
    "mute": "Tắt, bật micrô hoặc camera",
    "remove": "Mời ra khỏi phòng",
    "speaker": "Người đang nói",
    "recording": "Ghi hình",
    "agenda": "Chuyển vụ việc",
    "close": "Kết thúc phiên",
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
