"""Re-ranking the best passages by their best sentence: the similarity read from the stored sentence vectors,
and what it changes (only the passages it reaches, only by the share ``sentence_weight`` gives it)."""
from __future__ import annotations

import numpy as np

from index.filter import Filter
from search.candidates import best_sentence_cosine
from search.engine import SearchEngine
from search.fusion import RERANK_DEPTH, Fusion
from search.understanding import understand


def test_best_sentence_is_the_highest_sentence_cosine_of_each_passage(search_engine):
    sentences = search_engine.arrays.sentences
    first = sentences.first
    query = search_engine.query_vectors.of("سفر وزیر خارجه به مسکو")[0]
    ids = np.array([5, 0, 12, 3, 40, 7], dtype=np.int64)
    ids = ids[ids < search_engine.arrays.passages]
    cosine = search_engine.version.vectors.score(query, ids)
    best = best_sentence_cosine(ids, query, cosine, sentences, search_engine.version.sentence_vectors)
    for passage_id, found, own in zip(ids.tolist(), best, cosine):
        rows = search_engine.version.sentence_vectors[first[passage_id]:first[passage_id + 1]].astype(np.float32)
        expected = float(np.max(rows @ query)) if len(rows) else float(own)
        assert abs(float(found) - expected) < 1e-5


def test_no_sentence_weight_scores_as_the_plain_fusion(search_engine):
    plain = SearchEngine(search_engine.version, search_engine.embedder, Fusion(sentence_weight=0.0))
    reranked = SearchEngine(search_engine.version, search_engine.embedder, Fusion(sentence_weight=0.3))
    query = "سفر وزیر خارجه به مسکو"
    understood = understand(query)
    where = Filter()
    before = plain._score(understood, "hybrid", where)
    after = reranked._score(understood, "hybrid", where)
    assert before.keys() == after.keys()
    order = sorted(before, key=lambda pid: -before[pid])
    changed = [pid for pid in before if abs(before[pid] - after[pid]) > 1e-9]
    assert changed  # the re-rank does move scores (sentence and passage cosines differ)...
    assert set(changed) <= set(order[:RERANK_DEPTH])  # ...but only of the passages it reaches


def test_sentence_vectors_are_read_not_mapped(search_engine):
    """A search reads its passages' sentence rows through the page cache: the file is never mapped into the
    server's memory, where each read row would have added a folio to the process's PSS."""
    search_engine.search("سفر وزیر خارجه به مسکو")
    files = {str(part.path) for part in search_engine.version.sentence_vectors.parts}
    mapped = {line.split(maxsplit=5)[-1].strip() for line in open("/proc/self/maps") if len(line.split()) == 6}
    assert files and not files & mapped
