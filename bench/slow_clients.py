"""Slow clients against a server on 127.0.0.1: while N connections send their headers or bodies a few bytes
at a time (slowloris), other clients ask /healthz and /api/search; prints how many of those got answers
and how long they waited, and how many slow connections the server cut off.

    python -m bench.slow_clients --port 8000 [--slow 50] [--seconds 12]

Traffic goes to 127.0.0.1 only. Run it against scripts/serve.sh (nginx in front) and against plain
gunicorn to compare.
"""
from __future__ import annotations

import argparse
import http.client
import json
import select
import socket
import statistics
import threading
import time
from urllib.parse import quote

HOST = "127.0.0.1"
STEP_SECONDS = 0.5
GOOD_TIMEOUT = 5.0
QUERIES = ["تورم سالانه", "Lake Urmia", "آلودگی هوا", "oil exports"]


def slow_client(port: int, kind: str, seconds: float, outcome: list[str]) -> None:
    """Send a request a few bytes every STEP_SECONDS for at most ``seconds``; record whether the server cut it."""
    started = time.monotonic()
    try:
        with socket.create_connection((HOST, port), timeout=GOOD_TIMEOUT) as sock:
            if kind == "headers":
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
                piece = b"X-Slow: a\r\n"
            else:
                sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 4000\r\n\r\n{\"q\": \"")
                piece = b"a"
            while time.monotonic() - started < seconds:
                readable, _, _ = select.select([sock], [], [], STEP_SECONDS)
                if readable and not sock.recv(4096, socket.MSG_PEEK):
                    outcome.append(f"cut after {time.monotonic() - started:.1f} s")
                    return
                if readable:  # the server answered (e.g. 408) and will close
                    outcome.append(f"answered after {time.monotonic() - started:.1f} s")
                    return
                sock.sendall(piece)
    except OSError:
        outcome.append(f"cut after {time.monotonic() - started:.1f} s")
        return
    outcome.append("held to the end")


def good_request(port: int, path: str) -> tuple[int, float]:
    """One ordinary request: its status (0 when it failed or timed out) and how long it took."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=GOOD_TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    except OSError:
        return 0, time.monotonic() - started
    finally:
        conn.close()


def probe(port: int, slow: int = 50, seconds: float = 12.0) -> dict:
    """``slow`` slow clients (half slow headers, half slow bodies) for ``seconds``; meanwhile ordinary
    requests one after another, alternating /healthz and /api/search."""
    outcomes: list[str] = []
    threads = [threading.Thread(target=slow_client, args=(port, "headers" if i % 2 else "body", seconds, outcomes),
                                daemon=True) for i in range(slow)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # let every slow client connect and start dribbling
    answers: list[tuple[str, int, float]] = []
    deadline = time.monotonic() + seconds - 2.0
    while time.monotonic() < deadline:
        path = "/healthz" if len(answers) % 2 == 0 else "/api/search?k=3&q=" + quote(QUERIES[len(answers) % len(QUERIES)])
        status, took = good_request(port, path)
        answers.append((path.split("?")[0], status, took))
    for thread in threads:
        thread.join(seconds + GOOD_TIMEOUT)
    waits = [took for _, _, took in answers]
    return {
        "slow_clients": slow,
        "seconds": seconds,
        "requests": len(answers),
        "answered_200": sum(status == 200 for _, status, _ in answers),
        "by_path": {path: sum(1 for p, status, _ in answers if p == path and status == 200)
                    for path in ("/healthz", "/api/search")},
        "failed": [(path, status, round(took, 2)) for path, status, took in answers if status != 200],
        "median_s": round(statistics.median(waits), 3) if waits else None,
        "max_s": round(max(waits), 3) if waits else None,
        "slow_cut_by_server": sum(o.startswith(("cut", "answered")) for o in outcomes),
        "slow_held_to_the_end": sum(o == "held to the end" for o in outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="port of the server on 127.0.0.1")
    parser.add_argument("--slow", type=int, default=50, help="slow clients (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=12.0, help="how long they dribble (default %(default)s)")
    args = parser.parse_args()
    print(json.dumps(probe(args.port, args.slow, args.seconds), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
