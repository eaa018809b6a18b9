"""The domain's tables: SQLAlchemy 2 typed models.

Times are stored in UTC (naive in the database, aware in Python, see `UTCDateTime`). Text that
people type is NFC; each searchable name has a `*_key` column holding its diacritic-free,
case-folded form (see `sessions.text.search_key`) so search works the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (portable across backends)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}  # noqa: RUF012


def _enum(cls: type[enum.Enum]) -> Enum:
    # VARCHAR + CHECK rather than a native enum type: portable and simple to migrate.
    return Enum(
        cls,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        create_constraint=True,
        name=cls.__name__.lower(),
    )


class Role(enum.StrEnum):
    ADMIN = "admin"
    LEADER = "leader"
    RECEPTION_OFFICER = "reception_officer"
    FOCAL_STAFF = "focal_staff"
    ARCHIVIST = "archivist"
    AUDITOR = "auditor"


class CaseKind(enum.StrEnum):
    COMPLAINT = "complaint"  # khiếu nại
    DENUNCIATION = "denunciation"  # tố cáo
    PETITION = "petition"  # kiến nghị, phản ánh
    DISPUTE = "dispute"  # tranh chấp
    MIXED = "mixed"  # đơn có nhiều nội dung


class SubjectArea(enum.StrEnum):
    LAND = "land"
    HOUSING = "housing"
    ENVIRONMENT = "environment"
    SOCIAL_POLICY = "social_policy"
    ADMINISTRATION = "administration"
    JUSTICE = "justice"
    OTHER = "other"


class CaseStatus(enum.StrEnum):
    RECEIVED = "received"  # tiếp nhận
    ACCEPTED = "accepted"  # thụ lý
    GUIDED = "guided"  # trả đơn, hướng dẫn
    FORWARDED = "forwarded"  # chuyển cơ quan có thẩm quyền
    SETTLED = "settled"  # đã giải quyết
    CLOSED = "closed"  # kết thúc, lưu hồ sơ


class SessionKind(enum.StrEnum):
    PERIODIC = "periodic"  # định kỳ
    AD_HOC = "ad_hoc"  # đột xuất


class SessionState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    ARCHIVED = "archived"
    CANCELLED = "cancelled"


class MinutesState(enum.StrEnum):
    DRAFT = "draft"
    LOCKED = "locked"


class RecordingState(enum.StrEnum):
    RECORDING = "recording"
    FINALIZING = "finalizing"
    STORED = "stored"  # finalized, hashed, held by the store
    REPAIRED = "repaired"  # recovered after a crash, then stored
    FAILED = "failed"


class CitizenRole(enum.StrEnum):
    PETITIONER = "petitioner"  # người đứng đơn
    REPRESENTATIVE = "representative"  # người đại diện
    LAWYER = "lawyer"  # luật sư, người được ủy quyền
    DENOUNCED = "denounced"  # người bị tố cáo


class UnitLevel(Base):
    """A level of the administrative tree (province, department, commune...): data, not code."""

    __tablename__ = "unit_levels"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    level_code: Mapped[str] = mapped_column(ForeignKey("unit_levels.code"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    # Materialized path "/1/4/17/" so "this unit and its sub-units" is one LIKE on any backend.
    path: Mapped[str] = mapped_column(String(500), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Endpoint(Base):
    """An endpoint (điểm cầu): a unit's reception room linked to the bridge."""

    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    location: Mapped[str] = mapped_column(String(300), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    is_central: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    title: Mapped[str] = mapped_column(String(200), default="")  # chức vụ
    # The account sees its unit and the unit's sub-units, nothing else.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    # Focal staff are bound to the endpoint they run.
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[AccountRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="AccountRole.role"
    )

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)


class AccountRole(Base):
    __tablename__ = "account_roles"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role), primary_key=True)


