"""Fault injection for the crash tests: named points where a write can be killed as by a power cut."""
from __future__ import annotations

import os
import signal

from settings import crash_at


def crash_point(name: str) -> None:
    """``KAVOSH_CRASH_AT=name`` kills the process here with SIGKILL, exactly as a power cut or the OOM
    killer would."""
    if crash_at() == name:
        os.kill(os.getpid(), signal.SIGKILL)
