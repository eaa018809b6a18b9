"""A `Paper` as PDF, with fpdf2 (pure Python: no system library), the font embedded.

Layout per Decree 30/2020/NĐ-CP (see `web.paper.model` for the numbers): A4, the margins,
the heading in two columns (issuing body left; Quốc hiệu, Tiêu ngữ and place and date right),
the name centred, a justified body with a first-line indent, the signature block, "Nơi
nhận", and page numbers centred at the top from the second page. Typed text is written as
text: nothing in it is read as markup."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from web.paper import model as m
from web.paper.fonts import FontSet

LINE = 1.3  # line height, times the font size
INDENT_MM = 10.0
PT_MM = 25.4 / 72


class _Doc(FPDF):
    def __init__(self, fonts: FontSet) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        for style, path in fonts.files.items():
            self.add_font(fonts.family, style=style, fname=str(path))
        self.family = fonts.family
        mg = m.MARGIN_MM
        self.set_margins(left=mg["left"], top=mg["top"], right=mg["right"])
        self.set_auto_page_break(True, margin=mg["bottom"])
        self.set_lang("vi")

    def header(self) -> None:
        if self.page_no() > 1:  # Decree 30: the page number, centred in the top margin
            self.set_font(self.family, "", 13)
            self.set_xy(self.l_margin, 10)
            self.cell(self.epw, 5, str(self.page_no()), align=Align.C)
            self.set_xy(self.l_margin, self.t_margin)

    def font(self, style: str, size: float) -> None:
        self.set_font(self.family, style, size)

    def lines(self, x: float, w: float, text: str, style: str, size: float, align: str) -> None:
        self.set_x(x)
        self.font(style, size)
        self.multi_cell(w, size * PT_MM * 1.2, text, align=align, new_x=XPos.LEFT, new_y=YPos.NEXT)


def _heading(pdf: _Doc, paper: m.Paper) -> None:
    left_w, right_x = 70.0, pdf.l_margin + 68.0
    right_w = pdf.w - pdf.r_margin - right_x
    top = pdf.get_y()
    if paper.parent:
        pdf.lines(pdf.l_margin, left_w, paper.parent, "", m.ISSUER_PT, "C")
    pdf.lines(pdf.l_margin, left_w, paper.issuer, "B", m.ISSUER_PT, "C")
    y = pdf.get_y() + 0.8
    pdf.line(pdf.l_margin + left_w * 0.3, y, pdf.l_margin + left_w * 0.7, y)
    pdf.set_y(y + 2.5)
    pdf.lines(pdf.l_margin, left_w, paper.number, "", 13, "C")
    left_end = pdf.get_y()
    pdf.set_y(top)
    pdf.lines(right_x, right_w, m.NATION, "B", m.NATION_PT, "C")
    pdf.font("B", m.MOTTO_PT)
    motto_w = pdf.get_string_width(m.MOTTO)
    pdf.lines(right_x, right_w, m.MOTTO, "B", m.MOTTO_PT, "C")
    y = pdf.get_y() + 0.3  # the line under the Tiêu ngữ, as long as it
    pdf.line(right_x + (right_w - motto_w) / 2, y, right_x + (right_w + motto_w) / 2, y)
    pdf.set_y(y + 3)
    pdf.lines(right_x, right_w, paper.place_date, "I", 13, "C")
    pdf.set_y(max(left_end, pdf.get_y()) + 6)
    pdf.lines(pdf.l_margin, pdf.epw, paper.name, "B", m.NAME_PT, "C")
    pdf.lines(pdf.l_margin, pdf.epw, paper.subject, "B", m.NAME_PT, "C")
    y = pdf.get_y() + 0.8
    pdf.line(
        pdf.w / 2 - 15 + (pdf.l_margin - pdf.r_margin) / 2,
        y,
        pdf.w / 2 + 15 + (pdf.l_margin - pdf.r_margin) / 2,
        y,
    )
    pdf.set_y(y + 5)


def _para(pdf: _Doc, block: m.Block) -> None:
    with pdf.text_columns(text_align="J", line_height=LINE) as cols:
        indent = INDENT_MM if block.indent else 0
        with cols.paragraph(text_align=Align.J, first_line_indent=indent, bottom_margin=1.5) as par:
            if block.label:
                pdf.font("B", m.BODY_PT)
                par.write(block.label)
            pdf.font("", m.BODY_PT)
            if block.text:
                par.write(block.text)


def _table(pdf: _Doc, block: m.Block) -> None:
    pdf.font("", 11)
    head = FontFace(emphasis="BOLD")
    widths = tuple(round(w * 1000) for w in block.widths) or None
    with pdf.table(
        col_widths=widths,
        headings_style=head,
        line_height=11 * PT_MM * 1.25,
        text_align="LEFT",
        v_align="TOP",
        align="LEFT",  # at the left margin: CENTER centres on the page, not between margins
        borders_layout=TableBordersLayout.ALL,
        padding=1,
    ) as table:
        row = table.row()
        for cell in block.header:
            row.cell(cell)
        for values in block.rows:
            row = table.row()
            for cell in values:
                row.cell(cell)
    pdf.ln(2)


def _signatures(pdf: _Doc, paper: m.Paper) -> None:
    if pdf.will_page_break(55):
        pdf.add_page()
    pdf.ln(4)
    top = pdf.get_y()
    half = pdf.epw / 2
    sigs = list(paper.signatures)
    slots = [(pdf.l_margin + half * i, half) for i in range(2)]
    if len(sigs) == 1:
        sigs_at = [slots[1]]
        _recipients(pdf, paper, pdf.l_margin, half)
    else:
        sigs_at = slots
    ends = [pdf.get_y()]
    for (x, w), sig in zip(sigs_at, sigs, strict=False):
        pdf.set_y(top)
        pdf.lines(x, w, sig.role, "B", m.BODY_PT, "C")
        pdf.lines(x, w, sig.hint, "I", 13, "C")
        pdf.ln(22)
        pdf.lines(x, w, sig.name or " ", "B", m.BODY_PT, "C")
        ends.append(pdf.get_y())
    pdf.set_y(max(ends) + 4)
    if len(sigs) != 1:
        _recipients(pdf, paper, pdf.l_margin, pdf.epw)


def _recipients(pdf: _Doc, paper: m.Paper, x: float, w: float) -> None:
    if not paper.recipients:
        return
    pdf.lines(x, w, "Nơi nhận:", "BI", m.RECIPIENTS_HEAD_PT, "L")
    for line in paper.recipients:
        pdf.lines(x, w, f"- {line}", "", m.RECIPIENTS_PT, "L")


def render_pdf(paper: m.Paper, fonts: FontSet) -> bytes:
    pdf = _Doc(fonts)
    pdf.set_title(paper.title)
    pdf.set_creator("tiepdan")
    pdf.add_page()
    _heading(pdf, paper)
    for block in paper.blocks:
        if block.kind == "heading":
            pdf.ln(1)
            pdf.lines(pdf.l_margin, pdf.epw, block.text, "B", m.BODY_PT, "L")
        elif block.kind == "table":
            _table(pdf, block)
        else:
            _para(pdf, block)
    _signatures(pdf, paper)
    if paper.stamp:
        pdf.ln(4)
        pdf.lines(pdf.l_margin, pdf.epw, paper.stamp, "I", m.SMALL_PT, "L")
    return bytes(pdf.output())
