"""The Milvus backend: one collection per rebuild, kept in line with each update by writing only changed rows (see docs/scale-out.md)."""
