"""Safe HTML for result text: highlight spans wrapped in ``<mark>``, every text segment escaped."""
from __future__ import annotations

from typing import Iterable, Sequence
from urllib.parse import urlsplit

from markupsafe import Markup, escape

SAFE_SCHEMES = frozenset({"http", "https"})


def merge_spans(spans: Iterable[Sequence[int]], length: int) -> list[tuple[int, int]]:
    """Spans clipped to ``[0, length]``, empty ones dropped, overlapping or touching ones merged, in order."""
    clipped = []
    for span in spans:
        try:
            start, end = int(span[0]), int(span[1])
        except (TypeError, ValueError, IndexError):
            continue
        start, end = max(0, start), min(length, end)
        if start < end:
            clipped.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(clipped):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, spans: Iterable[Sequence[int]], kind: str = "terms") -> Markup:
    """``text`` as HTML with each span in ``<mark>``; the text itself is always escaped, segment by segment."""
    text = text or ""
    css = "hl-sentence" if kind == "sentence" else "hl-terms"
    parts: list[str] = []
    cursor = 0
    for start, end in merge_spans(spans, len(text)):
        parts.append(escape(text[cursor:start]))
        parts.append(Markup('<mark class="{}">{}</mark>').format(css, text[start:end]))
        cursor = end
    parts.append(escape(text[cursor:]))
    return Markup("").join(parts)


def safe_href(link: str | None) -> str | None:
    """The link if it is an absolute http(s) address, else ``None`` (``javascript:``, ``data:``, relative…)."""
    if not link:
        return None
    link = link.strip()
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in link):
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc:
        return None
    return link
