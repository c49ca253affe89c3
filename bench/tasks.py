"""The options the Milvus benchmarks share: which evaluation task's index and queries they run on."""
from __future__ import annotations

import argparse
from pathlib import Path

from index.embedder import Embedder
from index.pipeline import Chunking
from search.evaluate import DEFAULT_CACHE, Task, cached_index, load_task

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--task`` and ``--distractors``."""
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="shared data (default ../shared/data)")
    parser.add_argument("--task", default="fa-qa", help="evaluation task whose index (and queries) are used")
    parser.add_argument("--distractors", type=int, default=300, help="fa-qa: Fars News distractors kept")


def task_index(args: argparse.Namespace, embedder: Embedder) -> tuple[Task, Path]:
    """The task the options name and its index folder, built into the evaluation cache when missing."""
    task = load_task(args.task, args.data, args.distractors)
    return task, cached_index(task, embedder, Chunking(), DEFAULT_CACHE, progress=True)
