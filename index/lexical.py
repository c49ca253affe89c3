"""Lexical retrieval: BM25 over hazm-normalized tokens, kept in an SQLite FTS5 table beside the vectors.

Why FTS5, and why the tokens are ours and not FTS5's: docs/design.md ("Writing a version").
"""
from __future__ import annotations

import itertools
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence


from index.persian import normalize
from index.tombstones import rows_for

LEXICAL_FORMAT = 3  # bump when tokens() or stem() change: an index built with other terms must be rebuilt
# Format 2 is format 3 without the stems table: still read (its hybrid ranks without stem evidence) until the
# next rebuild or update writes the version again.
READABLE_FORMATS = ("2", "3")
WRITE_BATCH = 5000  # passages analyzed and inserted at a time when writing
STEMS_SINCE = 3
ZWNJ = "\u200c"
_TOKEN = re.compile(r"[^\W_]+")
_WORD = re.compile(r"\S+")  # a word of the original text (ZWNJ is not a space), for highlighting

# the two fields' tables: what a segment of an appending update holds too (index.segments)
TABLES = """
CREATE VIRTUAL TABLE lexical USING fts5(tokens, script UNINDEXED, tokenize = 'ascii');
CREATE VIRTUAL TABLE lexical_stems USING fts5(stems, tokenize = 'ascii');
"""
SCHEMA = TABLES + """
CREATE TABLE lexical_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE lexical_terms USING fts5vocab(lexical, 'row');
CREATE VIRTUAL TABLE lexical_stem_terms USING fts5vocab(lexical_stems, 'row');
"""


@dataclass(frozen=True)
class Field:
    """One BM25 field of the lexical index: its FTS5 table and the fts5vocab table of its document frequencies."""

    table: str
    vocabulary: str


TOKENS = Field("lexical", "lexical_terms")
# hazm stems of the same tokens: a second field, so that کتاب matches کتابها without the exact-word field
# losing its precision; the fusion weighs the two (search.fusion.Fusion.stem_weight, docs/benchmarks.md).
STEMS = Field("lexical_stems", "lexical_stem_terms")
# FTS5's bm25() has k1 = 1.2 and b = 0.75 fixed; :meth:`index.fts.FtsLexicalIndex.idf` is the IDF it uses, so that a
# query's best possible score can be computed.


def _terms_of_normalized(normalized: str) -> list[str]:
    return _TOKEN.findall(normalized.replace(ZWNJ, "").lower())


def _raw_tokens(text: str) -> list[str]:
    return _terms_of_normalized(normalize(text))


# English function words: the engine is Persian-first, but English articles and queries are indexed too,
# and a match on "the" or "from" must not count as lexical evidence.
ENGLISH_STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor
not now of off on once only or other our ours ourselves out over own same she should so some such than
that the their theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours yourself
""".split())


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """hazm's Persian stop words (single-word entries, as :func:`tokens` writes them) and English function words."""
    from hazm import stopwords_list  # on first use, as index.persian imports hazm

    words = set(ENGLISH_STOP_WORDS)
    for word in stopwords_list():
        found = _raw_tokens(word.replace("_", " "))
        if len(found) == 1:
            words.add(found[0])
    return frozenset(words)


def tokens(text: str) -> list[str]:
    """The terms BM25 indexes for ``text``, in order (stop words removed, repeats kept)."""
    return normalized_tokens(normalize(text))


def normalized_tokens(normalized: str) -> list[str]:
    """:func:`tokens` of text already passed through :func:`index.persian.normalize` (a query the engine
    has normalized once for both the model and BM25)."""
    stop = stop_words()
    return [token for token in _terms_of_normalized(normalized) if token not in stop]


@lru_cache(maxsize=1)
def _stemmer():
    from hazm import Stemmer  # on first use, as index.persian imports hazm

    return Stemmer()


@lru_cache(maxsize=65536)
def stem(term: str) -> str:
    """hazm's stem of one term (suffixes of plurals, comparatives, possessives cut: کتابهایشان → کتاب), or
    the term itself where nothing would be left. Only Persian suffixes are cut; Latin terms pass unchanged."""
    return _stemmer().stem(term) or term


def stems(terms: Iterable[str]) -> list[str]:
    """The :func:`stem` of each term, in order."""
    return [stem(term) for term in terms]


def script(text: str) -> str:
    """The dominant script of ``text``'s letters: "arabic" (Persian, Arabic), "latin", "other" or "none"."""
    counts = {"arabic": 0, "latin": 0, "other": 0}
    for char in text:
        if char.isalpha():
            counts[char_script(char)] += 1
    best = max(counts, key=counts.get)
    return best if counts[best] else "none"


def char_script(char: str) -> str:
    if "\u0600" <= char <= "\u06ff" or "\u0750" <= char <= "\u077f" or "\ufb50" <= char <= "\ufeff":
        return "arabic"
    if char < "\u0250" or "\u1e00" <= char <= "\u1eff":
        return "latin"
    return "other"


