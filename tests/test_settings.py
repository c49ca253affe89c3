"""Settings from the environment: gunicorn's sizing is read and checked in settings.py like the rest."""
from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

from settings import Settings

GUNICORN_CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def test_gunicorn_sizing_comes_from_the_environment() -> None:
    s = Settings.from_env({"KAVOSH_WORKERS": "3", "KAVOSH_THREADS": "4", "KAVOSH_TORCH_THREADS": "2",
                           "KAVOSH_ACCESS_LOG": "-"})
    assert (s.workers, s.threads, s.torch_threads, s.access_log) == (3, 4, 2, "-")


def test_torch_threads_default_shares_the_cores_among_the_workers() -> None:
    cores = os.cpu_count() or 2
    s = Settings.from_env({"KAVOSH_WORKERS": "1"})
    assert s.torch_threads == cores
    assert Settings.from_env({"KAVOSH_WORKERS": str(cores + 1)}).torch_threads == 1
    assert Settings.from_env({}).access_log is None and Settings.from_env({"KAVOSH_ACCESS_LOG": ""}).access_log is None


@pytest.mark.parametrize("name", ["KAVOSH_WORKERS", "KAVOSH_THREADS", "KAVOSH_TORCH_THREADS"])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "²", ""])
def test_bad_gunicorn_sizes_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_gunicorn_conf_uses_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"KAVOSH_WORKERS": "3", "KAVOSH_THREADS": "1", "KAVOSH_TORCH_THREADS": "5",
                        "KAVOSH_ACCESS_LOG": "/tmp/access.log", "KAVOSH_PORT": "8123"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KAVOSH_HOST", raising=False)
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert (conf["workers"], conf["threads"], conf["torch_threads"]) == (3, 1, 5)
    assert conf["accesslog"] == "/tmp/access.log" and conf["bind"] == "127.0.0.1:8123"


@pytest.mark.parametrize("operator_setting", [None, "3"])
def test_request_threads_run_every_thread_pool_at_the_workers_share_of_the_cores(operator_setting) -> None:
    """OpenMP and BLAS runtimes read their thread count when they load: gunicorn.conf.py sets it before anything
    loads one (hazm loads numpy and its OpenBLAS; the app, FAISS), so a thread gthread starts later (a request's)
    sees the worker's share, not the machine's width, in every runtime. An operator's own OMP_NUM_THREADS is kept."""
    import json
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(KAVOSH_WORKERS="2", KAVOSH_TORCH_THREADS="1", **({"OMP_NUM_THREADS": operator_setting}
                                                                if operator_setting else {}))
    script = (f"import json, runpy, threading; runpy.run_path({str(GUNICORN_CONF)!r}); import faiss, threadpoolctl; "
              "seen = []; t = threading.Thread(target=lambda: seen.extend([p['internal_api'], p['num_threads']] "
              "for p in threadpoolctl.threadpool_info())); t.start(); t.join(); print(json.dumps(seen))")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                         cwd=GUNICORN_CONF.parent)
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"openblas", "openmp"} <= {api for api, _ in pools}  # numpy's BLAS and FAISS's OpenMP at least
    if operator_setting is None:
        assert {threads for _, threads in pools} == {1}
    else:  # OpenBLAS caps its count at the cores; OpenMP takes the operator's as given
        assert {threads for api, threads in pools if api == "openmp"} == {3}
