"""``python -m search.evaluate``: search quality on the benchmark tasks of ``../shared/data/README.md``.

Every task goes through the real pipeline: records become :class:`~index.articles.Article` objects,
:func:`~index.pipeline.build_index` cuts, embeds and writes an index folder, and
:class:`~search.engine.SearchEngine` answers the queries. Results rank **articles** (the engine returns
one passage per article); a query's hit is the rank of its relevant article. Metrics come from
``ir_measures`` (RR@10, R@1, R@10, nDCG@10, computed by trec_eval through ``pytrec_eval``); ranx
was the first choice, but it pulls numpy 2 and numba, while hazm 0.10 pins numpy 1.24.3.

Built indexes are cached (``--cache``, default ``~/.cache/kavosh/eval``) in a folder keyed by the task,
the model, its precision, the chunking and a fingerprint of the indexed articles, so re-running with other search
settings never re-embeds. A cached index that no longer opens (damaged, or written in an older format)
is built again.

Tasks:

* ``fa-qa``: the 93 PersianQA paragraphs (title = Wikipedia title, body = paragraph) plus the Fars
  News articles as distractors (``--distractors N`` keeps an evenly spread subset, for a quick slice);
  queries: the answerable questions.
* ``fa-news-title``: Fars News bodies only (paragraphs; title and abstract withheld); queries: the
  titles typed on a Persian keyboard (ي→ی, ك→ک); one query per distinct link (the record kept by
  ingestion, where a link was published twice).
* ``en-fa-tatoeba`` / ``fa-en-tatoeba``: 1,000 sentences of one language indexed, each an article;
  queries: their translations.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import defaultdict
from contextlib import closing
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import ir_measures
from ir_measures import RR, R, nDCG

from index.articles import Article, article_from_record, read_articles
from index.embedder import Embedder
from index.lexical import has_stems
from index.pipeline import Chunking, build_index, update_index
from index.store import (IndexUnavailable, content_hash, index_lock, open_index)
from index.tantivy_lexical import tantivy_files
from search.backends import Backend, LocalBackend, MilvusBackend
from index.vectors.factory import AUTO, DEFAULT_KIND, choose_kind
from kavosh.cli import setup_logging
from search.engine import SearchEngine
from search.fusion import DEFAULT_FUSION
from search.query import METHODS
from settings import BACKENDS, PROJECT_ROOT, Settings, cache_dir

log = logging.getLogger("search.evaluate")

TASKS = ("fa-qa", "fa-news-title", "en-fa-tatoeba", "fa-en-tatoeba")
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_CACHE = cache_dir() / "eval"
CUTOFF = 10
MEASURES = {"MRR@10": RR @ CUTOFF, "Recall@1": R @ 1, "Recall@10": R @ CUTOFF, "nDCG@10": nDCG @ CUTOFF}


@dataclass
class Query:
    id: str
    text: str
    relevant: str  # the id of the one relevant article


@dataclass
class Task:
    name: str
    articles: list[Article]
    queries: list[Query]


# ---------------------------------------------------------------- tasks


def _fars_records(data: Path) -> list[tuple[str, dict]]:
    files = sorted((data / "farsnews").glob("fars-news-*.json"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not files:
        raise FileNotFoundError(f"no Fars News files under {data / 'farsnews'}")
    return [(f"{path}#{number}", record) for path in files
            for number, record in enumerate(json.loads(path.read_text()), start=1)]


def _spread(items: Sequence, n: int | None) -> list:
    """``n`` items evenly spread over ``items`` (all of them when ``n`` is None or too large)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def load_fa_qa(data: Path, distractors: int | None = None) -> Task:
    pqa = json.loads((data / "persianqa" / "pqa_test.json").read_text())
    articles: list[Article] = []
    queries: list[Query] = []
    for i, entry in enumerate(pqa["data"]):
        for j, paragraph in enumerate(entry["paragraphs"]):
            article_id = f"persianqa-{i}-{j}"
            articles.append(article_from_record(
                {"id": article_id, "title": entry["title"], "text": paragraph["context"], "lang": "fa"},
                f"pqa_test.json#{i}.{j}"))
            queries += [Query(str(qa["id"]), qa["question"], article_id)
                        for qa in paragraph["qas"] if not qa.get("is_impossible")]
    fars = read_articles([data / "farsnews"])
    return Task("fa-qa", articles + _spread(fars, distractors), queries)