def token_script(token: str) -> str | None:
    """The script of a term, or None for a term without letters (a number), which belongs to no script."""
    for char in token:
        if char.isalpha():
            return char_script(char)
    return None


@dataclass(frozen=True)
class Analyzed:
    """A passage's lexical row as a version of this :data:`LEXICAL_FORMAT` stored it (its terms joined by
    spaces, and its script): an update copies it instead of analyzing the passage's text again, which took
    most of an update's time (docs/benchmarks.md, "Bounded build and update memory")."""

    tokens: str
    script: str


def write_lexical(path: Path, passage_texts: Iterable[str | Analyzed]) -> int:
    """Write ``lexical.sqlite``: one row per passage in each field, rowid = passage id (0, 1, ...), from
    each passage's text to analyze (title and body), or its row already analyzed."""
    db = sqlite3.connect(path)
    try:
        db.executescript(SCHEMA)
        count = insert_rows(db, "main", passage_texts, 0)
        db.executemany("INSERT INTO lexical_info VALUES (?,?)",
                       [("format", str(LEXICAL_FORMAT)), ("passages", str(count))])
        for table in (TOKENS.table, STEMS.table):
            db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
        db.commit()
    finally:
        db.close()
    return count


def append_lexical(db: sqlite3.Connection, passage_texts: Iterable[str | Analyzed], first: int,
                   dead: Sequence[int]) -> None:
    """Change the lexical index attached to ``db`` as ``lex`` (a copy of a version's, format
    :data:`LEXICAL_FORMAT`): add rows from rowid ``first`` on, and delete the rows of the ``dead`` passages
    still there, so that FTS5's BM25 statistics count the live passages only, as a merge's would.
    ``lexical_info`` records the rows held (``passages``) and deleted (``removed``). The caller commits."""
    info = dict(db.execute("SELECT key, value FROM lex.lexical_info"))
    added = insert_rows(db, "lex", passage_texts, first) - first
    present = rows_for(db, "SELECT rowid FROM lex.lexical WHERE rowid IN", [int(rowid) for rowid in dead])
    for table in (TOKENS.table, STEMS.table):
        db.executemany(f"DELETE FROM lex.{table} WHERE rowid = ?", present)
    db.executemany("INSERT OR REPLACE INTO lex.lexical_info VALUES (?,?)",
                   [("passages", str(int(info["passages"]) + added - len(present))),
                    ("removed", str(int(info.get("removed", 0)) + len(present)))])


def insert_rows(db: sqlite3.Connection, schema: str, passage_texts: Iterable[str | Analyzed], first: int) -> int:
    """Insert each passage's row in both fields of the tables in ``schema`` (:data:`TABLES`), rowids from
    ``first`` on; returns the rowid after the last."""
    count = first
    texts = iter(passage_texts)
    # a batch at a time, so memory does not grow with the archive
    while batch := list(itertools.islice(texts, WRITE_BATCH)):
        rows, stem_rows = [], []
        for text in batch:
            if isinstance(text, Analyzed):
                terms = text.tokens.split()
                rows.append((count, text.tokens, text.script))
            else:
                terms = tokens(text)
                rows.append((count, " ".join(terms), script(text)))
            stem_rows.append((count, " ".join(stems(terms))))
            count += 1
        db.executemany(f"INSERT INTO {schema}.lexical(rowid, tokens, script) VALUES (?,?,?)", rows)
        db.executemany(f"INSERT INTO {schema}.lexical_stems(rowid, stems) VALUES (?,?)", stem_rows)
    return count


def check_lexical(db: sqlite3.Connection, passages: int, segments: Sequence[str] = ()) -> str | None:
    """What is wrong with the lexical database attached as ``lex`` and the lexical tables of the ``segments``
    (schema names, :mod:`index.segments`), or None when they fit the version. Rows are counted in FTS5's
    ``_docsize`` tables, one small row per document (counting the tables themselves read every row's terms:
    2 s at 10^6 passages)."""
    try:
        info = dict(db.execute("SELECT key, value FROM lex.lexical_info"))
        if info.get("format") not in READABLE_FORMATS:
            return (f"the lexical index has format {info.get('format')!r}, this version of Kavosh reads "
                    f"{' and '.join(READABLE_FORMATS)}; rebuild the index")
        fields = (TOKENS, STEMS) if has_stems(db) else (TOKENS,)
        rows = {field.table: [db.execute(f"SELECT count(*) FROM {schema}.{field.table}_docsize").fetchone()[0]
                              for schema in ("lex", *segments)] for field in fields}
    except sqlite3.DatabaseError as exc:
        return f"the lexical index is damaged ({exc})"
    removed = int(info.get("removed", 0))  # rows of dead passages an update deleted (index.append)
    for table, counts in rows.items():
        if sum(counts) + removed != passages or info.get("passages") != str(counts[0]):
            deleted = f" and {removed} deleted" if removed else ""
            return f"the lexical table {table} holds {sum(counts)} passages{deleted}, the version has {passages}"
    return None


