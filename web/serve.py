"""``python -m web.serve`` (what ``scripts/serve.sh`` runs): the production server, nginx in front of gunicorn.

nginx listens on KAVOSH_HOST:KAVOSH_PORT and hands complete requests to gunicorn on
127.0.0.1:KAVOSH_BACKEND_PORT; both run in the foreground as children of this process, and Ctrl-C or
SIGTERM stops both (so does either of them exiting). The nginx configuration is deploy/nginx.conf,
filled in from settings.py into a run folder that is removed on exit.
"""
from __future__ import annotations

import argparse
import grp
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from html import escape
from pathlib import Path

from settings import PROJECT_ROOT, Settings
from web.app import SECURITY_HEADERS
from web.errors import MAX_BODY_BYTES

log = logging.getLogger(__name__)

TEMPLATE = PROJECT_ROOT / "deploy" / "nginx.conf"
ERRORS_PREFIX = "/.kavosh-errors/"
STOP_SECONDS = 35  # gunicorn's graceful timeout is 30 s
# errors nginx answers itself; 494 is nginx's code for "request headers too large" (sent as 431 here)
NGINX_ERRORS = {
    400: (400, "the request could not be read (malformed request line, headers or chunked body); check how it is encoded"),
    408: (408, "the request was not sent in time; send it again"),
    413: (413, f"the request body is larger than {MAX_BODY_BYTES} bytes"),
    414: (414, "the URL is too long; send long queries in a POST /api/search body"),
    494: (431, "the request headers are too large"),
    502: (502, "the search service is not running right now; try again in a moment"),
    504: (504, "the search service took too long to answer; try again"),
}


def nginx_program(settings: Settings) -> str | None:
    """The nginx executable named by settings (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which(settings.nginx) or shutil.which(settings.nginx, path="/usr/sbin:/usr/local/sbin")


def render_config(settings: Settings, run_dir: Path) -> str:
    """deploy/nginx.conf with its placeholders filled from ``settings``."""
    user_line = ""
    if os.geteuid() == 0:  # only root can switch users; workers then drop to an unprivileged one
        group = grp.getgrgid(pwd.getpwnam(settings.nginx_user).pw_gid).gr_name
        user_line = f"user {settings.nginx_user} {group};"
    values = {
        "RUN_DIR": str(run_dir),
        "USER_LINE": user_line,
        "CLIENT_TIMEOUT": str(settings.client_timeout),
        "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "BACKEND": f"127.0.0.1:{settings.backend_port}",
        "LISTEN": f"{settings.host}:{settings.port}" if ":" not in settings.host else f"[{settings.host}]:{settings.port}",
        "SECURITY_HEADERS": _security_headers(),
        "SERVER_ERROR_PAGES": _error_pages("json", 8),
        "JSON_ERROR_PAGES": _error_pages("json", 12),
        "HTML_ERROR_PAGES": _error_pages("html", 12),
        "ERROR_LOCATIONS": _error_locations(),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _security_headers() -> str:
    lines = [f"        proxy_hide_header {name};" for name in SECURITY_HEADERS]
    lines += [f"        add_header {name} {_quoted(value)} always;" for name, value in SECURITY_HEADERS.items()]
    return "\n".join(lines)


def _error_pages(kind: str, indent: int) -> str:
    # URIs, not named locations: nginx cannot redirect to a named location before it has read a request line
    return "\n".join(f"{' ' * indent}error_page {code} {'' if code == status else f'={status} '}{ERRORS_PREFIX}{kind}/{code};"
                     for code, (status, _) in NGINX_ERRORS.items())


def _error_locations() -> str:
    """One internal location per error and kind: JSON in the API's error shape, or a small page."""
    blocks = []
    for code, (status, message) in NGINX_ERRORS.items():
        body = json.dumps({"error": {"status": status, "message": message}}, ensure_ascii=False)
        page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status}</title>"
                f"<h1>{status}</h1><p>{escape(message)}</p><p><a href=/>Kavosh</a></p></html>")
        for kind, content_type, text in (("json", "application/json", body), ("html", "text/html; charset=utf-8", page)):
            blocks.append(f"        location = {ERRORS_PREFIX}{kind}/{code} {{\n            internal;\n"
                          f"            default_type {_quoted(content_type)};\n            return {status} {_quoted(text)};\n"
                          f"        }}")
    return "\n".join(blocks)


def prepare_run_dir(settings: Settings) -> Path:
    """A private folder for the configuration, pid file and nginx's temporary files."""
    run_dir = Path(tempfile.mkdtemp(prefix="kavosh-nginx-"))
    run_dir.chmod(0o711)  # workers running as nginx_user must reach their temporary folders inside it
    (run_dir / "nginx.conf").write_text(render_config(settings, run_dir))
    return run_dir


def start(settings: Settings, run_dir: Path, nginx: str) -> tuple[subprocess.Popen, subprocess.Popen]:
    """gunicorn (behind, on loopback) and nginx (in front), both in the foreground; nginx's configuration is
    checked first so that a mistake is reported before anything listens."""
    conf = run_dir / "nginx.conf"
    check = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(run_dir), "-c", str(conf)],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx refuses its configuration {conf}:\n{check.stderr.strip()}")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    backend = subprocess.Popen([str(gunicorn), "--bind", f"127.0.0.1:{settings.backend_port}", "web.app:create_app()"],
                               cwd=PROJECT_ROOT)
    front = subprocess.Popen([nginx, "-e", "stderr", "-p", str(run_dir), "-c", str(conf)], cwd=run_dir)
    return backend, front


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each (gunicorn finishes its requests; nginx stops at once), SIGKILL after STOP_SECONDS."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop in %d s; killing it", process.pid, STOP_SECONDS)
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m web.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--print-config", action="store_true", help="print the filled-in nginx configuration and exit")
    args = parser.parse_args(argv)
    if settings.backend_port == settings.port:
        parser.error(f"KAVOSH_BACKEND_PORT must differ from KAVOSH_PORT ({settings.port}): nginx listens there")
    if args.print_config:
        print(render_config(settings, Path(tempfile.gettempdir()) / "kavosh-nginx-RUN"))
        return 0
    nginx = nginx_program(settings)
    if nginx is None:
        print(f"error: nginx not found ({settings.nginx!r}); install it (apt-get install nginx) or set KAVOSH_NGINX",
              file=sys.stderr)
        return 1
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    run_dir = prepare_run_dir(settings)
    processes: list[subprocess.Popen] = []
    try:
        processes = list(start(settings, run_dir, nginx))
        log.info("serving on http://%s:%d (nginx) -> 127.0.0.1:%d (gunicorn)", settings.host, settings.port,
                 settings.backend_port)
        while not stopping.wait(0.5):
            ended = [p for p in processes if p.poll() is not None]
            if ended:
                names = {processes[0].pid: "gunicorn", processes[-1].pid: "nginx"}
                print(f"error: {names[ended[0].pid]} exited with status {ended[0].returncode}; stopping",
                      file=sys.stderr)
                return 1
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        stop(processes)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
