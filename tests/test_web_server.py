"""The production server: gunicorn with the repository's gunicorn.conf.py (preloaded app, forked workers,
their hooks) serving the sample index as the README's first command does, answering in parallel and
stopping cleanly."""
from __future__ import annotations

import http.client
import json
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from bench.load_web import free_port, process_tree, start_gunicorn, wait_ready

GUNICORN = Path(sys.executable).with_name("gunicorn")

pytestmark = pytest.mark.skipif(not GUNICORN.is_file(), reason=f"gunicorn not installed beside {sys.executable}")


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    process = start_gunicorn(sample_index, port, {}, log)
    try:
        wait_ready("127.0.0.1", port, process, log, seconds=180)
        yield process, port, log
    except SystemExit as exc:  # how the benchmark's helper reports a server that never became ready
        pytest.fail(f"{exc}\n{log.read_text()[-3000:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_gunicorn_serves_the_sample_index_with_two_workers(server):
    process, port, _ = server
    deadline = time.monotonic() + 30  # gunicorn forks its workers a moment apart; the first may answer alone
    while len(process_tree(process.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(process_tree(process.pid)) == 3  # the master and two workers
    status, headers, body = _get(port, "/api/search?q=" + quote("آلودگی هوا و تعطیلی مدارس") + "&k=3")
    assert status == 200
    assert "default-src" in headers["Content-Security-Policy"]
    results = json.loads(body)["results"]
    assert results[0]["article_id"] == "fa-014"
    status, _, body = _get(port, "/?q=" + quote("oil exports from Jask"))
    assert status == 200 and "صادرات نفت از پایانه جاسک" in body.decode()


def test_gunicorn_answers_parallel_searches_without_errors(server):
    _, port, _ = server
    queries = ["تورم سالانه", "Lake Urmia", "کتاب تهران", "taxi", "کشتی آزاد", "snow Chalus", "دلار", "diabetes"] * 4
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda q: _get(port, "/api/search?q=" + quote(q) + "&k=5"), queries))
    assert [status for status, _, _ in answers] == [200] * len(queries)
    assert all(json.loads(body)["results"] for _, _, body in answers)


def _post_chunked(port: int, chunks: list[bytes]) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/api/search", body=iter(chunks), headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_is_refused_not_cut(server):
    _, port, _ = server
    status, body = _post_chunked(port, [b'{"q": "tea", "x": "'] + [b"a" * 10_000] * 7 + [b'"}'])
    assert status == 413 and "larger than 65536 bytes" in body["error"]["message"]
    status, body = _post_chunked(port, [b'{"q": "tea", ', b'"k": 2}'])  # chunked within the limit is fine
    assert status == 200 and len(body["results"]) == 2


def test_a_malformed_chunked_body_is_a_400_naming_it(server):
    _, port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n")
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 400")
    assert "Invalid chunk size" in json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["message"]


def test_gunicorn_stops_cleanly_on_sigterm(server):
    process, _, log = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    text = log.read_text()
    assert "Traceback" not in text and "Shutting down: Master" in text
