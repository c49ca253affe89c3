"""Reading articles from JSON, JSON Lines, CSV and folders of text files.

Every record either becomes an :class:`Article` or is reported in the :class:`IngestReport`
with the file and record number and the reason; nothing is dropped silently.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from index.dates import SOLAR_HIJRI_BEFORE, normalize_date
from index.persian import normalize

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = {".json", ".csv", *JSON_LINES_SUFFIXES}
_BODY_FIELDS = ("paragraphs", "text", "body", "content")
_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass
class Article:
    """One article as the user supplied it; ``text`` is the displayed body (abstract + paragraphs)."""

    id: str
    title: str
    text: str
    link: str = ""
    cat: str = ""
    subcat: str = ""
    tags: list[str] = field(default_factory=list)
    date: str | None = None
    lang: str | None = None
    source: str = ""


@dataclass
class IngestReport:
    """What happened to every record read: kept, replaced by a later duplicate, or skipped and why."""

    read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, source: str, reason: str) -> None:
        log.warning("skipped %s: %s", source, reason)
        self.skipped.append((source, reason))

    def warn(self, source: str, message: str) -> None:
        log.warning("%s: %s", source, message)
        self.warnings.append((source, message))

    def bad_file(self, path: Path, reason: str) -> None:
        log.error("could not read %s: %s", path, reason)
        self.bad_files.append((str(path), reason))

    def summary(self, indexed: int) -> str:
        """A few lines a person can read at the end of a rebuild."""
        lines = [
            f"articles read: {self.read}, indexed: {indexed}, skipped: {len(self.skipped)}, "
            f"replaced by a later duplicate: {len(self.duplicates)}, unreadable files: {len(self.bad_files)}"
        ]
        reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
        lines += [f"  skipped ({count}): {reason}" for reason, count in reasons.most_common()]
        lines += [f"  unreadable file {path}: {reason}" for path, reason in self.bad_files]
        return "\n".join(lines)


class RecordError(ValueError):
    """A record that cannot become an article; the message says why."""


def read_articles(paths: Iterable[Path | str], report: IngestReport | None = None) -> list[Article]:
    """Read every article under ``paths`` (files or folders); later records win over earlier ones with the same id."""
    report = report if report is not None else IngestReport()
    articles: dict[str, Article] = {}
    for path in map(Path, paths):
        for article in _read_path(path, report):
            previous = articles.pop(article.id, None)
            if previous is not None:
                log.warning("article %s from %s replaces the one from %s", article.id, article.source, previous.source)
                report.duplicates.append((article.id, previous.source, article.source))
            articles[article.id] = article
    return list(articles.values())


def _read_path(path: Path, report: IngestReport) -> Iterator[Article]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES | SUPPORTED_SUFFIXES)
        if not files:
            report.bad_file(path, "folder holds no .json, .jsonl, .csv, .txt or .md files")
        for file in files:
            yield from _read_path(file, report)
        return
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES | SUPPORTED_SUFFIXES:
        report.bad_file(path, f"unsupported file type {suffix or '(none)'}; use .json, .jsonl, .csv, .txt or .md")
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        report.bad_file(path, exc.strerror or str(exc))
        return
    # surrogateescape keeps undecodable bytes visible, so only the records holding them are skipped
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if suffix in TEXT_SUFFIXES:
        records: Iterator[tuple[str, Any]] = iter([(str(path), _text_file_record(text, path))])
    elif suffix == ".csv":
        records = _csv_records(text, path, report)
    elif suffix in JSON_LINES_SUFFIXES:
        records = _json_lines_records(text, path, report)
    else:
        records = _json_records(text, path, report)
    for source, record in records:
        report.read += 1
        try:
            yield article_from_record(record, source)
        except RecordError as exc:
            report.skip(source, str(exc))
        else:
            for message in _field_warnings(record):
                report.warn(source, message)


def _text_file_record(text: str, path: Path) -> dict[str, Any]:
    """First line the title (a leading # dropped), the rest the text; Windows and old Mac line ends read as \\n."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    title = lines[0].lstrip("#").strip() if lines else ""
    return {"title": title, "text": "\n".join(lines[1:]), "_hash_salt": path.name}


def _json_records(text: str, path: Path, report: IngestReport) -> Iterator[tuple[str, Any]]:
    """Records of a JSON array (or a single object, or JSON Lines saved as .json), read one by one so that
    a file cut short still yields the records before the damage."""
    stripped = text.lstrip()
    if not stripped:
        report.bad_file(path, "file is empty")
        return
    if stripped[0] == "{":
        try:
            yield f"{path}#1", json.loads(text)
        except json.JSONDecodeError:
            yield from _json_lines_records(text, path, report)
        return
    if stripped[0] != "[":
        report.bad_file(path, "not JSON: expected an array of article objects")
        return
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    number = 0
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]":
            return
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            report.bad_file(path, f"invalid JSON after record {number} (line {exc.lineno}, column {exc.colno}): {exc.msg}")
            return
        number += 1
        yield f"{path}#{number}", record
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            report.bad_file(path, f"invalid JSON after record {number}: expected ',' or ']'")
            return


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_lines_records(text: str, path: Path, report: IngestReport) -> Iterator[tuple[str, Any]]:
    # only "\n" ends a record: str.splitlines would also split on U+0085 or U+2028 inside a JSON string
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        source = f"{path}:{number}"
        try:
            yield source, json.loads(line)
        except json.JSONDecodeError as exc:
            report.read += 1
            report.skip(source, f"invalid JSON: {exc.msg} (column {exc.colno})")


