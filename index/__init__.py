"""Index side: read articles, normalize, cut into passages, embed, and write an index folder."""