def load_fa_news_title(data: Path) -> Task:
    kept: dict[str, tuple[Article, str]] = {}
    for source, record in _fars_records(data):
        article = article_from_record({**record, "title": None, "abstract": None}, source)
        kept.pop(article.id, None)  # a later record with the same link wins, as in read_articles
        kept[article.id] = (article, record.get("title") or "")
    queries = [Query(str(n), title.replace("ي", "ی").replace("ك", "ک"), article.id)
               for n, (article, title) in enumerate(kept.values()) if title.strip()]
    return Task("fa-news-title", [article for article, _ in kept.values()], queries)


def load_tatoeba(data: Path, indexed: str) -> Task:
    lines = {lang: (data / "tatoeba" / f"tatoeba.pes-eng.{suffix}").read_text().splitlines()
             for lang, suffix in (("fa", "pes"), ("en", "eng"))}
    asked = "en" if indexed == "fa" else "fa"
    articles = [article_from_record({"id": f"{indexed}-{i}", "text": text, "lang": indexed}, f"tatoeba:{i}")
                for i, text in enumerate(lines[indexed])]
    queries = [Query(str(i), text, f"{indexed}-{i}") for i, text in enumerate(lines[asked])]
    return Task(f"{asked}-{indexed}-tatoeba", articles, queries)


def load_task(name: str, data: Path, distractors: int | None = None) -> Task:
    if name == "fa-qa":
        return load_fa_qa(data, distractors)
    if name == "fa-news-title":
        return load_fa_news_title(data)
    if name == "en-fa-tatoeba":
        return load_tatoeba(data, indexed="fa")
    if name == "fa-en-tatoeba":
        return load_tatoeba(data, indexed="en")
    raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")


# ---------------------------------------------------------------- cached index


def cache_key(task: Task, model: str, chunking: Chunking, precision: str) -> str:
    """Task + model + precision + chunking + what is indexed: equal keys embed exactly the same passages."""
    digest = hashlib.sha256(json.dumps([task.name, model, precision, asdict(chunking)]).encode())
    for article in task.articles:
        digest.update(f"{article.id}\0{content_hash(article)}\0".encode())
    return f"{task.name}-{digest.hexdigest()[:16]}"


def cached_index(task: Task, embedder: Embedder, chunking: Chunking, cache: Path, progress: bool = False,
                 vector_index: str = AUTO) -> Path:
    """The index folder of ``task``, built once (again when the cached one is in an older format); when its
    vectors are held by another backend than ``vector_index`` asks for, or it lacks a lexical part (stems, the
    tantivy index), it is rewritten, not re-embedded."""
    index_dir = cache / cache_key(task, embedder.name, chunking, embedder.arithmetic)
    try:
        version = open_index(index_dir)
        with closing(version.connect()) as db:
            stemmed = has_stems(db)
        version.close()
        wanted = choose_kind(version.manifest["passages"], vector_index)
        missing = [what for what, lacking in (("stems", not stemmed), ("tantivy", not tantivy_files(version.manifest)))
                   if lacking]
        if version.manifest.get("vector_index", DEFAULT_KIND) != wanted or missing:
            with index_lock(index_dir):
                log.info("%s: rewriting %s (%s vectors%s)", task.name, index_dir, wanted,
                         "".join(f", {what} added" for what in missing))
                update_index(index_dir, embedder, vector_index=wanted, merge=True)
        return index_dir
    except IndexUnavailable as exc:
        reason = exc
    with index_lock(index_dir):
        log.info("%s: building the index of %d articles in %s (%s)", task.name, len(task.articles), index_dir, reason)
        started = time.perf_counter()
        result = build_index(task.articles, index_dir, embedder, chunking, progress=progress, vector_index=vector_index)
        log.info("%s: %d passages embedded in %.0f s", task.name, result.passages, time.perf_counter() - started)
    return index_dir


# ---------------------------------------------------------------- running


