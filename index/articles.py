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
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

from index.dates import SOLAR_HIJRI_BEFORE, normalize_date
from index.persian import normalize

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED_SUFFIXES = {".json", ".csv", *JSON_LINES_SUFFIXES}
COMPRESSED_SUFFIXES = {".gz", ".bz2", ".xz", ".zst", ".zip", ".7z", ".rar", ".tar", ".tgz", ".lz4"}
MAX_ID_CHARS = 1000
MAX_CSV_FIELD_CHARS = 16 * 1024 * 1024  # Python's default (131,072) is shorter than some long reports
_BODY_FIELDS = ("paragraphs", "text", "body", "content")
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # also escaped ones in JSON ("\\ud800"): not encodable text
_FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFSOCK: "a socket"}

csv.field_size_limit(MAX_CSV_FIELD_CHARS)


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
    ignored: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, source: str, reason: str) -> None:
        log.warning("skipped %s: %s", source, reason)
        self.skipped.append((source, reason))

    def warn(self, source: str, message: str) -> None:
        log.warning("%s: %s", source, message)
        self.warnings.append((source, message))

    def replaced(self, article: "Article", previous_source: str) -> None:
        """``article`` replaces an earlier one with its id, read from ``previous_source``: the later record wins."""
        log.warning("article %s from %s replaces the one from %s", article.id, article.source, previous_source)
        self.duplicates.append((article.id, previous_source, article.source))

    def bad_file(self, path: Path, reason: str) -> None:
        log.error("could not read %s: %s", path, reason)
        self.bad_files.append((str(path), reason))

    def ignore(self, path: Path, reason: str) -> None:
        """A file in a source folder that is not read (hidden, compressed, a link leaving the folder, …)."""
        log.info("ignored %s: %s", path, reason)
        self.ignored.append((str(path), reason))

    def summary(self, indexed: int, listed: int = 20) -> str:
        """A few lines a person can read at the end of a rebuild (at most ``listed`` names per list)."""
        lines = [
            f"articles read: {self.read}, indexed: {indexed}, skipped: {len(self.skipped)}, "
            f"replaced by a later duplicate: {len(self.duplicates)}, unreadable files: {len(self.bad_files)}, "
            f"ignored files: {len(self.ignored)}"
        ]
        reasons = Counter(reason.split(":")[0] for _, reason in self.skipped)
        lines += [f"  skipped ({count}): {reason}" for reason, count in reasons.most_common()]
        lines += [f"  skipped {source}: {reason}" for source, reason in self.skipped[:listed]]
        lines += [f"  unreadable file {path}: {reason}" for path, reason in self.bad_files[:listed]]
        lines += [f"  ignored file {path}: {reason}" for path, reason in self.ignored[:listed]]
        lines += [f"  warning {source}: {message}" for source, message in self.warnings[:listed]]
        hidden = sum(max(0, len(items) - listed) for items in (self.skipped, self.bad_files, self.ignored, self.warnings))
        if hidden:
            lines.append(f"  … and {hidden} more (the log names each one)")
        return "\n".join(lines)


class RecordError(ValueError):
    """A record that cannot become an article; the message says why."""


def read_articles(paths: Iterable[Path | str], report: IngestReport | None = None, *,
                  follow_links: bool = False, include_hidden: bool = False) -> list[Article]:
    """Read every article under ``paths`` (files or folders); later records win over earlier ones with the same id.

    In folders, hidden files and links leading outside the folder are ignored (and listed in the report)
    unless ``include_hidden`` / ``follow_links``; a file or folder named in ``paths`` is always read."""
    report = report if report is not None else IngestReport()
    articles: dict[str, Article] = {}
    for article in iter_articles(paths, report, follow_links=follow_links, include_hidden=include_hidden):
        previous = articles.pop(article.id, None)
        if previous is not None:
            report.replaced(article, previous.source)
        articles[article.id] = article
    return list(articles.values())


def iter_articles(paths: Iterable[Path | str], report: IngestReport, *, follow_links: bool = False,
                  include_hidden: bool = False) -> Iterator[Article]:
    """Every record under ``paths`` that makes an article, in reading order, duplicates included (the caller
    decides which wins, as :func:`read_articles` does); the rest go to ``report``. JSON Lines files are read
    line by line, so a rebuild of a large archive (:mod:`index.staging`) never holds one whole."""
    for path in map(Path, paths):
        if path.is_dir():
            files = _folder_files(path, report, follow_links, include_hidden)
            if not files:
                report.bad_file(path, "folder holds no .json, .jsonl, .csv, .txt or .md files")
        else:
            files = [path]
        for file in files:
            yield from _read_file(file, report)


