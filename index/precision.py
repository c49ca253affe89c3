"""Which arithmetic the embedding model runs in: fp32, bf16 weights (torch) or int8 (OpenVINO).

``KAVOSH_PRECISION=auto`` picks int8 where it is faster and keeps quality: a CPU with VNNI int8 dot products,
OpenVINO installed and a local model folder to make the int8 models from. Measured here, in one benchmark run
against bf16: passages 1.8x, queries 2.7x faster, every shared task within 0.003 MRR@10 (docs/benchmarks.md).
Elsewhere, and whenever ``KAVOSH_BF16`` is forced on or off, it keeps the torch path. The int8 models are made
from the local folder, never downloaded.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_threads: int | None = None  # this process's share of the cores, where a gunicorn worker or a Ray actor set one


def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), where bf16 weights pay off."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX), where int8 pays off."""
    flags = _cpu_flags()
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def int8_runtime_installed() -> bool:
    """True when OpenVINO and NNCF (to make the int8 models) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "nncf"))


def choose_precision(precision: str, bf16: str, local_model: bool) -> str:
    """The precision to run: ``fp32``, ``bf16`` or ``int8``, from the settings and this machine.

    An explicit ``int8`` that cannot run is an error naming the setting, not a silent fallback."""
    if precision == "int8":
        if not int8_runtime_installed():
            raise RuntimeError("KAVOSH_PRECISION=int8 needs openvino and nncf (pip install -r requirements.txt); "
                               "or set KAVOSH_PRECISION to auto, bf16 or fp32")
        if not local_model:
            raise RuntimeError("KAVOSH_PRECISION=int8 needs a local model folder (KAVOSH_MODEL) or the default "
                               "model; the int8 model is made from that folder, never downloaded")
        return "int8"
    if precision in ("fp32", "bf16"):
        return precision
    if precision != "auto":
        raise ValueError(f"KAVOSH_PRECISION must be auto, fp32, bf16 or int8, not {precision!r}")
    if bf16 == "auto" and local_model and cpu_has_vnni() and int8_runtime_installed():
        return "int8"
    return "bf16" if bf16 == "on" or (bf16 == "auto" and cpu_has_bf16()) else "fp32"


def set_threads(count: int) -> None:
    """Give this process's model ``count`` threads (a gunicorn worker's or a Ray actor's share of the cores): torch's
    setting where torch is loaded (a torch backend sets it on loading otherwise), OpenVINO's when the int8 model is
    compiled. torch is not imported for it: an int8 process never needs torch."""
    global _threads
    _threads = count
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)


def threads() -> int | None:
    """The count :func:`set_threads` gave, or None (then each runtime's own default: the cores)."""
    return _threads
