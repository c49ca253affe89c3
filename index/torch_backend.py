"""The torch embedding backend: the sentence-transformers model, in fp32 or with bf16 weights.

Casting the weights to bf16 once beat ``torch.autocast``, which re-casts every weight on every call and
was barely faster than fp32 (see docs/benchmarks.md). Vectors leave this module as float32.
"""
from __future__ import annotations

import numpy as np
import torch
from sentence_transformers import SentenceTransformer


class TorchBackend:
    """A sentence-transformers model on CPU; ``bf16`` casts its weights once."""

    def __init__(self, model: str, bf16: bool) -> None:
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

    def encode_passages(self, texts: list[str], batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's pooled vector and its token vectors (padding removed), float32."""
        with torch.inference_mode():
            outputs = self.model.encode(texts, batch_size=batch_size, output_value=None, show_progress_bar=False)
        return [(output["sentence_embedding"].float().numpy(),
                 output["token_embeddings"][output["attention_mask"].bool()].float().numpy()) for output in outputs]
