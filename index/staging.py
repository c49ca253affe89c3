"""A rebuild's articles held in a SQLite file beside the index instead of in memory.

A rebuild reads its sources once into ``INDEX/.staging-articles.sqlite`` (a later record replacing an
earlier one with the same id, as :func:`index.articles.read_articles` does) and then reads them back a
shard at a time, so its memory does not grow with the archive (issue 10; docs/design.md, "Bounded
memory"). The file is removed when the rebuild ends, and by :func:`index.layout.remove_leftovers` after
a crash.
"""
from __future__ import annotations

import json
import operator
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Sequence, overload

from tqdm import tqdm

from index.articles import Article, IngestReport, iter_articles
from index.faults import crash_point
from index.layout import STAGING
from index.records import ARTICLE_FIELDS, article_from_row

READ_BATCH = 1000  # articles fetched from the file at a time when iterating


class StagedArticles(Sequence[Article]):
    """The staged articles in reading order, as a read-only sequence: ``len``, an index, a run (a slice
    without a step) and iteration read them from the file. Close it to delete the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path)
        self._length: int = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, key: int) -> Article: ...

    @overload
    def __getitem__(self, key: slice) -> list[Article]: ...

    def __getitem__(self, key: int | slice) -> Article | list[Article]:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._length)
            if step != 1:
                raise ValueError(f"staged articles are read in runs: a slice step must be 1, not {step}")
            return self._read("pos >= ? AND pos < ?", (start, stop))
        index = operator.index(key)
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(f"article {index} of {self._length}")
        return self._read("pos = ?", (position,))[0]

    def __iter__(self) -> Iterator[Article]:
        for start in range(0, self._length, READ_BATCH):
            yield from self[start:start + READ_BATCH]

    def _read(self, where: str, parameters: tuple[int, ...]) -> list[Article]:
        rows = self.db.execute(f"SELECT {ARTICLE_FIELDS} FROM articles WHERE {where} ORDER BY pos", parameters)
        return [article_from_row(row) for row in rows]

    def close(self) -> None:
        """Close and delete the file."""
        self.db.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "StagedArticles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stage_articles(paths: Iterable[Path | str], index_dir: Path, report: IngestReport, *, follow_links: bool = False,
                   include_hidden: bool = False, progress: bool = False) -> StagedArticles:
    """Read every article under ``paths`` into the index folder's staging file (replacing any left there)
    and open it: the same articles in the same order as :func:`index.articles.read_articles` returns, with
    the same report. Call under ``index_lock``."""
    path = index_dir / STAGING
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        # a staging file is thrown away if anything fails, so it needs no journal and no fsync
        db.executescript("""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE read (seq INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, title, text, link, cat, subcat,
                               tags, date, lang, source);
        """)
        articles = iter_articles(paths, report, follow_links=follow_links, include_hidden=include_hidden)
        for article in tqdm(articles, unit="article", desc="reading", disable=not progress):
            previous = db.execute("SELECT source FROM read WHERE id = ?", (article.id,)).fetchone()
            if previous is not None:  # the later record wins, and is read where it was found
                report.replaced(article, previous[0])
                db.execute("DELETE FROM read WHERE id = ?", (article.id,))
            db.execute(f"INSERT INTO read ({ARTICLE_FIELDS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (article.id, article.title, article.text, article.link, article.cat, article.subcat,
                        json.dumps(article.tags, ensure_ascii=False), article.date, article.lang, article.source))
        db.executescript(f"""
            CREATE TABLE articles (pos INTEGER PRIMARY KEY, {ARTICLE_FIELDS});
            INSERT INTO articles SELECT row_number() OVER (ORDER BY seq) - 1, {ARTICLE_FIELDS} FROM read ORDER BY seq;
            DROP TABLE read;
        """)
        db.commit()
    except BaseException:
        db.close()
        path.unlink(missing_ok=True)
        raise
    db.close()
    crash_point("articles-staged")
    return StagedArticles(path)