def _folder_files(root: Path, report: IngestReport, follow_links: bool, include_hidden: bool) -> list[Path]:
    """The readable article files under ``root``; every other entry is listed in the report as ignored."""
    base = root.resolve()
    seen = {base}
    found: list[Path] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            report.ignore(folder, f"cannot list the folder: {exc.strerror or exc}")
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") and not include_hidden:
                report.ignore(path, "hidden (use --include-hidden to read hidden files and folders)")
                continue
            if entry.is_symlink():
                target = path.resolve()
                if not target.exists():
                    report.ignore(path, "dangling link")
                    continue
                if not follow_links and not target.is_relative_to(base):
                    report.ignore(path, f"link to {target}, outside the source folder (use --follow-links to read it)")
                    continue
            if entry.is_dir():
                real = path.resolve()
                if real in seen:
                    report.ignore(path, "folder already read (a link back into the tree)")
                    continue
                seen.add(real)
                folders.append(path)
                continue
            problem = _unreadable_kind(path)
            if problem:
                report.ignore(path, problem)
            else:
                found.append(path)
    return sorted(found)


def _unreadable_kind(path: Path) -> str | None:
    """Why a file is not read as articles, judged by its name and type, or None."""
    suffix = path.suffix.lower()
    if suffix in COMPRESSED_SUFFIXES:
        return f"compressed file ({suffix}): decompress it first"
    if suffix not in TEXT_SUFFIXES | SUPPORTED_SUFFIXES:
        return f"unsupported file type {suffix or '(none)'}; use .json, .jsonl, .csv, .txt or .md"
    try:
        info = path.stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(info.st_mode):
        return f"{_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'not a regular file')}, not a file of articles"
    if info.st_size == 0:
        return "file is empty"
    return None


def _open_file(path: Path) -> BinaryIO:
    """The file opened for reading bytes; refuses (OSError) anything but a regular file without blocking on a
    FIFO or device."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    handle = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise OSError(f"{_FILE_KINDS.get(stat.S_IFMT(mode), 'not a regular file')}, not a file of articles")
    return handle


def _without_bom(lines: Iterator[str]) -> Iterator[str]:
    """``lines`` with a byte-order mark dropped from the first."""
    first = next(lines, None)
    if first is not None:
        yield first.removeprefix("\ufeff")
        yield from lines


def _read_file(path: Path, report: IngestReport) -> Iterator[Article]:
    """The articles of one file, each record read or reported; a file that cannot be read is reported."""
    problem = _unreadable_kind(path)  # a folder's files were checked already; this is for the files named
    if problem:
        report.bad_file(path, problem)
        return
    suffix = path.suffix.lower()
    try:
        handle = _open_file(path)
    except OSError as exc:
        report.bad_file(path, exc.strerror or str(exc))
        return
    with handle:
        if suffix in JSON_LINES_SUFFIXES:
            # surrogateescape keeps undecodable bytes visible, so only the records holding them are skipped;
            # only "\n" ends a record (binary lines): U+0085 or U+2028 may sit inside a JSON string
            lines = (line.decode("utf-8", errors="surrogateescape") for line in handle)
            records: Iterator[tuple[str, Any]] = _json_lines_records(_without_bom(lines), path, report)
        else:
            text = handle.read().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
            if suffix in TEXT_SUFFIXES:
                records = iter([(str(path), _text_file_record(text, path))])
            elif suffix == ".csv":
                records = _csv_records(text, path, report)
            else:
                records = _json_records(text, path, report)
        yield from _articles(records, report)


def _articles(records: Iterator[tuple[str, Any]], report: IngestReport) -> Iterator[Article]:
    """The records that make articles; each other one is reported with why."""
    for source, record in records:
        report.read += 1
        try:
            article = article_from_record(record, source)
        except RecordError as exc:
            report.skip(source, str(exc))
            continue
        for message in _field_warnings(record):
            report.warn(source, message)
        yield article


def _text_file_record(text: str, path: Path) -> dict[str, Any]:
    """First line the title (a leading # dropped), the rest the text; Windows and old Mac line ends read as \\n."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    title = lines[0].lstrip("#").strip() if lines else ""
    return {"title": title, "text": "\n".join(lines[1:]), "_hash_salt": path.name}


def _json_records(text: str, path: Path, report: IngestReport) -> Iterator[tuple[str, Any]]:
    """Records of a JSON array (or a single object, or JSON Lines saved as .json), read one by one so that
    a file cut short still yields the records before the damage, and a record that cannot be parsed
    (nested too deeply, a number too long) is skipped while the ones after it are read."""
    stripped = text.lstrip()
    if not stripped:
        report.bad_file(path, "file is empty")
        return
    if stripped[0] == "{":
        try:
            record = json.loads(text)
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, json.JSONDecodeError) or "\n{" in text.strip():  # JSON Lines saved as .json
                yield from _json_lines_records(text.split("\n"), path, report)
            else:
                report.read += 1
                report.skip(f"{path}#1", _unparsable(exc))
            return
        yield f"{path}#1", record
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
        number += 1
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            report.bad_file(path, f"invalid JSON after record {number - 1} (line {exc.lineno}, column {exc.colno}): {exc.msg}")
            return
        except (ValueError, RecursionError) as exc:
            report.read += 1
            report.skip(f"{path}#{number}", _unparsable(exc))
            pos = _value_end(text, pos)
        else:
            yield f"{path}#{number}", record
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            report.bad_file(path, f"invalid JSON after record {number}: expected ',' or ']'")
            return


