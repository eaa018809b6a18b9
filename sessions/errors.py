"""The domain's few error categories. Only `web/` turns them into HTTP statuses."""

from __future__ import annotations


class DomainError(Exception):
    """Base: `message` is Vietnamese, shown to users; `fields` names the bad inputs."""

    code = "error"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class DuplicateKey(Conflict):
    """The database refused a second row with the same unique or primary key."""


class Invalid(DomainError):
    code = "invalid"


class TooMany(DomainError):
    code = "too_many_requests"
