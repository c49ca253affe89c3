"""Display names of category slugs per interface language, read from a labels file (KAVOSH_CATEGORY_LABELS)."""
from __future__ import annotations

import json
from pathlib import Path

from web.i18n import LANGUAGES


class CategoryLabels:
    """Slug → name in each language; a slug the file does not name is shown as it is written."""

    def __init__(self, names: dict[str, dict[str, str]]) -> None:
        self.names = names

    @classmethod
    def load(cls, path: Path) -> "CategoryLabels":
        """The labels in ``path``: a JSON object ``{"slug": {"fa": "…", "en": "…"}}`` (keys starting "_" are notes)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read the category labels file {path} (KAVOSH_CATEGORY_LABELS): {exc}") from None
        except ValueError as exc:
            raise ValueError(f"the category labels file {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"the category labels file {path} must hold a JSON object of slug → names")
        names = {}
        for slug, entry in data.items():
            if slug.startswith("_"):
                continue
            if not isinstance(entry, dict) or not all(isinstance(entry.get(lang, ""), str) for lang in LANGUAGES):
                raise ValueError(f"category {slug!r} in {path} must map languages ({', '.join(LANGUAGES)}) to names")
            names[slug] = {lang: entry[lang] for lang in LANGUAGES if entry.get(lang)}
        return cls(names)

    def label(self, slug: str, lang: str) -> str:
        return self.names.get(slug, {}).get(lang) or slug

    def all(self, slug: str) -> dict[str, str]:
        """The slug's name in every interface language (for the API)."""
        return {lang: self.label(slug, lang) for lang in LANGUAGES}


def category_labels() -> CategoryLabels:
    """The labels of the app answering this request."""
    from flask import current_app

    return current_app.extensions["kavosh_labels"]