def stored_format(db: sqlite3.Connection) -> str:
    """The :data:`LEXICAL_FORMAT` the lexical index attached as ``lex`` was written in."""
    return db.execute("SELECT value FROM lex.lexical_info WHERE key = 'format'").fetchone()[0]


def has_stems(db: sqlite3.Connection) -> bool:
    """Whether the lexical index attached as ``lex`` has the stems field (format 3 on; see :data:`READABLE_FORMATS`)."""
    return int(stored_format(db)) >= STEMS_SINCE


@lru_cache(maxsize=65536)
def _word_terms(word: str) -> tuple[str, ...]:
    return tuple(_raw_tokens(word))


class _CharTerms(dict):
    """``str.translate`` table: what each character, normalized alone, contributes to a word's terms
    (``ي`` → ``ی``, ``۴`` → ``4``, ``A`` → ``a``, a diacritic or punctuation → nothing), filled from
    :func:`_raw_tokens` the first time a character is seen."""

    def __missing__(self, code: int) -> str:
        folded = "".join(_raw_tokens(chr(code)))
        self[code] = folded
        return folded


_CHAR_TERMS = _CharTerms()
_REPEAT = re.compile(r"(.)\1\1")
# the characters of nearly every passage: printable ASCII, the Arabic block (Persian letters and digits), ZWNJ
_COMMON_CHARACTERS = "".join(map(chr, [*range(0x20, 0x7F), *range(0x600, 0x700), 0x200C]))


def prepare_term_spans() -> None:
    """Fill :func:`term_spans`' character table for the common characters now, so that no search pays for
    seeing them first (about 0.2 ms a character: 13 ms of a server's first Persian search at 10^6)."""
    _COMMON_CHARACTERS.translate(_CHAR_TERMS)


def _could_hold(word: str, wanted: re.Pattern, beginnings: set[str]) -> bool:
    """False only when normalizing ``word`` cannot give a term ``wanted`` matches nor a single beginning of one.

    Running hazm on a word costs ~40 µs, so a search that highlights ten passages would spend
    most of its time here. hazm changes a lone word character by character (a context-free map,
    diacritics and kashida removed, spaces and ZWNJs inserted), so the word's terms joined together
    are its characters translated one by one — except where it shortens repeated letters (three
    alike in a row) or lowercases a final sigma, where the answer is "could".
    """
    flat = word.translate(_CHAR_TERMS)
    if "Σ" in word or _REPEAT.search(flat):
        return True
    return flat in beginnings or wanted.search(flat) is not None


def term_spans(text: str, terms: Iterable[str]) -> list[list[int]]:
    """[start, end] character offsets in ``text`` of the words whose normalized form is one of ``terms``.

    Words are taken from the original text and normalized one by one, so every span points at what the
    author wrote; two neighbouring words are also tried together, because normalization joins broken
    spacing (``مي شود`` → ``میشود``) into one term.
    """
    wanted = set(terms)
    if not wanted:
        return []
    beginnings = {term[:n] for term in wanted for n in range(1, len(term))}
    any_wanted = re.compile("|".join(map(re.escape, wanted)))
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    spans: list[list[int]] = []
    covered_until = -1
    for i, (start, end) in enumerate(words):
        if start < covered_until:
            continue
        word = text[start:end]
        if not _could_hold(word, any_wanted, beginnings):
            continue
        found = _word_terms(word)
        # a pair is normalized (slow, and rarely cached) only when its first word could begin a wanted term
        if len(found) == 1 and found[0] in beginnings and found[0] not in wanted \
                and i + 1 < len(words) and text[end:words[i + 1][0]].strip(" " + ZWNJ) == "":
            pair_end = words[i + 1][1]
            pair = _word_terms(text[start:pair_end])
            if len(pair) == 1 and pair[0] in wanted:
                spans.append(_strip_punctuation(text, start, pair_end))
                covered_until = pair_end
                continue
        if any(term in wanted for term in found):
            spans.extend(_trim(text, start, end, word, found, wanted))
    return spans


def _strip_punctuation(text: str, start: int, end: int) -> list[int]:
    while start < end and not (text[start].isalnum()):
        start += 1
    while end > start and not (text[end - 1].isalnum()):
        end -= 1
    return [start, end]


def _trim(text: str, start: int, end: int, word: str, found: tuple[str, ...], wanted: set[str]) -> list[list[int]]:
    """Spans of the matching letters inside one whitespace-separated word (leaving punctuation out)."""
    pieces = [(m.start(), m.end()) for m in re.finditer(rf"[^\W_]+(?:{ZWNJ}[^\W_]+)*", word)]
    out = []
    for s, e in pieces:
        if any(term in wanted for term in _word_terms(word[s:e])):
            out.append([start + s, start + e])
    if not out:  # normalization merged the pieces differently; mark the whole word
        out.append([start, end])
    return out
