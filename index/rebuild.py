"""``python -m index.rebuild SOURCE...``: read articles, embed them and switch the index to the new version.

The live index changes only when the new version is complete and verified; an error or Ctrl-C
leaves it as it was. Finished shards are kept, so running it again with the same sources resumes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from index.articles import IngestReport
from index.cli import add_source_options, nothing_read, publish, run
from index.distributed import add_ray_arguments, embedding_from_args
from index.passages import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS
from index.staging import stage_articles
from index.store import index_lock, remove_leftovers
from settings import Settings


def parse_args(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m index.rebuild", description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="article files (.json, .jsonl, .csv) or folders (.txt, .md)")
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="index folder (env KAVOSH_INDEX; default %(default)s)")
    parser.add_argument("--model", default=settings.model, help="sentence-transformers model name or folder (env KAVOSH_MODEL; default %(default)s)")
    parser.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="passage size in model tokens (default %(default)s)")
    parser.add_argument("--overlap-tokens", type=int, default=DEFAULT_OVERLAP_TOKENS, help="tokens repeated between passages (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="passages per model batch (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_source_options(parser)
    add_ray_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    args = parse_args(argv, settings)
    return run(lambda: rebuild(args, settings))


def rebuild(args: argparse.Namespace, settings: Settings) -> int:
    with index_lock(args.index), logging_redirect_tqdm():
        # torch and the model load only once the lock is held: a second run is refused at once, not after them
        from index.embedder import Embedder
        from index.pipeline import Chunking, build_index

        chunking = Chunking(args.max_tokens, args.overlap_tokens)
        remove_leftovers(args.index)
        report = IngestReport()
        # the articles wait on disk, not in memory, and are read back a shard at a time
        with stage_articles(args.sources, args.index, report, follow_links=args.follow_links,
                            include_hidden=args.include_hidden, progress=not args.quiet) as articles:
            if not articles:
                return nothing_read(report)
            embedder = Embedder(args.model, settings.model_cache, settings.bf16, args.batch_size, settings.precision)
            with embedding_from_args(args, embedder, settings.model_cache) as embed_passages:
                result = build_index(articles, args.index, embedder, chunking, progress=not args.quiet,
                                     embed_passages=embed_passages, vector_index=settings.vector_index,
                                     shard_articles=settings.shard_articles, cut_workers=settings.cut_workers,
                                     release_model=True)
        publish(args.index, settings, progress=not args.quiet)
    print(report.summary(indexed=result.articles))
    print(
        f"passages: {result.passages} from {result.articles} articles; "
        f"embedding {result.embed_seconds:.1f} s ({result.passages_per_second:.1f} passages/s), "
        f"cutting {result.chunk_seconds:.1f} s, writing {result.write_seconds:.1f} s\n"
        f"live index: {result.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
