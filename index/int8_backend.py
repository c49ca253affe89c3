"""The int8 embedding backend: the model's transformer quantized to int8, run by ONNX Runtime.

The ONNX graph ends at the last hidden state; mean pooling over the attention mask is done here, as the
sentence-transformers folder's Pooling module does (checked on load: only mean pooling is supported). Texts run
one at a time (no padding, so the mean over all tokens is the masked mean).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnxruntime
import tokenizers
import torch
from transformers import AutoTokenizer

from index.int8_model import ensure_int8_model

log = logging.getLogger(__name__)


def _pooling_mode(folder: Path) -> str:
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    pooling = next((m for m in modules if m["type"].endswith(".Pooling")), None)
    if pooling is None:
        return "none"
    config = json.loads((folder / pooling["path"] / "config.json").read_text(encoding="utf-8"))
    return ",".join(key[len("pooling_mode_"):] for key, on in config.items() if key.startswith("pooling_mode_") and on)


class Int8Backend:
    """Tokenizer and settings from the sentence-transformers folder; the forward pass from its int8 model."""

    def __init__(self, folder: str, cache_dir: Path) -> None:
        folder_path = Path(folder)
        mode = _pooling_mode(folder_path)
        if mode != "mean_tokens":
            raise ValueError(f"{folder}: int8 precision supports mean pooling only, this model pools by {mode!r}; "
                             "set KAVOSH_PRECISION to bf16 or fp32")
        model_file = ensure_int8_model(folder_path, cache_dir)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()  # the thread budget the torch path is given
        self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        st_config = json.loads((folder_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.max_tokens = int(st_config.get("max_seq_length") or self.tokenizer.model_max_length)
        st_extra = folder_path / "config_sentence_transformers.json"
        extra = json.loads(st_extra.read_text(encoding="utf-8")) if st_extra.is_file() else {}
        self.prompts: dict[str, str] = dict(extra.get("prompts") or {})
        self.dimension = int(json.loads((folder_path / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        self.core = self._core(self.tokenizer, self.max_tokens)
        log.info("int8 model %s on ONNX Runtime %s", model_file, onnxruntime.__version__)

    @staticmethod
    def _core(tokenizer: object, max_tokens: int) -> tokenizers.Tokenizer:
        """A copy of the fast tokenizer's Rust core that truncates at ``max_tokens`` and never pads: the same ids
        as calling the Hugging Face tokenizer with ``truncation=True``, without its Python wrapping (0.9 ms of a
        3.5 ms query here, docs/benchmarks.md)."""
        core = tokenizers.Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        core.enable_truncation(max_tokens)
        core.no_padding()
        return core

    def _hidden(self, text: str) -> np.ndarray:
        """The last hidden state of one text. One text per run: dynamic quantization scales activations per
        run, so in a batch a vector would depend on its batch-mates (and an update would differ from a rebuild)."""
        ids = np.array([self.core.encode(text).ids], dtype=np.int64)
        return self.session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]

    def encode_queries(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Mean-pooled (not normalized) float32 vectors of ``texts``, prompts already prepended."""
        vectors = [self._hidden(text).mean(axis=0) for text in texts]
        return np.array(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def encode_passages(self, texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's mean-pooled vector and its token vectors, float32."""
        encoded = []
        for text in texts:
            tokens = self._hidden(text).astype(np.float32)
            encoded.append((tokens.mean(axis=0), tokens))
        return encoded
