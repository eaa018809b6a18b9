"""A `Paper` as a Word document (DOCX, which officials exchange), with python-docx: A4, the
margins, Times New Roman (Word substitutes a metric-compatible font where it is missing),
the same heading, body, signatures and "Nơi nhận" as the PDF, page numbers from page 2."""

from __future__ import annotations

import io

from docx import Document
from docx.document import Document as Docx
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell
from docx.text.paragraph import Paragraph

from web.paper import model as m

FONT = "Times New Roman"
CENTER, JUSTIFY, LEFT = (
    WD_ALIGN_PARAGRAPH.CENTER,
    WD_ALIGN_PARAGRAPH.JUSTIFY,
    WD_ALIGN_PARAGRAPH.LEFT,
)


def _text(
    p: Paragraph,
    text: str,
    size: float,
    *,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
) -> None:
    run = p.add_run(text)
    run.font.size = Pt(size)
    run.font.name = FONT
    run.bold, run.italic, run.underline = bold, italic, underline


def _line(
    where: _Cell | Docx, text: str, size: float, align: WD_ALIGN_PARAGRAPH, **style: bool
) -> Paragraph:
    p: Paragraph = where.add_paragraph()
    p.alignment = align
    p.paragraph_format.space_after = Pt(0)
    _text(p, text, size, **style)
    return p


def _setup(doc: Docx) -> None:
    d = doc
    sec = d.sections[0]
    sec.page_width, sec.page_height = Mm(m.PAGE_MM[0]), Mm(m.PAGE_MM[1])
    mg = m.MARGIN_MM
    sec.top_margin, sec.bottom_margin = Mm(mg["top"]), Mm(mg["bottom"])
    sec.left_margin, sec.right_margin = Mm(mg["left"]), Mm(mg["right"])
    normal = d.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(m.BODY_PT)
    fonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    # Decree 30: the page number centred at the top, from the second page on.
    sec.different_first_page_header_footer = True
    p = sec.header.paragraphs[0]
    p.alignment = CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    p._p.append(field)


def _grid(doc: Docx, cols: int) -> list[_Cell]:
    table = doc.add_table(rows=1, cols=cols)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    cells: list[_Cell] = list(table.rows[0].cells)
    for cell in cells:
        cell.paragraphs[0]._p.getparent().remove(cell.paragraphs[0]._p)
    return cells


def _heading(doc: Docx, paper: m.Paper) -> None:
    left, right = _grid(doc, 2)
    left.width, right.width = Mm(68), Mm(97)
    if paper.parent:
        _line(left, paper.parent, m.ISSUER_PT, CENTER)
    _line(left, paper.issuer, m.ISSUER_PT, CENTER, bold=True)
    _line(left, "", 6, CENTER)
    _line(left, paper.number, 13, CENTER)
    _line(right, m.NATION, m.NATION_PT, CENTER, bold=True)
    _line(right, m.MOTTO, m.MOTTO_PT, CENTER, bold=True, underline=True)
    _line(right, "", 6, CENTER)
    _line(right, paper.place_date, 13, CENTER, italic=True)
    p = _line(doc, "", 12, CENTER)
    p = _line(doc, paper.name, m.NAME_PT, CENTER, bold=True)
    p = _line(doc, paper.subject, m.NAME_PT, CENTER, bold=True)
    p.paragraph_format.space_after = Pt(12)


def _para(doc: Docx, block: m.Block) -> None:
    p: Paragraph = doc.add_paragraph()
    p.alignment = JUSTIFY
    p.paragraph_format.space_after = Pt(6)
    if block.indent:
        p.paragraph_format.first_line_indent = Mm(10)
    if block.label:
        _text(p, block.label, m.BODY_PT, bold=True)
    if block.text:
        _text(p, block.text, m.BODY_PT)


def _table(doc: Docx, block: m.Block) -> None:
    table = doc.add_table(rows=1 + len(block.rows), cols=len(block.header))
    table.style = "Table Grid"
    width = m.PAGE_MM[0] - m.MARGIN_MM["left"] - m.MARGIN_MM["right"]
    for r, values in enumerate((block.header, *block.rows)):
        for c, value in enumerate(values):
            cell = table.cell(r, c)
            if block.widths:
                cell.width = Mm(width * block.widths[c])
            cell.paragraphs[0].paragraph_format.space_after = Pt(0)
            _text(cell.paragraphs[0], value, 11, bold=r == 0)
    _line(doc, "", 6, LEFT)


def _signatures(doc: Docx, paper: m.Paper) -> None:
    _line(doc, "", 6, LEFT)
    left, right = _grid(doc, 2)
    slots = [right] if len(paper.signatures) == 1 else [left, right]
    for cell, sig in zip(slots, paper.signatures, strict=False):
        _line(cell, sig.role, m.BODY_PT, CENTER, bold=True)
        _line(cell, sig.hint, 13, CENTER, italic=True)
        for _ in range(4):
            _line(cell, "", m.BODY_PT, CENTER)
        _line(cell, sig.name, m.BODY_PT, CENTER, bold=True)
    target: _Cell | Docx = left if len(paper.signatures) == 1 else doc
    if paper.recipients:
        _line(target, "Nơi nhận:", m.RECIPIENTS_HEAD_PT, LEFT, bold=True, italic=True)
        for line in paper.recipients:
            _line(target, f"- {line}", m.RECIPIENTS_PT, LEFT)


def render_docx(paper: m.Paper) -> bytes:
    doc = Document()
    _setup(doc)
    doc.core_properties.title = paper.title
    doc.core_properties.author = "tiepdan"
    _heading(doc, paper)
    for block in paper.blocks:
        if block.kind == "heading":
            _line(doc, block.text, m.BODY_PT, LEFT, bold=True)
        elif block.kind == "table":
            _table(doc, block)
        else:
            _para(doc, block)
    _signatures(doc, paper)
    if paper.stamp:
        _line(doc, "", 6, LEFT)
        _line(doc, paper.stamp, m.SMALL_PT, LEFT, italic=True)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