class LoginSession(Base):
    """A signed-in browser or script. The cookie holds a random token; we keep its hash."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class LoginThrottle(Base):
    """Failed logins per key ("user:<name>", "ip:<addr>" or "guess:<addr>"; see
    `web.auth`), kept in the database so that throttling holds across restarts and across
    web processes."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column()


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    id_number: Mapped[str] = mapped_column(String(32), default="", index=True)  # CCCD
    address: Mapped[str] = mapped_column(String(400), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    # The unit that recorded the citizen: scopes who may see the record.
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaseFile(Base):
    """A case file (hồ sơ vụ việc)."""

    __tablename__ = "case_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[CaseKind] = mapped_column(_enum(CaseKind))
    subject_area: Mapped[SubjectArea] = mapped_column(_enum(SubjectArea))
    title: Mapped[str] = mapped_column(String(300))
    title_key: Mapped[str] = mapped_column(String(300), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.RECEIVED)
    handling_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    national_code: Mapped[str | None] = mapped_column(String(64))
    # How many people raise the same content together (a group), when more than one.
    group_size: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    parties: Mapped[list[CaseParty]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="CaseParty.citizen_id"
    )


class CaseParty(Base):
    """A citizen linked to a case, and in which capacity."""

    __tablename__ = "case_parties"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_files.id", ondelete="CASCADE"), primary_key=True
    )
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True)
    role: Mapped[CitizenRole] = mapped_column(_enum(CitizenRole), default=CitizenRole.PETITIONER)


class CaseClearance(Base):
    """An account cleared to see the protected identity on a case (Law on Denunciation, art. 9)."""

    __tablename__ = "case_clearances"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("case_files.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseDocument(Base):
    """A document the citizen handed in for a case (a scan, a PDF, a photo): stored once under
    its own key, never overwritten, with the SHA-256 of its bytes."""

    __tablename__ = "case_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_files.id"), index=True)
    # Documents received together share a batch: one receipt lists them.
    batch: Mapped[str] = mapped_column(String(40), index=True)
    file_name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    received_by_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReceptionSession(Base):
    __tablename__ = "reception_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    title_key: Mapped[str] = mapped_column(String(300), index=True)
    kind: Mapped[SessionKind] = mapped_column(_enum(SessionKind))
    state: Mapped[SessionState] = mapped_column(_enum(SessionState), default=SessionState.DRAFT)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)  # organizing unit
    chair_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    central_endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column()
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    endpoints: Mapped[list[SessionEndpoint]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="SessionEndpoint.endpoint_id"
    )
    attendees: Mapped[list[Attendee]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="Attendee.id"
    )
    agenda: Mapped[list[AgendaItem]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="AgendaItem.position"
    )


class SessionEndpoint(Base):
    """A participating (non-central) endpoint of a session."""

    __tablename__ = "session_endpoints"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), primary_key=True)


class Attendee(Base):
    """An account, or an outside guest (e.g. a department's representative), at a session."""

    __tablename__ = "attendees"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    guest_name: Mapped[str] = mapped_column(String(200), default="")
    guest_organization: Mapped[str] = mapped_column(String(300), default="")
    capacity: Mapped[str] = mapped_column(String(200), default="")  # thành phần tham dự


class AgendaItem(Base):
    """One case heard in a session, with the citizens heard and the endpoint they are at."""

    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_files.id"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    notes: Mapped[str] = mapped_column(Text, default="")

    citizens: Mapped[list[AgendaCitizen]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="AgendaCitizen.citizen_id"
    )


class AgendaCitizen(Base):
    __tablename__ = "agenda_citizens"

    agenda_item_id: Mapped[int] = mapped_column(
        ForeignKey("agenda_items.id", ondelete="CASCADE"), primary_key=True
    )
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), primary_key=True)


class Minutes(Base):
    """One version of the minutes (biên bản) of a session, or of one agenda item (one case).

    Versions are numbered per session and item (`item_key`: the agenda item's id, 0 for the
    session's own minutes). A draft is edited in place (`revision` counts its saves, so that
    two people saving the same draft do not overwrite each other unseen); the chair
    finalizes it: the facts are frozen, the hash taken and the row is never written again.
    A later version `supersedes` a final one. What the system knows (`facts`) names citizens
    by id only: their names are decided by `sessions.identity` each time it is shown."""

    __tablename__ = "minutes"
    __table_args__ = (UniqueConstraint("session_id", "item_key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"), index=True)
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_items.id"))
    # Added by migration 0008.
    item_key: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("minutes.id"))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    presented: Mapped[str] = mapped_column(Text, default="")  # what the citizen presented
    documents_received: Mapped[str] = mapped_column(Text, default="")
    conclusions: Mapped[str] = mapped_column(Text, default="")  # the chair's conclusions
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    finalized_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    # From migration 0001.
    body: Mapped[str] = mapped_column(Text, default="")  # other matters, closing remarks
    state: Mapped[MinutesState] = mapped_column(_enum(MinutesState), default=MinutesState.DRAFT)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    locked_at: Mapped[datetime | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(String(64))  # of the version, set when locked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    directions: Mapped[list[MinutesDirection]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="MinutesDirection.position"
    )


