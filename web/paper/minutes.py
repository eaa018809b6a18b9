"""The words of the minutes (biên bản) and of the conclusion notice (thông báo kết luận
việc tiếp công dân), as a `Paper`: from a version's frozen facts and typed parts, and a
`Reading` that says which citizens this reader may see by name."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sessions.access import WITHHELD
from sessions.minutes.reading import ItemReading, Reading
from sessions.models import CaseKind, Citizen, Minutes, MinutesState, SessionKind
from web.paper.model import Block, Paper, Signature, clock, doc_day, doc_time, short_day


def _words() -> tuple[dict[CaseKind, str], dict[SessionKind, str], Any, dict[str, str]]:
    # Imported here: `web.pages` imports the pages that import this module (a cycle at
    # import time otherwise).
    from web.pages.labels import CASE_KINDS, SESSION_KINDS
    from web.pages.recorded import duration_text
    from web.recordings import SOURCE_LABELS

    return CASE_KINDS, SESSION_KINDS, duration_text, SOURCE_LABELS


SECRET_TEXT = "Nội dung được bảo mật (hồ sơ tố cáo): chỉ người được cấp quyền xem."
BLANK = "(chưa ghi)"


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _people(reading: ItemReading | None, *, papers: bool) -> list[str]:
    """Each citizen heard, by name with their papers, or the withheld text once."""
    if reading is None or reading.secret:
        return [WITHHELD]
    out = []
    for c in reading.people:
        if c is None:
            out.append(WITHHELD)
        else:
            out.append(_citizen(c, papers))
    return list(dict.fromkeys(out))


def _citizen(c: Citizen, papers: bool) -> str:
    text = c.full_name
    if papers and c.id_number:
        text += f", CCCD/CMND số {c.id_number}"
    if papers and c.address:
        text += f", địa chỉ: {c.address}"
    return text


def _heard(item: dict[str, Any], tz: tzinfo) -> str:
    spans = []
    for h in item.get("heard", []):
        start, end = _at(h.get("start")), _at(h.get("end"))
        if start is not None:
            spans.append(
                f"từ {clock(start, tz)}" + (f" đến {clock(end, tz)}" if end is not None else "")
            )
    return "; ".join(spans) or "chưa ghi nhận thời điểm bắt đầu, kết thúc"


def _text(m: Minutes, part: str, reading: ItemReading | None) -> str:
    if reading is not None and reading.secret:
        return SECRET_TEXT
    return str(getattr(m, part)) or BLANK


def _directions(m: Minutes, reading: ItemReading | None) -> Block:
    if reading is not None and reading.secret:
        return Block("para", SECRET_TEXT)
    rows = tuple(
        (
            str(d.position),
            d.unit_name,
            d.text,
            short_day(d.due_on) if d.due_on else "—",
        )
        for d in m.directions
    )
    if not rows:
        return Block("para", "Không có ý kiến chỉ đạo giao đơn vị.")
    return Block(
        "table",
        header=("TT", "Đơn vị thực hiện", "Nội dung chỉ đạo", "Thời hạn"),
        rows=rows,
        widths=(0.07, 0.28, 0.47, 0.18),
    )


def _recordings(facts: dict[str, Any], tz: tzinfo) -> Block:
    _, _, duration_text, SOURCE_LABELS = _words()
    rows = []
    for i, r in enumerate(facts.get("recordings", []), 1):
        started = _at(r.get("started_at"))
        rows.append(
            (
                str(i),
                f"{r.get('endpoint') or 'Không rõ điểm cầu'} – "
                f"{SOURCE_LABELS.get(r.get('source', ''), r.get('source', ''))}",
                f"{clock(started, tz)}, {duration_text(r.get('duration_ms'))}" if started else "—",
                str(r.get("sha256") or "—"),
            )
        )
    if not rows:
        return Block("para", "Không có bản ghi hình đã lưu.")
    return Block(
        "table",
        header=("TT", "Điểm cầu, nguồn", "Bắt đầu, thời lượng", "Mã SHA-256 của tệp"),
        rows=tuple(rows),
        widths=(0.07, 0.30, 0.23, 0.40),
    )


def _stamp(m: Minutes, tz: tzinfo, superseded_by: int | None) -> str:
    if m.state is MinutesState.DRAFT:
        return (
            f"BẢN NHÁP – phiên bản {m.version}, lần lưu thứ {m.revision}: chưa hoàn tất, "
            "chưa có giá trị."
        )
    assert m.locked_at is not None
    local = m.locked_at.astimezone(tz)
    text = (
        f"Phiên bản {m.version}, hoàn tất lúc {local:%H:%M} ngày {local:%d/%m/%Y}. "
        f"SHA-256 của phiên bản: {m.sha256}."
    )
    if m.supersedes_id is not None:
        text += f" Thay thế biên bản số {m.supersedes_id:02d}/BB-TCD."
    if superseded_by is not None:
        text += f" Đã được thay thế bởi phiên bản {superseded_by}."
    return text


def _heading(m: Minutes, tz: tzinfo, symbol: str) -> dict[str, str]:
    facts = m.facts
    issuer = facts.get("issuer", {})
    when = m.locked_at or _at(facts.get("session", {}).get("starts_at"))
    day = doc_day(when.astimezone(tz).date()) if when else "ngày … tháng … năm …"
    # Decree 30/2020: numbers below 10 are written with a leading zero ("Số: 01/...").
    number = f"{m.id:02d}" if m.state is MinutesState.LOCKED else "…"
    return {
        "parent": str(issuer.get("parent", "")).upper(),
        "issuer": str(issuer.get("name", "")).upper(),
        "number": f"Số: {number}/{symbol}",
        "place_date": f"{issuer.get('place', '')}, {day}",
    }


def _item_lines(item: dict[str, Any], reading: Reading, tz: tzinfo) -> list[Block]:
    r = reading.items.get(int(item["id"]))
    CASE_KINDS = _words()[0]
    kind = CASE_KINDS.get(CaseKind(item["case_kind"]), item["case_kind"])
    people = "; ".join(_people(r, papers=True)) or "không có công dân trong danh sách"
    return [
        Block(
            "para",
            f"{item['case_title']} ({kind}). Công dân được tiếp: {people}. "
            f"Tại {item.get('endpoint', '')}; thời gian tiếp {_heard(item, tz)}.",
            label=f"Vụ việc {item['position']} – hồ sơ {item['case_code']}: ",
        )
    ]


def _chair_text(chair: dict[str, Any]) -> str:
    return str(chair.get("name", "")) + (f", {chair['title']}" if chair.get("title") else "")


def _opening(facts: dict[str, Any], tz: tzinfo) -> Block:
    session = facts.get("session", {})
    opened = _at(session.get("opened_at")) or _at(session.get("starts_at"))
    central = next((e for e in facts.get("endpoints", []) if e.get("central")), None)
    others = [e for e in facts.get("endpoints", []) if not e.get("central")]
    kind = _words()[1][SessionKind(session.get("kind", SessionKind.PERIODIC.value))]
    where = central["name"] if central else "điểm cầu trung tâm"
    if central and central.get("location"):
        where += f" ({central['location']})"
    return Block(
        "para",
        f"Hôm nay, vào hồi {doc_time(opened, tz) if opened else '… giờ … phút'}, tại {where}"
        f" kết nối trực tuyến với {len(others)} điểm cầu, đã diễn ra buổi tiếp công dân "
        f"trực tuyến {kind.lower()} “{session.get('title', '')}” do "
        f"{_chair_text(facts.get('chair', {}))} chủ trì.",
    )


def _composition(facts: dict[str, Any], reading: Reading, tz: tzinfo) -> list[Block]:
    """I. Who: the chair, the attendees, the endpoints, the citizens and their cases."""
    blocks = [
        Block("heading", "I. THÀNH PHẦN"),
        Block("para", _chair_text(facts.get("chair", {})) + ".", label="1. Người chủ trì: "),
        Block("para", "", label="2. Thành phần tham dự:"),
    ]
    for a in facts.get("attendees", []):
        bits = [a.get(k, "") for k in ("name", "title", "organization", "capacity")]
        blocks.append(Block("para", "- " + ", ".join(b for b in bits if b) + "."))
    if not facts.get("attendees"):
        blocks.append(Block("para", "- Không có người tham dự khác."))
    blocks.append(Block("para", "", label="3. Các điểm cầu:"))
    for e in facts.get("endpoints", []):
        where = f" ({e['location']})" if e.get("location") else ""
        central = " – điểm cầu trung tâm" if e.get("central") else ""
        blocks.append(Block("para", f"- {e['name']}{where}{central}."))
    blocks.append(Block("para", "", label="4. Công dân được tiếp và vụ việc:"))
    for item in facts.get("items", []):
        blocks += _item_lines(item, reading, tz)
    if not facts.get("items"):
        blocks.append(Block("para", "- Không có vụ việc trong chương trình."))
    return blocks


def _content(m: Minutes, r: ItemReading | None) -> list[Block]:
    """II. What was said and decided: the parts the officer typed."""
    blocks = [
        Block("heading", "II. NỘI DUNG"),
        Block("para", _text(m, "presented", r), label="1. Nội dung công dân trình bày: "),
        Block(
            "para",
            _text(m, "documents_received", r),
            label="2. Thông tin, tài liệu, bằng chứng công dân cung cấp: ",
        ),
        Block("para", _text(m, "conclusions", r), label="3. Ý kiến kết luận của người chủ trì: "),
        Block("para", "", label="4. Chỉ đạo giải quyết (đơn vị thực hiện, thời hạn):"),
        _directions(m, r),
    ]
    if m.body:
        blocks.append(Block("para", _text(m, "body", r), label="5. Nội dung khác: "))
    return blocks


def _closing(facts: dict[str, Any], tz: tzinfo) -> list[Block]:
    """III. The recordings and their hashes, and when the reception ended."""
    closed = _at(facts.get("session", {}).get("closed_at"))
    return [
        Block("heading", "III. BẢN GHI HÌNH"),
        Block(
            "para",
            "Buổi tiếp được ghi hình; các tệp dưới đây được lưu trong kho, mỗi tệp kèm mã "
            "SHA-256 để kiểm tra toàn vẹn.",
        ),
        _recordings(facts, tz),
        Block(
            "para",
            "Buổi tiếp công dân kết thúc vào hồi "
            f"{doc_time(closed, tz) if closed else '… giờ … phút'}. Biên bản được lưu trong "
            "hồ sơ vụ việc và trong hệ thống tiếp công dân trực tuyến.",
        ),
    ]


def minutes_paper(
    m: Minutes, reading: Reading, tz: tzinfo, author: str, superseded_by: int | None = None
) -> Paper:
    """The minutes of a session (every case heard) or of one agenda item (one case)."""
    facts = m.facts
    items = facts.get("items", [])
    one = items[0] if m.agenda_item_id is not None and items else None
    r = reading.items.get(int(one["id"])) if one else None
    blocks = [
        _opening(facts, tz),
        *_composition(facts, reading, tz),
        *_content(m, r),
        *_closing(facts, tz),
    ]
    subject = "Tiếp công dân trực tuyến"
    if one is not None:
        subject += f" – vụ việc {one['case_code']}"
    return Paper(
        **_heading(m, tz, "BB-TCD"),
        name="BIÊN BẢN",
        subject=subject,
        blocks=tuple(blocks),
        signatures=(
            Signature("NGƯỜI GHI BIÊN BẢN", author),
            Signature("NGƯỜI CHỦ TRÌ", str(facts.get("chair", {}).get("name", ""))),
        ),
        recipients=("Người chủ trì;", "Các đơn vị được giao;", "Lưu: VT, hồ sơ vụ việc."),
        stamp=_stamp(m, tz, superseded_by),
        title=f"Biên bản tiếp công dân – {facts.get('session', {}).get('title', '')}",
        file_stem=f"bien-ban-{m.id}-v{m.version}",
    )


def notice_paper(m: Minutes, reading: Reading, tz: tzinfo) -> Paper:
    """The head's conclusion notice of the one case of an item's final minutes."""
    facts = m.facts
    item = facts["items"][0]
    r = reading.items.get(int(item["id"]))
    chair = facts.get("chair", {})
    session = facts.get("session", {})
    heard_on = _at(session.get("opened_at")) or _at(session.get("starts_at"))
    day = doc_day(heard_on.astimezone(tz).date()) if heard_on else "ngày … tháng … năm …"
    chair_text = (f"{chair['title']} " if chair.get("title") else "") + str(chair.get("name", ""))
    people = "; ".join(_people(r, papers=True))
    issuer = str(facts.get("issuer", {}).get("name", ""))
    blocks = [
        Block(
            "para",
            f"{day[0].upper()}{day[1:]}, {chair_text} đã chủ trì tiếp công dân trực tuyến tại "
            f"{item.get('endpoint', '')} đối với công dân: {people}, về vụ việc "
            f"{item['case_code']}: {item['case_title']}.",
        ),
        Block(
            "para",
            "Sau khi nghe công dân trình bày, xem xét thông tin, tài liệu công dân cung cấp và "
            f"ý kiến của các cơ quan, đơn vị có liên quan, {chair_text} kết luận như sau:",
        ),
        Block("para", _text(m, "conclusions", r)),
        Block("para", "", label="Giao các cơ quan, đơn vị thực hiện:"),
        _directions(m, r),
        Block(
            "para",
            f"{issuer} thông báo để công dân và các cơ quan, đơn vị có liên quan biết, "
            "thực hiện./.",
        ),
    ]
    units = [d.unit_name for d in m.directions] if r is None or not r.secret else []
    recipients = tuple(
        [f"Công dân: {p};" for p in _people(r, papers=False)]
        + [f"{u} (thực hiện);" for u in dict.fromkeys(units)]
        + [f"Lưu: VT, hồ sơ vụ việc {item['case_code']}."]
    )
    return Paper(
        **_heading(m, tz, "TB-TCD"),
        name="THÔNG BÁO",
        subject="Kết luận việc tiếp công dân",
        blocks=tuple(blocks),
        signatures=(Signature("NGƯỜI CHỦ TRÌ", str(chair.get("name", ""))),),
        recipients=recipients,
        stamp=f"Lập từ biên bản số {m.id:02d}/BB-TCD, phiên bản {m.version}, SHA-256 {m.sha256}.",
        title=f"Thông báo kết luận việc tiếp công dân – {item['case_code']}",
        file_stem=f"thong-bao-ket-luan-{m.id}",
    )
