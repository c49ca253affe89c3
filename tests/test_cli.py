"""The ``kavosh`` command: one entry point, shared options and exit codes, the same commands as ``python -m``."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from index.info import describe
from kavosh import cli
from settings import PROJECT_ROOT


def test_the_console_script_is_the_cli() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["kavosh"] == "kavosh.cli:main"


def test_help_lists_every_command_and_the_exit_statuses(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--help"])
    assert stopped.value.code == cli.EXIT_OK
    out = capsys.readouterr().out
    assert all(name in out for name in ("rebuild", "update", "search", "serve", "evaluate", "info"))
    assert f"{cli.EXIT_INTERRUPTED} interrupted" in out


def test_an_unknown_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["nonsense"])
    assert stopped.value.code == cli.EXIT_USAGE and "invalid choice" in capsys.readouterr().err


def test_info_through_the_shared_index_option(sample_index: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KAVOSH_INDEX", "/nowhere")  # the option wins over the environment (restored afterwards)
    assert cli.main(["--index", str(sample_index), "info", "--json"]) == cli.EXIT_OK
    facts = json.loads(capsys.readouterr().out)
    assert facts == json.loads(json.dumps(describe(sample_index)))
    assert facts["articles"] > 0 and sum(facts["categories"].values()) <= facts["articles"]
    assert facts["dates"]["first"] <= facts["dates"]["last"]


def test_a_missing_index_fails_with_a_message(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KAVOSH_INDEX", str(tmp_path))
    assert cli.main(["--index", str(tmp_path / "none"), "info"]) == cli.EXIT_FAILED
    assert "index.rebuild" in capsys.readouterr().err


def test_serve_is_the_production_server_and_dev_the_development_one(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--help"])
    assert stopped.value.code == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "usage: python -m web.serve" in out and "--print-config" in out and "--dev" in out
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--dev", "--help"])
    assert stopped.value.code == cli.EXIT_OK
    assert "usage: python -m web " in capsys.readouterr().out


def test_serve_prints_the_nginx_configuration_it_would_run(capsys) -> None:
    assert cli.main(["serve", "--print-config"]) == cli.EXIT_OK
    assert "proxy_pass" in capsys.readouterr().out


@pytest.mark.parametrize("verbosity", [0, 1])
def test_hazm_loading_on_first_use_is_quiet_unless_verbose(verbosity: int) -> None:
    """hazm is imported on first use, after logging is set up; gensim's messages as it loads are noise."""
    import subprocess
    import sys

    code = (f"from kavosh.cli import setup_logging; setup_logging({verbosity}); "
            "from index.persian import normalize; normalize('سلام')")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ("gensim" in done.stderr) == (verbosity > 0)
