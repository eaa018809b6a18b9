"""Who may do what, and over which units.

Every account has roles and a unit; it sees that unit and its sub-units and nothing else.
Focal staff are further bound to their endpoint. The protected identity of a denouncer is
shown only to accounts cleared for that very case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sessions.errors import Forbidden
from sessions.models import Role


class Perm(enum.StrEnum):
    UNITS_READ = "units.read"
    UNITS_WRITE = "units.write"
    ENDPOINTS_READ = "endpoints.read"
    ENDPOINTS_WRITE = "endpoints.write"
    ACCOUNTS_READ = "accounts.read"
    ACCOUNTS_WRITE = "accounts.write"
    CITIZENS_READ = "citizens.read"
    CITIZENS_WRITE = "citizens.write"
    CASES_READ = "cases.read"
    CASES_WRITE = "cases.write"
    SESSIONS_READ = "sessions.read"
    SESSIONS_WRITE = "sessions.write"
    SESSIONS_RUN = "sessions.run"  # open and close a session, chair it in the room
    AUDIT_READ = "audit.read"
    ARCHIVE_WRITE = "archive.write"  # check a session's recordings' integrity, archive it


_EVERYONE = frozenset({Perm.UNITS_READ, Perm.ENDPOINTS_READ, Perm.SESSIONS_READ})

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: _EVERYONE
    | {
        Perm.UNITS_WRITE,
        Perm.ENDPOINTS_WRITE,
        Perm.ACCOUNTS_READ,
        Perm.ACCOUNTS_WRITE,
        Perm.SESSIONS_WRITE,
        Perm.AUDIT_READ,
    },
    Role.LEADER: _EVERYONE
    | {
        Perm.CITIZENS_READ,
        Perm.CASES_READ,
        Perm.CASES_WRITE,
        Perm.ACCOUNTS_READ,
        Perm.SESSIONS_RUN,
    },
    Role.RECEPTION_OFFICER: _EVERYONE
    | {
        Perm.CITIZENS_READ,
        Perm.CITIZENS_WRITE,
        Perm.CASES_READ,
        Perm.CASES_WRITE,
        Perm.SESSIONS_WRITE,
        Perm.SESSIONS_RUN,
        Perm.ACCOUNTS_READ,
    },
    Role.FOCAL_STAFF: _EVERYONE,
    Role.ARCHIVIST: _EVERYONE | {Perm.CITIZENS_READ, Perm.CASES_READ, Perm.ARCHIVE_WRITE},
    Role.AUDITOR: _EVERYONE | {Perm.ACCOUNTS_READ, Perm.AUDIT_READ},
}

# Which identities are protected, and who may see them, is decided in `sessions.identity`.

# Who may be cleared for a protected identity: those who hear and handle the case.
CLEARABLE_ROLES = frozenset({Role.LEADER, Role.RECEPTION_OFFICER})

WITHHELD = "Đã ẩn (thông tin người tố cáo được bảo mật)"


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in account, as every check needs it."""

    account_id: int
    username: str
    full_name: str
    roles: frozenset[Role]
    unit_id: int
    unit_path: str
    endpoint_id: int | None

    def can(self, perm: Perm) -> bool:
        return any(perm in ROLE_PERMISSIONS[r] for r in self.roles)

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise Forbidden("Tài khoản của bạn không có quyền thực hiện thao tác này.")

    def sees_unit(self, unit_path: str) -> bool:
        """True when a unit with this materialized path is the account's unit or below it."""
        return unit_path.startswith(self.unit_path)

    @property
    def only_own_endpoint(self) -> bool:
        """Focal staff with no wider role see only what concerns their endpoint."""
        return self.roles == frozenset({Role.FOCAL_STAFF})

    @property
    def clearable(self) -> bool:
        return bool(self.roles & CLEARABLE_ROLES)