def run_task(task: Task, engine: SearchEngine, methods: Sequence[str] = METHODS) -> dict[str, dict[str, float]]:
    """MRR@10, Recall@1, Recall@10 and nDCG@10 of each method over the task's queries.

    A result counts as the relevant article when it is that article or collapsed it as a duplicate
    (the same story published twice), since the user sees that story either way."""
    qrels = [ir_measures.Qrel(q.id, q.relevant, 1) for q in task.queries]
    figures: dict[str, dict[str, float]] = {}
    for method in methods:
        run = []
        started = time.perf_counter()
        for query in task.queries:
            ranked = engine.ranked_articles(query.text, CUTOFF, method=method)
            for rank, (article_id, duplicates) in enumerate(ranked):
                shown = query.relevant if query.relevant in duplicates else article_id
                run.append(ir_measures.ScoredDoc(query.id, shown, float(CUTOFF - rank)))
        seconds = time.perf_counter() - started
        # trec_eval leaves out queries without any result; they count as misses here
        per_query: dict[str, dict[str, float]] = defaultdict(dict)
        for metric in ir_measures.iter_calc(MEASURES.values(), qrels, run):
            per_query[str(metric.measure)][metric.query_id] = metric.value
        figures[method] = {name: sum(per_query[str(measure)].values()) / len(task.queries)
                           for name, measure in MEASURES.items()}
        figures[method]["ms_per_query"] = 1000 * seconds / len(task.queries)
        log.info("%s %s: %s", task.name, method, _format_row(figures[method]))
    return figures


def _format_row(row: dict[str, float]) -> str:
    return " ".join(f"{name} {row[name]:.4f}" for name in MEASURES)


def markdown_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| task | method | " + " | ".join(MEASURES) + " |", "| --- | --- | " + " | ".join("---:" for _ in MEASURES) + " |"]
    for task, methods in results.items():
        for method, row in methods.items():
            if method in METHODS:
                lines.append(f"| {task} | {method} | " + " | ".join(f"{row[m]:.4f}" for m in MEASURES) + " |")
    return "\n".join(lines)


def _backend(kind: str, settings: Settings, task: str, version) -> Backend:
    """The local backend, or Milvus with the task's index published into it (each task under its own
    collection prefix, so that publishing one task's index leaves the others' collections alone)."""
    if kind != "milvus":
        return LocalBackend(settings.lexical_engine)
    from index.milvus.sync import publish

    settings = replace(settings, milvus_collection=f"{settings.milvus_collection}_eval_{task.replace('-', '_')}")
    backend = MilvusBackend(settings)
    publish(version, settings, backend.client, progress=True)  # writes nothing where it is published already
    return backend


def main(argv: list[str] | None = None) -> int:
    setup_logging(0, logging.INFO)
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m search.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS, help="tasks to run (default: all)")
    parser.add_argument("--limit", type=int, help="queries per task, evenly spread (default: all)")
    parser.add_argument("--distractors", type=int, help="fa-qa: Fars News distractors kept (default: all 1,500)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods (default: all)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder (default %(default)s)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="built indexes (default %(default)s)")
    parser.add_argument("--model", default=settings.model, help="embedding model (env KAVOSH_MODEL)")
    parser.add_argument("--output", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the cached indexes and stop")
    parser.add_argument("--backend", choices=BACKENDS, default=settings.backend,
                        help="search the local files, or a Milvus copy of each index at KAVOSH_MILVUS_URI "
                             "(env KAVOSH_BACKEND; default %(default)s)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    embedder = Embedder.configured(args.model, settings)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.tasks:
        task = load_task(name, args.data, args.distractors)
        index_dir = cached_index(task, embedder, Chunking(), args.cache, progress=True, vector_index=settings.vector_index)
        if args.build_only:
            continue
        task.queries = _spread(task.queries, args.limit)
        engine = SearchEngine(open_index(index_dir), embedder, query_cache=len(task.queries),
                              backend=_backend(args.backend, settings, name, open_index(index_dir)),
                              stem_search=settings.stem_search)
        engine.embed_queries([query.text for query in task.queries])
        results[name] = run_task(task, engine, args.methods)
        results[name]["queries"] = {"count": len(task.queries), "articles": len(task.articles)}
    if args.build_only:
        return 0
    print(markdown_table(results))
    if args.output:
        report = {
            "command": "python -m search.evaluate " + " ".join(argv if argv is not None else sys.argv[1:]),
            "backend": args.backend,
            "model": embedder.name,
            "precision": embedder.precision,
            "fusion": asdict(DEFAULT_FUSION),
            "stems": settings.stem_search,
            "results": results,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