def _csv_records(text: str, path: Path, report: IngestReport) -> Iterator[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if not any(name in header for name in _BODY_FIELDS):
        report.bad_file(path, f"CSV header needs a text column ({', '.join(_BODY_FIELDS)}); found {header or 'none'}")
        return
    reader.fieldnames = header
    for number, row in enumerate(reader, start=2):
        if None in row:
            report.read += 1
            report.skip(f"{path}:{number}", "row has more fields than the header")
            continue
        record: dict[str, Any] = {key: value for key, value in row.items() if value not in (None, "")}
        if "tags" in record:
            record["tags"] = [tag.strip() for tag in re.split(r"[,|،]", record["tags"]) if tag.strip()]
        yield f"{path}:{number}", record


def article_from_record(record: Any, source: str) -> Article:
    """Validate one record and build its article, or raise :class:`RecordError` naming the problem."""
    if not isinstance(record, dict):
        raise RecordError(f"wrong type: a record must be an object, got {type(record).__name__}")
    _check_decodable(record)
    title = _optional_str(record, "title")
    abstract = _optional_str(record, "abstract")
    parts = [abstract] if abstract else []
    body_field = next((name for name in _BODY_FIELDS if record.get(name) is not None), None)
    if body_field == "paragraphs" and not isinstance(record["paragraphs"], str):
        paragraphs = record["paragraphs"]
        if not isinstance(paragraphs, list) or not all(isinstance(p, str) for p in paragraphs):
            raise RecordError("wrong type: field 'paragraphs' must be a list of strings")
        parts += paragraphs
    elif body_field:
        parts.append(_optional_str(record, body_field))
    text = "\n\n".join(part.strip() for part in parts if part and part.strip())
    if not normalize(text):
        raise RecordError("no text: the record has no abstract, paragraphs or text")
    tags = record.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise RecordError("wrong type: field 'tags' must be a list of strings")
    link = _optional_str(record, "link")
    explicit_id = record.get("id")
    if explicit_id is not None and (isinstance(explicit_id, bool) or not isinstance(explicit_id, (str, int))):
        raise RecordError("wrong type: field 'id' must be a string or an integer")
    article_id = str(explicit_id).strip() if explicit_id not in (None, "") else link.strip()
    if not article_id:
        salt = str(record.get("_hash_salt", ""))
        article_id = hashlib.sha256(f"{salt}\n{normalize(title)}\n{normalize(text)}".encode()).hexdigest()[:16]
    return Article(
        id=article_id,
        title=title.strip(),
        text=text,
        link=link.strip(),
        cat=_optional_str(record, "cat").strip(),
        subcat=_optional_str(record, "subcat").strip(),
        tags=[t.strip() for t in tags if t.strip()],
        date=_parse_date(record.get("date")),
        lang=_optional_str(record, "lang").strip() or None,
        source=source,
    )


def _optional_str(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"wrong type: field '{name}' must be a string, got {type(value).__name__}")
    return value


def _check_decodable(value: Any) -> None:
    if isinstance(value, str) and _LONE_SURROGATE.search(value):
        raise RecordError("undecodable bytes: the record is not valid UTF-8")
    if isinstance(value, dict):
        for item in value.values():
            _check_decodable(item)
    elif isinstance(value, list):
        for item in value:
            _check_decodable(item)


def _parse_date(value: Any) -> str | None:
    """ISO Gregorian, whichever calendar the record wrote the date in (see :mod:`index.dates`)."""
    return normalize_date(value)


def _field_warnings(record: Any) -> Iterator[str]:
    date = record.get("date") if isinstance(record, dict) else None
    if date not in (None, "") and _parse_date(date) is None:
        yield (f"date {date!r} is not a date written YYYY-MM-DD or YYYY/MM/DD (Gregorian, or Solar Hijri "
               f"when the year is below {SOLAR_HIJRI_BEFORE}); the article is kept without a date")
