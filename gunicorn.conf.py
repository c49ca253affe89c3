"""gunicorn settings for ``gunicorn 'web.app:create_app()'`` (read from the working directory automatically).

Sized for a 2-core machine: each worker embeds one query at a time on its own core (torch and faiss
one thread each); two threads per worker let one request's network I/O overlap another's work (with 8
clients, 2 threads gave ~69 req/s against ~58 with 4 and ~55 with 1, see docs/benchmarks.md: more threads
only fight for the GIL). The app is preloaded, so the model and index are loaded once in the master and
shared copy-on-write by the workers.
Override with KAVOSH_WORKERS, KAVOSH_THREADS and KAVOSH_TORCH_THREADS.
"""
import gc
import os

from settings import Settings

_settings = Settings.from_env()
_cores = os.cpu_count() or 2

bind = f"{_settings.host}:{_settings.port}"
workers = int(os.environ.get("KAVOSH_WORKERS", min(2, _cores)))
threads = int(os.environ.get("KAVOSH_THREADS", 2))
worker_class = "gthread"
preload_app = True
timeout = 60
graceful_timeout = 30
keepalive = 5
limit_request_line = 8190  # a 1,000-character Persian query is ~6 KB percent-encoded in a GET
accesslog = os.environ.get("KAVOSH_ACCESS_LOG") or None
errorlog = "-"
loglevel = "info"
proc_name = "kavosh-web"
reload = False

torch_threads = int(os.environ.get("KAVOSH_TORCH_THREADS", max(1, _cores // workers)))


def pre_fork(server, worker):
    """Move everything the master loaded (model, index, hazm's word lists: ~470,000 objects) out of the
    garbage collector's sight. A full collection over them took ~260 ms, stalling whichever request
    triggered it, and wrote to every object's header, unsharing the workers' copy-on-write pages."""
    gc.freeze()


def post_fork(server, worker):
    """Per-worker thread pools, set before the worker runs any model code."""
    import faiss
    import torch

    torch.set_num_threads(torch_threads)
    faiss.omp_set_num_threads(1)


def post_worker_init(worker):
    """One warm-up query per worker so that the first user does not pay for lazy initialisation."""
    from web.holder import engine_holder

    holder = engine_holder(worker.wsgi)
    if holder.engine is not None:
        try:
            holder.engine.search("warm up", k=1)
        except Exception as exc:  # a warm-up failure must not stop the worker; requests will report it
            worker.log.warning("warm-up query failed: %s", exc)
    gc.freeze()  # the engine's lookup tables, built by the warm-up, live as long as the worker
