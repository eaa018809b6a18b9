"""The font of administrative documents: Times New Roman or a metric-compatible font with
full Vietnamese coverage (Decree 30/2020/NĐ-CP). The PDF embeds it, so it must be a file on
this machine: a folder named by TIEPDAN_DOCUMENT_FONT_DIR, else Debian's Tinos
(fonts-croscore) or Liberation Serif (fonts-liberation). The DOCX only names the font."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from web.errors import Unavailable

STYLES = ("", "B", "I", "BI")
# (folder, file of each style) in the order they are tried.
KNOWN: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "/usr/share/fonts/truetype/croscore",
        {
            "": "Tinos-Regular.ttf",
            "B": "Tinos-Bold.ttf",
            "I": "Tinos-Italic.ttf",
            "BI": "Tinos-BoldItalic.ttf",
        },
    ),
    (
        "/usr/share/fonts/truetype/liberation",
        {
            "": "LiberationSerif-Regular.ttf",
            "B": "LiberationSerif-Bold.ttf",
            "I": "LiberationSerif-Italic.ttf",
            "BI": "LiberationSerif-BoldItalic.ttf",
        },
    ),
    (
        "/usr/share/fonts/truetype/liberation2",
        {
            "": "LiberationSerif-Regular.ttf",
            "B": "LiberationSerif-Bold.ttf",
            "I": "LiberationSerif-Italic.ttf",
            "BI": "LiberationSerif-BoldItalic.ttf",
        },
    ),
)
INSTALL = "sudo apt-get install fonts-croscore"


class FontMissing(Unavailable):
    """No font for the PDF on this machine: the page says which package to install."""

    code = "font_missing"


@dataclass(frozen=True, slots=True)
class FontSet:
    family: str
    files: dict[str, Path]  # style ("", "B", "I", "BI") → TTF file


def _from(folder: Path, names: dict[str, str]) -> dict[str, Path] | None:
    files = {style: folder / names[style] for style in STYLES}
    return files if all(f.is_file() for f in files.values()) else None


def _own(folder: Path) -> dict[str, Path] | None:
    """A folder of the deployer's own: any of the known file names, else four TTFs whose
    names say their style (…Regular, …Bold, …Italic, …BoldItalic)."""
    for _, names in KNOWN:
        found = _from(folder, names)
        if found:
            return found
    ttfs = sorted(folder.glob("*.ttf"))

    def pick(suffix: str) -> Path | None:
        return next((f for f in ttfs if f.stem.lower().endswith(suffix)), None)

    picks = {
        "": pick("regular"),
        "B": pick("-bold"),
        "I": pick("-italic"),
        "BI": pick("bolditalic"),
    }
    if all(picks.values()):
        return {k: v for k, v in picks.items() if v is not None}
    return None


def find_fonts(own_dir: Path | None) -> FontSet:
    """The four styles of the document font, or FontMissing saying how to install one."""
    if own_dir is not None:
        found = _own(own_dir)
        if found:
            return FontSet("Doc", found)
        raise FontMissing(
            f"Không tìm thấy phông chữ trong thư mục TIEPDAN_DOCUMENT_FONT_DIR={own_dir}: cần "
            "bốn tệp TTF (thường, đậm, nghiêng, đậm nghiêng) của phông Times New Roman hoặc "
            "phông tương đương có đủ tiếng Việt (Tinos, Liberation Serif).",
            {"font": str(own_dir)},
        )
    for folder, names in KNOWN:
        found = _from(Path(folder), names)
        if found:
            return FontSet("Doc", found)
    raise FontMissing(
        "Máy chủ chưa có phông chữ để xuất PDF (Times New Roman hoặc phông tương đương có đủ "
        f"tiếng Việt). Quản trị hệ thống cài phông Tinos bằng lệnh: {INSTALL} (hoặc "
        "fonts-liberation), hoặc đặt TIEPDAN_DOCUMENT_FONT_DIR là thư mục chứa phông. Bản "
        "DOCX vẫn tải được.",
        {"font": "fonts-croscore"},
    )
