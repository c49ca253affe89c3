"""Persian text normalization shared by indexing and querying, so both sides see the same text.

Many Persian sites stored text with Arabic letters (ي ك) and spaces where a zero-width
non-joiner belongs (مي شود); people type with a Persian keyboard (ی ک می‌شود).  hazm's
normalizer folds these together; on top of it every digit becomes an ASCII digit so that
۱۴۰۳, ١٤٠٣ and 1403 are one token for the lexical index and the embedding model alike.
"""
from __future__ import annotations

import re

from hazm import Normalizer

_normalizer = Normalizer()
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize(text: str) -> str:
    """Return the canonical form of ``text`` used for embedding and lexical matching."""
    text = _CONTROL.sub(" ", text)
    return _normalizer.normalize(text).translate(_DIGITS).strip()