def _unparsable(exc: Exception) -> str:
    """Why valid-looking JSON could not become a record."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "unreadable JSON: nested too deeply"
    return f"unreadable JSON: {str(exc).split(';')[0]}"  # e.g. an integer over 4,300 digits


def _value_end(text: str, pos: int) -> int:
    """Where the JSON value starting at ``pos`` ends, found by matching brackets and strings without parsing it,
    so that a record too deep or too large to parse can be stepped over."""
    depth = 0
    in_string = escaped = False
    for i in range(pos, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 0:
                    return i + 1
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            if depth == 0:
                return i
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and char in ", \t\r\n":
            return i
    return len(text)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_lines_records(lines: Iterable[str], path: Path, report: IngestReport) -> Iterator[tuple[str, Any]]:
    """One record a line; ``lines`` split at "\n" only (str.splitlines would also split on U+0085 or U+2028
    inside a JSON string)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        source = f"{path}:{number}"
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:
            report.read += 1
            report.skip(source, _unparsable(exc))
            continue
        yield source, record


def _csv_records(text: str, path: Path, report: IngestReport) -> Iterator[tuple[str, Any]]:
    """Rows as records named by the line they start on; a row Python's csv module cannot read is skipped,
    and a quoted field that swallowed lines looking like rows (a stray quote) is reported with those lines."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        report.bad_file(path, f"CSV header cannot be read: {exc}")
        return
    if not any(name in header for name in _BODY_FIELDS):
        report.bad_file(path, f"CSV header needs a text column ({', '.join(_BODY_FIELDS)}); found {header or 'none'}")
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.read += 1
            report.skip(f"{path}:{start}", f"unreadable CSV row: {exc}")
            start = reader.line_num + 1
            continue
        source, first, start = f"{path}:{start}", start, reader.line_num + 1
        if not row:
            continue
        if len(row) > len(header):
            report.read += 1
            report.skip(source, "row has more fields than the header")
            continue
        swallowed = [first + offset for offset, line in enumerate(lines[first:start - 1], start=1)
                     if len(next(csv.reader([line]), [])) >= max(2, len(header))]
        if swallowed:
            report.warn(source, f"stray quote? a quoted field runs from line {first} to line {start - 1} and took "
                                f"{len(swallowed)} line(s) that look like rows (lines {_ranges(swallowed)}); check the quotes")
        record: dict[str, Any] = {key: value for key, value in zip(header, row) if value != ""}
        if "tags" in record:
            record["tags"] = [tag.strip() for tag in re.split(r"[,|،]", record["tags"]) if tag.strip()]
        yield source, record


def _ranges(numbers: list[int]) -> str:
    """Sorted line numbers written as ranges: [3, 4, 5, 9] -> "3-5, 9"."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# Letters and digits hazm's normalizer never deletes (tests/test_ingestion.py checks each): a text holding one is
# not empty once normalized, so the whole normalization (milliseconds an article, most of the time spent reading
# an archive) runs only for the rare text without one.
_SURELY_KEPT = re.compile("[A-Za-z0-9\u0621-\u063a\u0641-\u064a\u0660-\u0669\u067e\u0686\u0698"
                          "\u06a9\u06af\u06cc\u06f0-\u06f9]")


def has_text(text: str) -> bool:
    """Whether ``text`` has anything left once normalized (:func:`index.persian.normalize` is not empty)."""
    return _SURELY_KEPT.search(text) is not None or bool(normalize(text))


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
    if not has_text(text):
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
    try:
        article_id = str(explicit_id).strip() if explicit_id not in (None, "") else link.strip()
    except ValueError:  # an integer with more digits than Python converts
        raise RecordError(f"id too long: the limit is {MAX_ID_CHARS} characters") from None
    if len(article_id) > MAX_ID_CHARS:
        raise RecordError(f"id too long: {len(article_id)} characters; the limit is {MAX_ID_CHARS}")
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


def _check_decodable(record: dict[str, Any]) -> None:
    """Refuse text that cannot be stored as UTF-8; walked without recursion, so any nesting depth is fine."""
    pending: list[Any] = [record]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            if _UNDECODABLE.search(value):
                raise RecordError("undecodable bytes: the record is not valid UTF-8")
            raise RecordError("lone surrogate: the record holds an escaped UTF-16 half (such as \\ud800), not text")
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _parse_date(value: Any) -> str | None:
    """ISO Gregorian, whichever calendar the record wrote the date in (see :mod:`index.dates`)."""
    return normalize_date(value)


def _field_warnings(record: Any) -> Iterator[str]:
    date = record.get("date") if isinstance(record, dict) else None
    if date not in (None, "") and _parse_date(date) is None:
        yield (f"date {date!r} is not a date written YYYY-MM-DD or YYYY/MM/DD (Gregorian, or Solar Hijri "
               f"when the year is below {SOLAR_HIJRI_BEFORE}); the article is kept without a date")
