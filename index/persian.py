"""Persian text normalization shared by indexing and querying, so both sides see the same text.

Many Persian sites stored text with Arabic letters (ي ك) and spaces where a zero-width
non-joiner belongs (مي شود); people type with a Persian keyboard (ی ک می‌شود).  hazm's
normalizer folds these together; on top of it every digit becomes an ASCII digit so that
۱۴۰۳, ١٤٠٣ and 1403 are one token for the lexical index and the embedding model alike.
Invisible characters (zero-width spaces, BOMs, bidi marks) are dropped, and a text made only of
invisible characters and combining marks normalizes to "" (an empty query, not a search).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # and lone surrogates: not encodable
_ZWNJ = "\u200c"
# format characters other than the ZWNJ (which Persian spelling needs) and the zero-width space (a word
# break, read as a space): BOM, zero-width joiner, word joiner, soft hyphen, bidi marks, embeddings, overrides and isolates
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200d-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")
_NOTHING_VISIBLE = {"Mn", "Me", "Cf", "Cc", "Zs", "Zl", "Zp", "Co", "Cn"}


@lru_cache(maxsize=1)
def _normalizer():
    """hazm's normalizer, made on first use: importing hazm (scikit-learn, nltk) and making it take seconds, which a
    command that normalizes nothing (a deletion, ``index.info``) need not pay. The same holds for hazm's other
    imports (index.lexical, index.passages)."""
    from hazm import Normalizer

    return Normalizer()


def load() -> None:
    """Make hazm's normalizer now, not on first use. The server does, before it imports torch and loads the model:
    the normalizer's 134 MB of word lists made after them were shared worse by the forked workers (+150 MiB PSS
    in all, docs/benchmarks.md)."""
    _normalizer()


def normalize(text: str) -> str:
    """Return the canonical form of ``text`` used for embedding and lexical matching."""
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", text).replace("\u200b", " "))
    text = _normalizer().normalize(text).translate(_DIGITS).strip()
    if all(char == _ZWNJ or char.isspace() or unicodedata.category(char) in _NOTHING_VISIBLE for char in text):
        return ""
    return text
