"""Persian normalization: what is typed on a Persian keyboard and what old sites stored become one text."""
import pytest

from index.persian import normalize


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("مي شود", "می‌شود"),  # Arabic yeh and a space where a ZWNJ belongs
        ("كتاب", "کتاب"),  # Arabic kaf
        ("سال ١٤٠٣", "سال ۱۴۰۳"),  # Arabic-Indic and Persian digits
        ("سال ۱۴۰۳", "سال 1403"),  # Persian and ASCII digits
        ("عَلِيّ", "علی"),  # diacritics
        ("ســـلام", "سلام"),  # tatweel
        ("خانه ها", "خانه‌ها"),  # plural suffix joined with a ZWNJ
    ],
)
def test_stored_and_typed_forms_normalize_alike(stored: str, typed: str) -> None:
    assert normalize(stored) == normalize(typed)


def test_digits_become_ascii() -> None:
    assert normalize("۱۲۳ ٤٥٦") == "123 456"


def test_control_characters_are_removed() -> None:
    assert "\x07" not in normalize("سلام\x07دنیا")


def test_english_text_is_kept() -> None:
    assert normalize("Foreign minister visits Moscow") == "Foreign minister visits Moscow"


@pytest.mark.parametrize(
    "invisible",
    ["\u200b\ufeff", "\u0301\u0301", "\u200f\u200e\u202e\u2066", "\u200c", "\u2060\u00ad\u061c", " \u200c\u0301 \ufeff\n"],
)
def test_text_of_only_invisible_characters_and_marks_is_empty(invisible: str) -> None:
    assert normalize(invisible) == ""


def test_invisible_characters_inside_words_are_dropped_and_zwnj_kept() -> None:
    assert normalize("\ufeffتو\u200fرم") == normalize("تورم")
    assert normalize("oil\u200bexports") == "oil exports"
    assert normalize("می‌شود") == "می\u200cشود"


def test_lone_surrogates_never_reach_the_tokenizers() -> None:
    assert normalize("تورم\ud800\udcff سال").encode("utf-8") == "تورم سال".encode("utf-8")
