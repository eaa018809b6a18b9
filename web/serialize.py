"""Domain objects into JSON-ready dicts. Times are given in the configured zone with offset."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sessions.access import WITHHELD
from sessions.cases import CaseView, CitizenView, PartyView
from sessions.models import (
    Account,
    AuditRecord,
    CaseFile,
    Endpoint,
    ReceptionSession,
    Unit,
)
from sessions.paging import Page
from sessions.receptions import HeardView


def iso(value: datetime | None, tz: tzinfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


def page(p: Page[Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": p.total, "page": p.page, "per_page": p.per_page}


def unit(u: Unit, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": u.id,
        "parent_id": u.parent_id,
        "level_code": u.level_code,
        "code": u.code,
        "name": u.name,
        "active": u.active,
        "path": u.path,
        "created_at": iso(u.created_at, tz),
        "updated_at": iso(u.updated_at, tz),
    }


def endpoint(e: Endpoint, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": e.id,
        "unit_id": e.unit_id,
        "name": e.name,
        "location": e.location,
        "contact_phone": e.contact_phone,
        "is_central": e.is_central,
        "active": e.active,
        "created_at": iso(e.created_at, tz),
        "updated_at": iso(e.updated_at, tz),
    }


def account(a: Account, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": a.id,
        "username": a.username,
        "full_name": a.full_name,
        "title": a.title,
        "email": a.email,
        "phone": a.phone,
        "unit_id": a.unit_id,
        "endpoint_id": a.endpoint_id,
        "roles": sorted(r.value for r in a.role_set),
        "active": a.active,
        "created_at": iso(a.created_at, tz),
        "updated_at": iso(a.updated_at, tz),
    }


def citizen(v: CitizenView, tz: tzinfo) -> dict[str, Any]:
    c = v.citizen
    if v.withheld:  # listed only to accounts that may reveal it (POST .../reveal)
        return {
            "id": c.id,
            "identity_withheld": True,
            "identity_revealable": True,
            "full_name": WITHHELD,
            "id_number": None,
            "address": None,
            "phone": None,
            "unit_id": c.unit_id,
        }
    return {
        "id": c.id,
        "identity_withheld": False,
        "full_name": c.full_name,
        "id_number": c.id_number,
        "address": c.address,
        "phone": c.phone,
        "unit_id": c.unit_id,
        "created_at": iso(c.created_at, tz),
        "updated_at": iso(c.updated_at, tz),
    }


def case_summary(c: CaseFile, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": c.id,
        "code": c.code,
        "kind": c.kind.value,
        "subject_area": c.subject_area.value,
        "title": c.title,
        "status": c.status.value,
        "handling_unit_id": c.handling_unit_id,
        "national_code": c.national_code,
        "group_size": c.group_size,
        "created_at": iso(c.created_at, tz),
        "updated_at": iso(c.updated_at, tz),
    }


def _party(p: PartyView) -> dict[str, Any]:
    if p.citizen is None:
        out: dict[str, Any] = {"withheld": True, "full_name": WITHHELD, "role": p.role.value}
        if p.revealable:  # cleared: the id is theirs to know, the identity shown on asking
            out |= {"revealable": True, "citizen_id": p.citizen_id}
        return out
    return {
        "withheld": False,
        "citizen_id": p.citizen_id,
        "role": p.role.value,
        "full_name": p.citizen.full_name,
        "id_number": p.citizen.id_number,
        "address": p.citizen.address,
    }


def case(v: CaseView, tz: tzinfo) -> dict[str, Any]:
    out = case_summary(v.case, tz)
    out["summary"] = v.case.summary
    out["identity_protected"] = v.protected
    out["identity_withheld"] = v.identity_withheld
    out["identity_revealable"] = v.revealable
    out["parties"] = [_party(p) for p in v.parties]
    return out


def session_summary(s: ReceptionSession, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "title": s.title,
        "kind": s.kind.value,
        "state": s.state.value,
        "unit_id": s.unit_id,
        "chair_id": s.chair_id,
        "central_endpoint_id": s.central_endpoint_id,
        "starts_at": iso(s.starts_at, tz),
        "ends_at": iso(s.ends_at, tz),
        "created_at": iso(s.created_at, tz),
        "updated_at": iso(s.updated_at, tz),
    }


def session(s: ReceptionSession, tz: tzinfo, heard: dict[int, HeardView]) -> dict[str, Any]:
    """`heard`: who is heard in each agenda item, as the caller may see them
    (`sessions.receptions.agenda_views`); a withheld citizen's id is never given."""
    out = session_summary(s, tz)
    out["notes"] = s.notes
    out["endpoint_ids"] = [e.endpoint_id for e in s.endpoints]
    out["attendees"] = [
        {
            "id": a.id,
            "account_id": a.account_id,
            "guest_name": a.guest_name,
            "guest_organization": a.guest_organization,
            "capacity": a.capacity,
        }
        for a in s.attendees
    ]
    out["agenda"] = [
        {
            "id": i.id,
            "position": i.position,
            "case_id": i.case_id,
            "endpoint_id": i.endpoint_id,
            "notes": i.notes,
            "identity_withheld": heard[i.id].withheld,
            "citizen_ids": [c.id for c in heard[i.id].citizens],
        }
        for i in s.agenda
    ]
    return out


def audit(r: AuditRecord, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": iso(r.at, tz),
        "actor_id": r.actor_id,
        "actor_username": r.actor_username,
        "action": r.action,
        "object_type": r.object_type,
        "object_id": r.object_id,
        "unit_id": r.unit_id,
        "detail": r.detail,
        "ip": r.ip,
        "request_id": r.request_id,
    }
