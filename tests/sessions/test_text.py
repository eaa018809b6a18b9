import unicodedata

from sessions.text import nfc, search_key


def test_nfc_composes_decomposed_vietnamese() -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Văn Ánh")
    assert nfd != "Nguyễn Văn Ánh"
    assert nfc(nfd) == "Nguyễn Văn Ánh"
    assert unicodedata.is_normalized("NFC", nfc(nfd))


def test_nfc_folds_white_space() -> None:
    assert nfc("  Trần   Thị\tBích ") == "Trần Thị Bích"


def test_search_key_drops_diacritics_case_and_d_stroke() -> None:
    assert search_key("Nguyễn Văn Ánh") == "nguyen van anh"
    assert search_key("ĐỖ ĐỨC ĐẠT") == "do duc dat"
    assert search_key(unicodedata.normalize("NFD", "Phường Hòa Bình")) == "phuong hoa binh"


def test_nfc_text_keeps_line_breaks() -> None:
    from sessions.text import nfc_text

    raw = unicodedata.normalize("NFD", "Dòng một  \r\nDòng hai\n\n")
    assert nfc_text(raw) == "Dòng một\nDòng hai"
