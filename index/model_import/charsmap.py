"""A per-code-point normalization map encoded as a SentencePiece ``precompiled_charsmap`` (a double-array trie)."""

from __future__ import annotations

import struct

import numpy as np


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a per-code-point map as a SentencePiece ``precompiled_charsmap``.

    Layout: u32 trie size in bytes, a darts-clone double-array trie over the UTF-8 bytes of each
    source code point (value = offset of its replacement), then the NUL-terminated replacements.
    """
    normalized = bytearray()
    seen: dict[bytes, int] = {}
    trie: dict = {}
    for cp in sorted(norm_map):
        if 0xD800 <= cp <= 0xDFFF or cp == 0:
            continue  # never reachable from valid UTF-8 text
        rep = norm_map[cp].encode("utf-8")
        if rep not in seen:
            seen[rep] = len(normalized)
            normalized += rep + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = seen[rep]

    # Greedy double-array placement. Every node reserves slot 0 of its base (its leaf, or unused),
    # so a base is never shared (which would make a probe for an absent label hit a sibling).
    units: list[int] = [0]
    used = bytearray(b"\x01")  # position 0 is the root
    skip: list[int] = [1]  # union-find "next possibly free position" links over used positions

    def ensure(n: int) -> None:
        if n > len(units):
            units.extend([0] * (n - len(units)))
            skip.extend(range(len(used), n))
            used.extend(bytes(n - len(used)))

    def next_free(i: int) -> int:
        root = i
        while root < len(used) and used[root]:
            root = skip[root]
        while i < root:  # path compression
            nxt = skip[i]
            skip[i] = root
            i = nxt
        return root

    queue = [(trie, 0, 0)]  # (node, position, label)
    while queue:
        node, p, label = queue.pop()
        labels = sorted(k for k in node if k is not None)
        base = next_free(1)
        while True:
            ensure((base | 0xFF) + 1)
            if (p ^ base) < (1 << 21) and all(not used[base ^ c] for c in labels):
                break
            base = next_free(base + 1)
        units[p] = label | (0x100 if None in node else 0) | ((p ^ base) << 10)
        for c in [0, *labels]:
            used[base ^ c] = 1
            skip[base ^ c] = (base ^ c) + 1
        if None in node:
            units[base] = (1 << 31) | node[None]
        for c in labels:
            queue.append((node[c], base ^ c, c))
    ensure(((len(units) + 0xFF) >> 8) << 8)  # any byte probe from any base stays in bounds
    trie_bytes = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(normalized)
