"""gunicorn settings for ``gunicorn 'web.app:create_app()'`` (read from the working directory automatically).

Sized for a 2-core machine: one query at a time per core, two threads per worker, the app preloaded and
frozen out of the garbage collector (why: docs/design.md; figures: docs/benchmarks.md). Settings come
from settings.py (KAVOSH_HOST, KAVOSH_PORT, KAVOSH_WORKERS, KAVOSH_THREADS, KAVOSH_TORCH_THREADS,
KAVOSH_ACCESS_LOG).
"""
import gc
import os

from settings import Settings

_settings = Settings.from_env()
# The threads of every OpenMP and BLAS runtime (FAISS's, numpy's OpenBLAS, the ones hazm's dependencies load), read
# once when each is loaded: so set before anything below imports numpy. Left to their default, the width of the
# machine, each request thread's vector search and matrix products woke a team whose idle members spun, and a
# worker spent about twice the CPU time a search needed (docs/benchmarks.md, "Sentence vectors read, not mapped").
# A request is one query: one thread each is all it uses.
os.environ.setdefault("OMP_NUM_THREADS", str(_settings.torch_threads))

from index import persian  # noqa: E402 (after the thread counts above: hazm loads numpy)

persian.load()  # before the app: gunicorn reads this file before it imports the app (see index.persian.load)

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
preload_app = True
timeout = 60
graceful_timeout = 30
keepalive = 5
limit_request_line = 8190  # a 1,000-character Persian query is ~6 KB percent-encoded in a GET
accesslog = _settings.access_log
errorlog = "-"
loglevel = "info"
proc_name = "kavosh-web"
reload = False

torch_threads = _settings.torch_threads


def pre_fork(server, worker):
    """Read what the engine reads lazily (``SearchEngine.prepare``) and the keyboard-layout check's Persian word
    list in the master (once: all are cached), so every worker shares them and no worker's first query builds
    them (the word list took 0.5-1 s of each worker's first search: docs/benchmarks.md); then move everything
    the master loaded (model, index, hazm's word lists) out of the garbage collector's sight: a full collection
    over them stalls a request and unshares the workers' pages (docs/design.md)."""
    from search.layout import persian_words
    from web.holder import engine_holder

    engine = engine_holder(server.app.wsgi()).engine
    if engine is not None:
        engine.prepare()
    persian_words()
    gc.freeze()


def post_fork(server, worker):
    """The model's thread pool, sized before the worker runs any model code (FAISS's is sized by
    ``OMP_NUM_THREADS`` above, for every thread of the worker)."""
    from index.precision import set_threads

    set_threads(torch_threads)  # torch's where the model is torch's; an int8 worker imports no torch for it


def post_worker_init(worker):
    """One warm-up query per worker so that the first user does not pay for lazy initialisation, and the query
    model prepared for every query length it runs on (``Embedder.warm_up``)."""
    from web.holder import engine_holder

    holder = engine_holder(worker.wsgi)
    if holder.engine is not None:
        try:
            holder.engine.embedder.warm_up()
            holder.engine.search("warm up", k=1)
        except Exception as exc:  # a warm-up failure must not stop the worker; requests will report it
            worker.log.warning("warm-up query failed: %s", exc)
    gc.freeze()  # the engine's lookup tables, built by the warm-up, live as long as the worker
