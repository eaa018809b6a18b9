"""An administrative document as Decree 30/2020/NĐ-CP lays it out, independent of the file
format: the heading (issuing body, number, Quốc hiệu and Tiêu ngữ, place and date), the
document's name, a body of blocks, the signature block and "Nơi nhận". The page, the PDF and
the DOCX writers all lay out the same `Paper`, so the three say the same words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Literal

NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"

# Decree 30/2020, annex I: A4; margins top and bottom 20–25 mm, left 30–35 mm, right
# 15–20 mm. One set of numbers for every writer (and the tests that measure the PDF).
PAGE_MM = (210.0, 297.0)
MARGIN_MM = {"top": 20.0, "bottom": 20.0, "left": 30.0, "right": 15.0}
BODY_PT = 14.0  # body text 13–14 pt
NATION_PT = 12.5  # Quốc hiệu 12–13 pt, capitals, bold
MOTTO_PT = 13.5  # Tiêu ngữ 13–14 pt, bold, underlined
ISSUER_PT = 12.5
NAME_PT = 14.0
RECIPIENTS_HEAD_PT = 12.0  # "Nơi nhận:" 12 pt bold italic
RECIPIENTS_PT = 11.0
SMALL_PT = 10.0


@dataclass(frozen=True, slots=True)
class Block:
    """One piece of the body. `heading`: a bold line; `para`: justified text, `label` in
    bold before it; `table`: `rows` under `header`, column shares in `widths`."""

    kind: Literal["heading", "para", "table"]
    text: str = ""
    label: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    widths: tuple[float, ...] = ()
    indent: bool = True


@dataclass(frozen=True, slots=True)
class Signature:
    role: str  # "NGƯỜI CHỦ TRÌ"
    name: str
    hint: str = "(Ký, ghi rõ họ tên)"


@dataclass(frozen=True, slots=True)
class Paper:
    parent: str  # the issuing body's superior, capitals ("TỈNH AN BÌNH")
    issuer: str  # the issuing body, capitals, bold
    number: str  # "Số: 12/BB-TCD"
    place_date: str  # "An Bình, ngày 25 tháng 11 năm 2026" (italic)
    name: str  # "BIÊN BẢN"
    subject: str  # "Tiếp công dân trực tuyến"
    blocks: tuple[Block, ...]
    signatures: tuple[Signature, ...]  # left to right; the last is the signer's
    recipients: tuple[str, ...] = ()
    stamp: str = ""  # version, state and hash, in small print at the end
    title: str = ""  # the file's title (PDF metadata, DOCX core properties)
    file_stem: str = "van-ban"


def doc_day(d: date) -> str:
    """ "ngày 05 tháng 02 năm 2026", "ngày 25 tháng 11 năm 2026": Decree 30/2020 writes a
    leading zero for days below 10 and months below 3, and only for them."""
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    return f"ngày {d.day:02d} tháng {month} năm {d.year}"


def doc_time(at: datetime, tz: tzinfo) -> str:
    """ "08 giờ 30 phút ngày 25 tháng 11 năm 2026", local time."""
    local = at.astimezone(tz)
    return f"{local:%H} giờ {local:%M} phút {doc_day(local.date())}"


def clock(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%H} giờ {local:%M} phút"


def short_day(d: date) -> str:
    return f"{d:%d/%m/%Y}"