class MinutesDirection(Base):
    """One of the chair's directions in a version of the minutes: to which unit, what, by
    when. The unit's name is kept as it was when written: a final version never changes."""

    __tablename__ = "minutes_directions"

    minutes_id: Mapped[int] = mapped_column(
        ForeignKey("minutes.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    unit_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    due_on: Mapped[date | None] = mapped_column(Date)


class RecordingRecord(Base):
    """One recorded track file of a session, as the store holds it."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"), index=True)
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id"))
    track_kind: Mapped[str] = mapped_column(String(16))  # audio / video
    track_source: Mapped[str] = mapped_column(String(16))  # microphone / camera / screen
    storage_key: Mapped[str] = mapped_column(String(500), unique=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    codec: Mapped[str] = mapped_column(String(32))
    state: Mapped[RecordingState] = mapped_column(
        _enum(RecordingState), default=RecordingState.RECORDING
    )
    started_at: Mapped[datetime] = mapped_column()  # wall clock of the first frame
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Added by migration 0004 (see RecordingManifest below).
    run_key: Mapped[str | None] = mapped_column(String(300), index=True)  # key prefix of a run
    track_id: Mapped[str | None] = mapped_column(String(64))
    participant_id: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str | None] = mapped_column(String(32))  # disk_full, io_error, ...
    dropped_frames: Mapped[int | None] = mapped_column(Integer)
    manifest_id: Mapped[int | None] = mapped_column(
        ForeignKey("recording_manifests.id"), index=True
    )


class AuditRecord(Base):
    """Append-only audit log: nothing in the application updates or deletes a row."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    actor_username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")


# Scheduling (issue 5) ----------------------------------------------------------------------


class CalendarDayKind(enum.StrEnum):
    HOLIDAY = "holiday"  # ngày nghỉ lễ, Tết (or a swapped day off)
    WORKING_DAY = "working_day"  # a make-up working day on a weekend (làm bù)


class CalendarDay(Base):
    """An exception to "Monday to Friday are working days": yearly data an administrator
    edits, because the Government announces the holidays and swaps each year."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column("date", Date, primary_key=True)
    kind: Mapped[CalendarDayKind] = mapped_column(_enum(CalendarDayKind))
    name: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReadinessState(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    # "overdue" is not stored: it is a pending check whose deadline the clock has passed.


class Readiness(Base):
    """Whether an endpoint is connected and tested for a session (the day-prior check)."""

    __tablename__ = "readiness"
    __table_args__ = (UniqueConstraint("session_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"), index=True)
    state: Mapped[ReadinessState] = mapped_column(
        _enum(ReadinessState), default=ReadinessState.PENDING
    )
    # Scheduled (or the endpoint added, or the session moved) after the deadline had passed:
    # the check is due at once.
    scheduled_late: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_at: Mapped[datetime | None] = mapped_column()
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    figures: Mapped[dict[str, Any] | None] = mapped_column()
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Notification(Base):
    """An in-app message to one account (reminders, alerts, changes to a session)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32), default="")
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column()


class ReminderKind(enum.StrEnum):
    FOCAL_REMINDER = "focal_reminder"  # to the focal staff, a lead time before the deadline
    OVERDUE_ALERT = "overdue_alert"  # to the reception officer, at the deadline


