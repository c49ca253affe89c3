"""A ``tokenizers`` pipeline that tokenizes as e5.c does: its normalizer, metaspace, Viterbi and one ``<unk>`` per unknown character."""

from __future__ import annotations

import logging

import numpy as np

from index.model_import.charsmap import precompiled_charsmap
from index.model_import.e5s1 import E5S1File

logger = logging.getLogger(__name__)

_META = "\u2581"
_SEP = "\ufdd0"  # a noncharacter, used as a transient separator inside the normalizer

# XLM-R special tokens and their ids (e5.c: bos=0, pad=1, eos=2, unk=3; <mask> is the last piece).
BOS, PAD, EOS, UNK, MASK = "<s>", "<pad>", "</s>", "<unk>", "<mask>"


def unknown_char_class(f: E5S1File) -> str:
    """A regex class matching every character that appears in no (non-special) piece."""
    specials = {f.bos, f.eos, f.pad, f.unk}
    chars: set[str] = set()
    for i, piece in enumerate(f.pieces):
        if i not in specials and piece != MASK:
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


def build_tokenizer(f: E5S1File):
    """A ``tokenizers.Tokenizer`` equivalent to e5.c's normalizer + metaspace + Viterbi."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    if f.pieces[f.bos] != BOS or f.pieces[f.eos] != EOS or f.pieces[f.unk] != UNK or f.pieces[f.pad] != PAD:
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
            normalizers.Precompiled(precompiled_charsmap(f.norm_map)),
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
            pre_tokenizers.Split(Regex(unknown_char_class(f)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="first", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        pair=f"{BOS} $A {EOS} {EOS} $B {EOS}",
        special_tokens=[(BOS, f.bos), (EOS, f.eos)],
    )
    specials = [BOS, PAD, EOS, UNK] + ([MASK] if MASK in f.pieces else [])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok
