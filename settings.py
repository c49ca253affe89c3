"""Configuration in one place: every setting a deployment changes comes from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
PROJECT_ROOT = Path(__file__).resolve().parent


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

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> "Settings":
        """Read KAVOSH_INDEX, KAVOSH_MODEL, KAVOSH_MODEL_CACHE, KAVOSH_HOST, KAVOSH_PORT, KAVOSH_BF16."""
        env = os.environ if environ is None else environ
        defaults = cls()
        port = env.get("KAVOSH_PORT", str(defaults.port))
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"KAVOSH_PORT must be a port number between 1 and 65535, not {port!r}")
        bf16 = env.get("KAVOSH_BF16", defaults.bf16).lower()
        if bf16 not in {"auto", "on", "off"}:
            raise ValueError(f"KAVOSH_BF16 must be auto, on or off, not {bf16!r}")
        return cls(
            index_dir=Path(env.get("KAVOSH_INDEX", defaults.index_dir)),
            model=env.get("KAVOSH_MODEL", defaults.model),
            model_cache=Path(env.get("KAVOSH_MODEL_CACHE", defaults.model_cache)),
            host=env.get("KAVOSH_HOST", defaults.host),
            port=int(port),
            bf16=bf16,
        )


def crash_at() -> str:
    """KAVOSH_CRASH_AT: the named write step where fault injection kills the process (the crash tests set
    it for a child process); read at each step, so it is not part of :class:`Settings`."""
    return os.environ.get("KAVOSH_CRASH_AT", "")