class SentReminder(Base):
    """A reminder already sent: one row per (kind, session, endpoint, deadline), so a restart
    does not resend and a reschedule (a new deadline) reminds again."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("kind", "session_id", "endpoint_id", "deadline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ReminderKind] = mapped_column(_enum(ReminderKind))
    session_id: Mapped[int] = mapped_column(
        ForeignKey("reception_sessions.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    deadline: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class DutyPeriod(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"


class DutyRule(Base):
    """How often the head of a unit of some level must receive citizens: `times` days per
    `period`, from `effective_from` until the next rule for the same level and role.
    Data, because the law changes (DOMAIN.md, "Leaders' reception duties")."""

    __tablename__ = "duty_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    level_code: Mapped[str] = mapped_column(String(32), index=True)  # unit_levels.code
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.LEADER)
    times: Mapped[int] = mapped_column(Integer)
    period: Mapped[DutyPeriod] = mapped_column(_enum(DutyPeriod))
    effective_from: Mapped[date] = mapped_column(Date)
    basis: Mapped[str] = mapped_column(String(300), default="")  # the legal text it follows


class SessionEvent(Base):
    """A timed event of a live session, as the bridge reported it: joins and leaves, floor
    changes, mutes, removals, recording start/stop, agenda items. Replay uses them to show who
    had the floor and to jump to each case. Append-only."""

    __tablename__ = "session_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    participant_id: Mapped[str] = mapped_column(String(64), default="")
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


# Recording (issue 4) -----------------------------------------------------------------------


class RecordingManifest(Base):
    """A stored manifest of one recording run (start to stop) of a session. Its hash is kept
    here too: whoever can rewrite the manifest in the store can recompute its chain."""

    __tablename__ = "recording_manifests"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"), index=True)
    run_key: Mapped[str] = mapped_column(String(300), index=True)
    storage_key: Mapped[str] = mapped_column(String(500), unique=True)
    manifest_hash: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))  # of the stored bytes
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordingAttachment(Base):
    """A recording attached to a case file: the part of the file in which the case was heard
    (from its agenda item's start to the next agenda move, the recording's stop or the
    session's close). Append-only; `agenda_item_id` is kept without a foreign key so that
    editing an agenda later cannot touch the evidence."""

    __tablename__ = "recording_attachments"
    __table_args__ = (UniqueConstraint("recording_id", "agenda_item_id", "heard_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_files.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"), index=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    agenda_item_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    heard_from: Mapped[datetime] = mapped_column()  # wall clock, within the file
    heard_to: Mapped[datetime] = mapped_column()
    offset_ms: Mapped[int] = mapped_column(BigInteger)  # where heard_from falls in the file
    length_ms: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # the file's
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Composite export (issue 4) ---------------------------------------------------------------


class ExportState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportRecord(Base):
    """One composite export (one MP4) of a session, or of one case's time range in it: the
    job's state, kept here so the API still answers after a restart, and once done the
    stored file with its hash. A job cut by a restart is marked failed with the reason."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_files.id"), index=True)
    state: Mapped[ExportState] = mapped_column(_enum(ExportState), default=ExportState.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    range_from: Mapped[datetime | None] = mapped_column()  # None: the whole session
    range_to: Mapped[datetime | None] = mapped_column()
    storage_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


# Reminders by e-mail (issue 5) -------------------------------------------------------------


class ReminderMail(Base):
    """One e-mail of a sent reminder to one account: written with the reminder (an outbox),
    delivered after the commit, and tried again on later ticks until `delivered_at` is set or
    `attempts` reaches the configured limit. The in-app notification is never sent again."""

    __tablename__ = "reminder_mails"

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(
        ForeignKey("reminders_sent.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)


# A citizen's copy of the recording of their own reception (issue 11) -----------------------


class CopyState(enum.StrEnum):
    REQUESTED = "requested"  # the written request is recorded
    APPROVED = "approved"  # checked: reveals no denouncer, no other citizen's denunciation
    REFUSED = "refused"  # the check found what the copy would reveal
    HANDED_OVER = "handed_over"


class RecordingCopy(Base):
    """A citizen's written request for a copy of the recording of their own reception (one
    case heard in one session), the check before it is handed over, and the hand-over."""

    __tablename__ = "recording_copies"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_files.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("reception_sessions.id"))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    requested_on: Mapped[date] = mapped_column(Date)
    request_ref: Mapped[str] = mapped_column(String(200), default="")  # the letter's number
    state: Mapped[CopyState] = mapped_column(_enum(CopyState), default=CopyState.REQUESTED)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    checked_at: Mapped[datetime | None] = mapped_column()
    check_note: Mapped[str] = mapped_column(Text, default="")
    export_id: Mapped[int | None] = mapped_column(ForeignKey("exports.id"))
    handed_over_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    handed_over_at: Mapped[datetime | None] = mapped_column()
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    medium: Mapped[str] = mapped_column(String(200), default="")
