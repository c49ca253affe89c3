"""Passage vectors behind one interface (:mod:`index.vectors.base`), one module per backend."""
