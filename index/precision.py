"""Which arithmetic the embedding model runs in: fp32, bf16 weights (torch) or int8 (ONNX Runtime).

``KAVOSH_PRECISION=auto`` keeps the torch path, with bf16 weights as ``KAVOSH_BF16`` says: int8 is chosen
only explicitly until its quality on all four shared tasks is measured (docs/benchmarks.md). The int8
model is made from a local model folder, never downloaded.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), where bf16 weights pay off."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def int8_runtime_installed() -> bool:
    """True when ONNX Runtime and onnx (to make the int8 model) can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def choose_precision(precision: str, bf16: str, local_model: bool) -> str:
    """The precision to run: ``fp32``, ``bf16`` or ``int8``, from the settings and this machine.

    An explicit ``int8`` that cannot run is an error naming the setting, not a silent fallback."""
    if precision == "int8":
        if not int8_runtime_installed():
            raise RuntimeError("KAVOSH_PRECISION=int8 needs onnxruntime and onnx (pip install -r requirements.txt); "
                               "or set KAVOSH_PRECISION to auto, bf16 or fp32")
        if not local_model:
            raise RuntimeError("KAVOSH_PRECISION=int8 needs a local model folder (KAVOSH_MODEL) or the default "
                               "model; the int8 model is made from that folder, never downloaded")
        return "int8"
    if precision in ("fp32", "bf16"):
        return precision
    if precision != "auto":
        raise ValueError(f"KAVOSH_PRECISION must be auto, fp32, bf16 or int8, not {precision!r}")
    return "bf16" if bf16 == "on" or (bf16 == "auto" and cpu_has_bf16()) else "fp32"
