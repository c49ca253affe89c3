"""The int8 embedding backend: the model's transformer in int8, run by OpenVINO (index.int8_model makes it).

Two models of one graph: passages run the statically quantized one in padded batches (fixed scales, so a text's
vector does not depend on its batch-mates); a query runs alone on the model with int8 weights and per-token
activation scales (static scales clip short questions), compiled for its length rounded up (:data:`QUERY_WIDTHS`).
Everything is tokenized by the fast tokenizer's Rust core (the folder's ``tokenizer.json``), read without
transformers: counting, offsets and ids are the Hugging Face tokenizer's (tested), and an int8 process imports
neither transformers nor torch to get them.
The graph ends at the last hidden state; mean pooling over the attention mask is done here, as the
sentence-transformers folder's Pooling module does (checked on load: only mean pooling is supported).

Each model is compiled on first use in each process, so a server compiles only the query model and a worker
compiles its own (``warm_up``): gunicorn loads the app in its master and forks. Inference requests are per thread
(gunicorn's threads share an engine; one request serves one call at a time).
"""
from __future__ import annotations

import json
import logging
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import tokenizers

from index import precision
from index.int8_model import PASSAGE_MODEL, QUERY_MODEL, ensure_int8_model

log = logging.getLogger(__name__)

#: Passage batches are padded to a multiple of this many tokens. OpenVINO keeps state for each input shape it
#: has run; padded to the longest text alone, a rebuild ran ~200 widths and its memory grew shard after shard
#: (docs/benchmarks.md, "A real 10^6 rebuild"). The padding is masked: vectors are unchanged.
PAD_MULTIPLE = 16
#: A query of up to 32 tokens runs on the query model compiled for a fixed length, the first of these that holds it
#: (the padding masked: cosine to the unpadded vector ≥ 0.9999); a longer one on the model compiled for any length.
#: OpenVINO prepares a variable-length model again whenever the length changes, and a fixed length lets it plan
#: once: 0.3–1.8 ms less a query at one thread. Each length compiled holds about 45 MB more (docs/benchmarks.md,
#: "Queries on fixed lengths").
QUERY_WIDTHS = (8, 16, 32)


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
        self.models = ensure_int8_model(folder_path, cache_dir)
        self.folder = folder_path
        st_config = json.loads((folder_path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.tokenizer_config = _json(folder_path / "tokenizer_config.json")
        self.max_tokens = int(st_config.get("max_seq_length") or self.tokenizer_config.get("model_max_length") or 512)
        st_extra = folder_path / "config_sentence_transformers.json"
        extra = json.loads(st_extra.read_text(encoding="utf-8")) if st_extra.is_file() else {}
        self.prompts: dict[str, str] = dict(extra.get("prompts") or {})
        self.dimension = int(json.loads((folder_path / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        self.core = self._core(self.max_tokens)
        self._compiled: dict[tuple[str, int, int | None], object] = {}  # (model file, process id, length) -> compiled
        self._graphs: dict[tuple[str, int], object] = {}  # (model file, process id) -> the graph read for it
        self._lock = threading.Lock()
        self._requests = threading.local()

    @cached_property
    def token_core(self) -> tokenizers.Tokenizer:
        """The core again, neither truncating nor padding: what counting tokens for cutting passages reads, here
        and in the cutting workers (index.cutting)."""
        core = _sharing_model(self.core)
        core.no_truncation()
        return core

    @cached_property
    def padding_core(self) -> tokenizers.Tokenizer:
        """The core again, padding to the batch's longest rounded up to :data:`PAD_MULTIPLE`: for passages."""
        core = _sharing_model(self.core)
        core.enable_truncation(self.max_tokens)
        core.enable_padding(pad_id=self.pad_id, pad_token=self.pad_token, pad_to_multiple_of=PAD_MULTIPLE)
        return core

    @cached_property
    def pad_token(self) -> str:
        pad = self.tokenizer_config.get("pad_token") or "<pad>"
        return pad["content"] if isinstance(pad, dict) else str(pad)

    @cached_property
    def pad_id(self) -> int:
        return self.core.token_to_id(self.pad_token) or 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens of each text, without special tokens (every token: no truncation)."""
        return [len(encoding.ids) for encoding in self.token_core.encode_batch(list(texts), add_special_tokens=False)]

    def _core(self, max_tokens: int) -> tokenizers.Tokenizer:
        """The fast tokenizer's Rust core (read from the folder's ``tokenizer.json``, else copied from the Hugging
        Face tokenizer) truncating at ``max_tokens`` and never padding: the same ids as calling the Hugging Face
        tokenizer with ``truncation=True`` (tested), without its Python wrapping (0.9 ms of a 3.5 ms query here,
        docs/benchmarks.md)."""
        saved = self.folder / "tokenizer.json"
        if saved.is_file():
            core = tokenizers.Tokenizer.from_file(str(saved))
        else:  # a folder with a slow tokenizer's files only: transformers converts it
            from transformers import AutoTokenizer

            core = tokenizers.Tokenizer.from_str(AutoTokenizer.from_pretrained(str(self.folder)).backend_tokenizer.to_str())
        core.enable_truncation(max_tokens)
        core.no_padding()
        return core

    def _request(self, model: str, width: int | None = None) -> object:
        """This thread's inference request on this process's compiled ``model`` (compiled on first use), for inputs
        of ``width`` tokens (None: of any length).

        Objects inherited from the parent process are kept, never freed: their destructors would stop thread
        pools that only exist in the parent (an abort, "No such process")."""
        key = (model, os.getpid(), width)
        with self._lock:
            if key not in self._compiled:
                import openvino

                config = {"INFERENCE_PRECISION_HINT": "f32",  # for the layers left unquantized: faster than bf16 here
                          "PERFORMANCE_HINT": "LATENCY"}
                if precision.threads():  # a gunicorn worker's or a Ray actor's share; else OpenVINO's default, the cores
                    config["INFERENCE_NUM_THREADS"] = precision.threads()
                graph_key = (model, os.getpid())
                if graph_key not in self._graphs:  # read once: its lengths then share its weights as read (~20 MB each)
                    self._graphs[graph_key] = openvino.Core().read_model(str(self.models / model))
                graph = self._graphs[graph_key]
                length = openvino.Dimension(-1) if width is None else openvino.Dimension(width)
                graph.reshape({name: openvino.PartialShape([openvino.Dimension(-1), length])
                               for name in ("input_ids", "attention_mask")})
                self._compiled[key] = openvino.Core().compile_model(graph, "CPU", config)
                log.info("int8 model %s (%s tokens) on OpenVINO %s, %s threads", self.models / model, width or "any",
                         openvino.__version__, config.get("INFERENCE_NUM_THREADS", "default"))
            compiled = self._compiled[key]
        requests = getattr(self._requests, "by_key", None)
        if requests is None:
            requests = self._requests.by_key = {}
        if key not in requests:
            requests[key] = compiled.create_infer_request()
        return requests[key]

    def release(self) -> None:
        """Give back this process's compiled models and inference requests (the 1-layer model's alone held about
        500 MB); the next call compiles them again. A rebuild calls it before writing the version, which needs no
        model (docs/benchmarks.md, "A real 10^6 rebuild")."""
        with self._lock:
            for cache in (self._compiled, self._graphs):
                for key in [key for key in cache if key[1] == os.getpid()]:
                    del cache[key]
            self._requests = threading.local()

    def _hidden(self, model: str, ids: np.ndarray, mask: np.ndarray, width: int | None = None) -> np.ndarray:
        request = self._request(model, width)
        return np.asarray(request.infer({"input_ids": ids, "attention_mask": mask})[0], dtype=np.float32)

    def encode_queries(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Mean-pooled (not normalized) float32 vectors of ``texts``, prompts already prepended; each alone, padded
        to the first of :data:`QUERY_WIDTHS` that holds it (longer ones unpadded)."""
        vectors = []
        for text in texts:
            ids = self.core.encode(text).ids
            width = next((width for width in QUERY_WIDTHS if width >= len(ids)), None)
            tokens = np.full((1, width or len(ids)), self.pad_id, dtype=np.int64)
            tokens[0, :len(ids)] = ids
            mask = np.zeros_like(tokens)
            mask[0, :len(ids)] = 1
            vectors.append(self._hidden(QUERY_MODEL, tokens, mask, width)[0, :len(ids)].mean(axis=0))
        return np.array(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def warm_up(self) -> None:
        """Compile the query model for every one of :data:`QUERY_WIDTHS` and for any length in this process now
        (about 0.7 s each), not during some user's first query of that length: gunicorn's workers call it when
        they start."""
        for width in (*QUERY_WIDTHS, None):
            self._request(QUERY_MODEL, width)

    def encode_passages(self, texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each text's mean-pooled vector, its token vectors (float32) and each token's (start, end) character
        offsets in the text ((0, 0) for special tokens); ``batch_size`` texts per padded run."""
        encoded = []
        for start in range(0, len(texts), batch_size):
            batch = self.padding_core.encode_batch(texts[start:start + batch_size])
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            hidden = self._hidden(PASSAGE_MODEL, ids, mask)
            for row, length in enumerate(mask.sum(axis=1)):
                tokens = hidden[row, :length]
                offsets = np.array(batch[row].offsets[:length], dtype=np.int64).reshape(-1, 2)
                encoded.append((tokens.mean(axis=0), tokens, offsets))
        return encoded


def _sharing_model(core: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
    """A tokenizer giving ``core``'s tokens, with truncation and padding of its own, that shares ``core``'s model
    and pipeline instead of copying them: a copy of the multilingual model's tokenizer holds about 280 MB (its
    vocabulary's trie), and a rebuild used three (docs/benchmarks.md, "A real 10^6 rebuild")."""
    sibling = tokenizers.Tokenizer(core.model)
    for part in ("normalizer", "pre_tokenizer", "post_processor", "decoder"):
        if getattr(core, part) is not None:
            setattr(sibling, part, getattr(core, part))
    added = core.get_added_tokens_decoder()
    sibling.add_special_tokens([added[i] for i in sorted(added)])
    return sibling


def _json(path: Path) -> dict:
    """A JSON file of the model folder, or nothing where the folder lacks it."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
