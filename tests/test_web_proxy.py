"""The production setup (scripts/serve.sh: nginx in front of gunicorn) facing hostile traffic: slow clients
do not stop others, nginx answers malformed or oversized requests itself as JSON with the security headers,
and SIGTERM stops both servers. All traffic goes to 127.0.0.1."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.load_web import free_port, process_tree, wait_ready
from bench.slow_clients import probe
from settings import PROJECT_ROOT, Settings
from web.serve import nginx_program

pytestmark = [
    pytest.mark.skipif(nginx_program(Settings()) is None, reason="nginx is not installed (apt-get install nginx)"),
    pytest.mark.slow,  # starts nginx and gunicorn with the model; the slow-client probe runs ~12 s
]


@pytest.fixture(scope="module")
def served(sample_index: Path, tmp_path_factory: pytest.TempPathFactory):
    port, backend = free_port(), free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "KAVOSH_INDEX": str(sample_index), "KAVOSH_HOST": "127.0.0.1", "KAVOSH_PORT": str(port),
           "KAVOSH_BACKEND_PORT": str(backend), "KAVOSH_CLIENT_TIMEOUT": "4"}
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "-m", "web.serve"], cwd=PROJECT_ROOT, env=env,
                                   stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_ready("127.0.0.1", port, process, log, seconds=180)
        yield process, port, log
    except SystemExit as exc:
        pytest.fail(f"{exc}\n{log.read_text()[-3000:]}")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def raw_request(port: int, head: bytes, *pieces: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (malformed on purpose) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        for piece in pieces:
            try:
                sock.sendall(piece)
            except OSError:  # the server answered and closed before the rest was sent
                break
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    header, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = header.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_fifty_slow_clients_do_not_stop_other_clients(served):
    _, port, _ = served
    outcome = probe(port, slow=50, seconds=10.0)
    assert outcome["requests"] >= 20 and outcome["failed"] == []
    assert outcome["by_path"]["/healthz"] >= 10 and outcome["by_path"]["/api/search"] >= 10
    assert outcome["slow_cut_by_server"] >= 25  # the slow-header half is cut off after KAVOSH_CLIENT_TIMEOUT


POST_CHUNKED = (b"POST /api/search HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")


@pytest.mark.parametrize(("name", "head", "pieces", "status", "words"), [
    ("malformed chunked body", POST_CHUNKED + b"ZZZ\r\nhello\r\n0\r\n\r\n", (), 400, "could not be read"),
    ("chunked body over the limit", POST_CHUNKED + b'5\r\n{"q":\r\n',
     tuple(b"2710\r\n" + b"a" * 10_000 + b"\r\n" for _ in range(8)) + (b"0\r\n\r\n",), 413, "larger than 65536"),
    ("oversized header", b"GET /api/search?q=tea HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 40_000
     + b"\r\nConnection: close\r\n\r\n", (), 431, "headers are too large"),
    ("request line too long", b"GET /api/search?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n"
     b"Connection: close\r\n\r\n", (), 414, "URL is too long"),
    ("not HTTP at all", b"\x16\x03\x01\x02\x00garbage\r\n\r\n", (), 400, "could not be read"),
])
def test_requests_nginx_refuses_are_json_with_security_headers(served, name, head, pieces, status, words):
    _, port, _ = served
    got, headers, body = raw_request(port, head, *pieces)
    assert got == status, (name, body)
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["status"] == status and words in error["message"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["server"] == "nginx"  # no version number


def test_the_page_gets_an_html_error_and_the_apps_own_answers_pass_through(served):
    _, port, _ = served
    status, headers, body = raw_request(port, POST_CHUNKED.replace(b"/api/search", b"/") + b"ZZZ\r\n\r\n")
    assert status == 400 and headers["content-type"].startswith("text/html") and b"<h1>400</h1>" in body
    assert "content-security-policy" in headers
    status, headers, body = raw_request(port, b"GET /api/search?q=tea&k=zz HTTP/1.1\r\nHost: localhost\r\n"
                                              b"Connection: close\r\n\r\n")
    assert status == 400 and "k must be a whole number" in json.loads(body)["error"]["message"]
    assert headers["cache-control"] == "no-store"  # the app's own header, not replaced by nginx's error page


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_stops_nginx_and_gunicorn(served):
    process, port, log = served
    children = process_tree(process.pid)[1:]
    assert len(children) >= 4  # gunicorn master + 2 workers, nginx master + its workers
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not [pid for pid in children if running(pid)]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert "Traceback" not in log.read_text()
