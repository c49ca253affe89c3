"""The torch embedding backend: the sentence-transformers model, in fp32 or with bf16 weights.

Casting the weights to bf16 once beat ``torch.autocast``, which re-casts every weight on every call and
was barely faster than fp32 (see docs/benchmarks.md). Vectors leave this module as float32.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from index import precision


class TorchBackend:
    """A sentence-transformers model on CPU; ``bf16`` casts its weights once."""

    def __init__(self, model: str, bf16: bool) -> None:
        if precision.threads():  # set before torch was loaded (a Ray actor)
            torch.set_num_threads(precision.threads())
        self.model = SentenceTransformer(model, device="cpu")
        if bf16:
            self.model.to(torch.bfloat16)
        self.tokenizer = self.model.tokenizer
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.prompts: dict[str, str] = dict(self.model.prompts or {})

    def encode_queries(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Pooled (not normalized) float32 vectors of ``texts``, prompts already prepended."""
        with torch.inference_mode():
            vectors = self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
        return vectors.float().numpy().reshape(len(texts), self.dimension)

    def warm_up(self) -> None:
        """Nothing to prepare: torch runs a query of any length on the model as loaded."""

    def release(self) -> None:
        """Kept: the weights are the model here, and loading them again would cost seconds (int8 gives its compiled
        models back)."""

    @property
    def token_core(self) -> Any:
        """The fast tokenizer's Rust core, which the cutting workers count with (None for a slow tokenizer)."""
        return getattr(self.tokenizer, "backend_tokenizer", None)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens of each text, without special tokens (every token: no truncation)."""
        return [len(ids) for ids in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def encode_passages(self, texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each text's pooled vector, its token vectors (padding removed), float32, and each token's (start, end)
        character offsets in the text ((0, 0) for special tokens)."""
        with torch.inference_mode():
            outputs = self.model.encode(texts, batch_size=batch_size, output_value=None, show_progress_bar=False)
        offsets = self.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                                 max_length=self.max_tokens)["offset_mapping"]
        return [(output["sentence_embedding"].float().numpy(),
                 output["token_embeddings"][output["attention_mask"].bool()].float().numpy(),
                 np.array(spans, dtype=np.int64).reshape(-1, 2)) for output, spans in zip(outputs, offsets)]
