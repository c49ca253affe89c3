"""The E5S1 tensors as an ``XLMRobertaModel`` state dict: Q4_0 dequantization and the parameter names."""

from __future__ import annotations

import numpy as np

from index.model_import.e5s1 import DTYPE_Q4, LAYER_MAP, QK, Q4_BLOCK, E5S1File, Tensor, expected_tensors


def dequantize_q4(data: bytes, t: Tensor, shape: tuple[int, int]) -> np.ndarray:
    """Dequantize Q4_0 blocks: byte j holds weight j (low nibble) and j+16 (high nibble)."""
    nblocks = t.n // QK
    blocks = np.frombuffer(data, dtype=Q4_BLOCK, count=nblocks, offset=t.offset)
    out = np.empty((nblocks, QK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk, bounds the temporaries for the 96M-weight embedding
    for a in range(0, nblocks, step):
        b = min(a + step, nblocks)
        qs, d = blocks["qs"][a:b], blocks["d"][a:b].astype(np.float32)[:, None]
        out[a:b, :16] = ((qs & 0x0F).astype(np.int8) - 8) * d
        out[a:b, 16:] = ((qs >> 4).astype(np.int8) - 8) * d
    return out.reshape(shape)


def f32(data: bytes, t: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """An fp32 tensor copied out of the file (so the file's bytes can be released)."""
    return np.frombuffer(data, dtype="<f4", count=t.n, offset=t.offset).reshape(shape).copy()


def state_dict(f: E5S1File) -> dict[str, np.ndarray]:
    """Map the file's tensors onto XLMRobertaModel parameter names (fp32, dequantized)."""
    H = f.hidden
    get = {}
    for name, shape, dtype in expected_tensors(f):
        t = f.tensors[name]
        get[name] = dequantize_q4(f.data, t, shape) if dtype == DTYPE_Q4 else f32(f.data, t, shape)
    # e5.c feeds position ids 0..L-1 into its table; HF RoBERTa uses padding_idx + 1 + i = 2 + i.
    pos = np.zeros((f.max_positions + 2, H), dtype=np.float32)
    pos[2:] = get["emb.pos"]
    sd = {
        "embeddings.word_embeddings.weight": get["emb.word"],
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": get["emb.type"],
        "embeddings.LayerNorm.weight": get["emb.ln.w"],
        "embeddings.LayerNorm.bias": get["emb.ln.b"],
        # not in the file and unused by mean pooling; zeros keep the checkpoint complete
        "pooler.dense.weight": np.zeros((H, H), dtype=np.float32),
        "pooler.dense.bias": np.zeros((H,), dtype=np.float32),
    }
    for layer in range(f.layers):
        for suffix, hf in LAYER_MAP.items():
            sd[f"encoder.layer.{layer}.{hf}"] = get[f"l{layer}.{suffix}"]
    return sd
