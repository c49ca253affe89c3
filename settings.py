"""Configuration in one place: every setting a deployment changes comes from the environment."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
PROJECT_ROOT = Path(__file__).resolve().parent
_CORES = os.cpu_count() or 2
PRECISIONS = ("auto", "fp32", "bf16", "int8")  # KAVOSH_PRECISION: the embedding model's arithmetic
BACKENDS = ("faiss", "milvus")
VECTOR_INDEXES = ("auto", "flat", "ivf")  # KAVOSH_VECTOR_INDEX; index/vectors/factory.py holds the backends
STEM_SEARCH = ("auto", "on", "off")  # KAVOSH_STEMS; search/candidates.py says where auto searches stems
LEXICAL_ENGINES = ("auto", "fts5", "tantivy")  # KAVOSH_LEXICAL; search/backends.py says what auto picks


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def cache_dir() -> Path:
    """Kavosh's cache folder (``$XDG_CACHE_HOME/kavosh``, default ``~/.cache/kavosh``): models, evaluation data."""
    return _cache_home() / "kavosh"


@dataclass(frozen=True)
class Settings:
    """Deployment settings; build one with :meth:`from_env`."""

    index_dir: Path = PROJECT_ROOT / "var" / "index"
    model: str = DEFAULT_MODEL
    model_cache: Path = cache_dir() / "models"
    host: str = "127.0.0.1"
    port: int = 8000
    bf16: str = "auto"  # "auto": bf16 weights where the CPU computes bf16 natively; "on" / "off" force it
    category_labels: Path = PROJECT_ROOT / "web" / "category_labels.json"  # display names of category slugs
    # gunicorn (gunicorn.conf.py; why these defaults: docs/design.md)
    workers: int = min(2, _CORES)
    threads: int = 2
    torch_threads: int = max(1, _CORES // min(2, _CORES))  # the cores shared among the workers (torch or OpenVINO)
    access_log: str | None = None  # a file, or "-" for standard output; none by default
    # scripts/serve.sh: nginx listens on host:port, gunicorn behind it on 127.0.0.1:backend_port
    backend_port: int = 8001
    nginx: str = "nginx"  # the nginx program (a name on PATH or a path)
    nginx_user: str = "nobody"  # nginx's workers run as this user when it is started as root
    client_timeout: int = 10  # seconds a client may take to send its headers, or between two reads of its body

    precision: str = "auto"  # KAVOSH_PRECISION: embedding arithmetic (index/precision.py says what auto picks)
    backend: str = "faiss"  # where vectors and BM25 are searched: local files, or a Milvus server
    milvus_uri: str = str(PROJECT_ROOT / "var" / "milvus.db")  # a local *.db file runs Milvus Lite in-process
    milvus_token: str = field(default="", repr=False)  # "user:password" or an API key; empty for Milvus Lite
    milvus_collection: str = "kavosh"  # prefix of each version's collection; the live one is aliased "<prefix>_live"
    vector_index: str = "auto"  # "auto": exact below index.vectors.factory.ANN_THRESHOLD passages; "flat" / "ivf" force one
    stem_search: str = "auto"  # hybrid searches the stems field: "auto" below search.candidates.STEMS_UP_TO passages
    lexical_engine: str = "auto"  # BM25 from lexical.sqlite (FTS5) or lexical.tantivy: "auto" by size, see search.backends
    # a rebuild (index/checkpoints.py, index/cutting.py): articles per checkpointed shard, and processes that cut
    # them; 1 (cut in the rebuild's own process) until worker processes are measured to pay (docs/benchmarks.md)
    shard_articles: int = 500
    cut_workers: int = 1

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> "Settings":
        """Read KAVOSH_INDEX, KAVOSH_MODEL, KAVOSH_MODEL_CACHE, KAVOSH_HOST, KAVOSH_PORT, KAVOSH_BF16,
        KAVOSH_PRECISION, KAVOSH_WORKERS, KAVOSH_THREADS, KAVOSH_TORCH_THREADS, KAVOSH_ACCESS_LOG,
        KAVOSH_BACKEND_PORT, KAVOSH_NGINX, KAVOSH_NGINX_USER, KAVOSH_CLIENT_TIMEOUT,
        KAVOSH_BACKEND, KAVOSH_MILVUS_URI, KAVOSH_MILVUS_TOKEN, KAVOSH_MILVUS_COLLECTION, KAVOSH_VECTOR_INDEX,
        KAVOSH_STEMS, KAVOSH_LEXICAL, KAVOSH_SHARD_ARTICLES, KAVOSH_CUT_WORKERS and KAVOSH_CATEGORY_LABELS."""
        env = os.environ if environ is None else environ
        defaults = cls()
        port = _whole_number(env, "KAVOSH_PORT", defaults.port, 1, 65535)
        backend_port = _whole_number(env, "KAVOSH_BACKEND_PORT", defaults.backend_port, 1, 65535)
        bf16 = env.get("KAVOSH_BF16", defaults.bf16).lower()
        if bf16 not in {"auto", "on", "off"}:
            raise ValueError(f"KAVOSH_BF16 must be auto, on or off, not {bf16!r}")
        workers = _whole_number(env, "KAVOSH_WORKERS", defaults.workers, 1, 1024)
        precision = env.get("KAVOSH_PRECISION", defaults.precision).lower()
        if precision not in PRECISIONS:
            raise ValueError(f"KAVOSH_PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        backend = env.get("KAVOSH_BACKEND", defaults.backend).lower()
        if backend not in BACKENDS:
            raise ValueError(f"KAVOSH_BACKEND must be {' or '.join(BACKENDS)}, not {backend!r}")
        collection = env.get("KAVOSH_MILVUS_COLLECTION", defaults.milvus_collection)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,150}", collection):
            raise ValueError(f"KAVOSH_MILVUS_COLLECTION must be letters, digits and underscores, not {collection!r}")
        vector_index = env.get("KAVOSH_VECTOR_INDEX", defaults.vector_index).lower()
        if vector_index not in VECTOR_INDEXES:
            raise ValueError(f"KAVOSH_VECTOR_INDEX must be one of {', '.join(VECTOR_INDEXES)}, not {vector_index!r}")
        stem_search = env.get("KAVOSH_STEMS", defaults.stem_search).lower()
        if stem_search not in STEM_SEARCH:
            raise ValueError(f"KAVOSH_STEMS must be one of {', '.join(STEM_SEARCH)}, not {stem_search!r}")
        lexical_engine = env.get("KAVOSH_LEXICAL", defaults.lexical_engine).lower()
        if lexical_engine not in LEXICAL_ENGINES:
            raise ValueError(f"KAVOSH_LEXICAL must be one of {', '.join(LEXICAL_ENGINES)}, not {lexical_engine!r}")
        return cls(
            index_dir=Path(env.get("KAVOSH_INDEX", defaults.index_dir)),
            model=env.get("KAVOSH_MODEL", defaults.model),
            model_cache=Path(env.get("KAVOSH_MODEL_CACHE", defaults.model_cache)),
            host=env.get("KAVOSH_HOST", defaults.host),
            port=port,
            bf16=bf16,
            category_labels=Path(env.get("KAVOSH_CATEGORY_LABELS", defaults.category_labels)),
            workers=workers,
            threads=_whole_number(env, "KAVOSH_THREADS", defaults.threads, 1, 1024),
            torch_threads=_whole_number(env, "KAVOSH_TORCH_THREADS", max(1, _CORES // workers), 1, 1024),
            access_log=env.get("KAVOSH_ACCESS_LOG") or None,
            backend_port=backend_port,
            nginx=env.get("KAVOSH_NGINX", defaults.nginx),
            nginx_user=env.get("KAVOSH_NGINX_USER", defaults.nginx_user),
            client_timeout=_whole_number(env, "KAVOSH_CLIENT_TIMEOUT", defaults.client_timeout, 1, 3600),
            precision=precision,
            backend=backend,
            milvus_uri=env.get("KAVOSH_MILVUS_URI", defaults.milvus_uri),
            milvus_token=env.get("KAVOSH_MILVUS_TOKEN", defaults.milvus_token),
            milvus_collection=collection,
            vector_index=vector_index,
            stem_search=stem_search,
            lexical_engine=lexical_engine,
            shard_articles=_whole_number(env, "KAVOSH_SHARD_ARTICLES", defaults.shard_articles, 1, 10_000_000),
            cut_workers=_whole_number(env, "KAVOSH_CUT_WORKERS", defaults.cut_workers, 1, 1024),
        )


def _whole_number(env: os._Environ[str] | dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """An ASCII whole number in [low, high] (``str.isdigit`` alone would let "²" through to ``int``)."""
    text = env.get(name, str(default)).strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise ValueError(f"{name} must be a whole number between {low} and {high}, not {text!r}")
    return int(text)


def crash_at() -> str:
    """KAVOSH_CRASH_AT: the named write step where fault injection kills the process (the crash tests set
    it for a child process); read at each step, so it is not part of :class:`Settings`."""
    return os.environ.get("KAVOSH_CRASH_AT", "")
