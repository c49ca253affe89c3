"""The Milvus backend: each index version copied into its own collection, searched there (see docs/scale-out.md)."""
