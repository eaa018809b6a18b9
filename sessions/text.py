"""Vietnamese text rules: NFC on the way in (TCVN 6909:2011), diacritic-free search keys."""

from __future__ import annotations

import unicodedata

# Letters that do not decompose under NFD: the Vietnamese đ/Đ is a letter of its own.
_FOLD = str.maketrans({"đ": "d", "Đ": "d"})


def nfc(value: str) -> str:
    """Normalize to NFC and trim outer white space; inner runs of spaces become one."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def nfc_text(value: str) -> str:
    """Normalize a multi-line text (notes, summaries) to NFC: line breaks are kept (as \\n),
    trailing spaces of each line and blank lines at either end are dropped."""
    lines = (
        unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def search_key(value: str) -> str:
    """A key that ignores diacritics and case: "Nguyễn Văn Ánh" -> "nguyen van anh"."""
    decomposed = unicodedata.normalize("NFD", value.translate(_FOLD))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def like_pattern(query: str) -> str:
    """A LIKE pattern matching the search key of `query` anywhere, with wildcards escaped."""
    key = search_key(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{key}%"
