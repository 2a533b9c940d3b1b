"""Name similarity: TF-IDF cosine of item titles, the walk's ``lexical`` edges.

Sentence embeddings place items by *kind* ("a camera bag" near "a camera case"); shoppers
bundle by *fit*: the battery, case and charger named for the same model or brand
("Canon LP-E6", "for iPhone 7"). Those rare tokens carry little weight in a 384-d
sentence vector but most of the weight in a TF-IDF vector (inverse document frequency
over the catalogue's titles), so the two similarities rank different neighbours. Both
reach items nobody bought yet.

:func:`title_tfidf` gives the L2-normalised ``(n_items, vocabulary)`` matrix (sparse);
:func:`lexical_neighbours` each item's ``k`` nearest other items by its cosine.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

__all__ = ["title_tfidf", "lexical_neighbours"]

_TOKENS = r"(?u)\b\w+\b"
"""Every word, one-character ones included: model codes ("X", "5D") are the signal."""


def title_tfidf(titles: Sequence[str]) -> sp.csr_matrix:
    """``(n, vocabulary)`` float32 csr: sublinear-tf TF-IDF of each title, rows L2-normalised.

    Titles without a word give an all-zero row (cosine 0 to everything).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["" if t is None else str(t) for t in titles]
    try:
        x = TfidfVectorizer(sublinear_tf=True, token_pattern=_TOKENS, dtype=np.float32).fit_transform(texts)
    except ValueError:  # no word in any title: nothing to compare
        return sp.csr_matrix((len(texts), 0), dtype=np.float32)
    return x.tocsr()


def lexical_neighbours(x: sp.csr_matrix, k: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` most similar other rows of ``x`` by cosine, best first (ties: lower index).

    Returns ``(idx, score)``, shapes ``(n, k)``: int32 (``-1`` pads rows with fewer
    positive cosines) and float32 (0 where padded). Rows are processed ``chunk`` at a
    time, so memory stays ``O(chunk × n)`` on large catalogues.
    """
    from cartgraph.bundles.tables import top_rows

    n, width = x.shape[0], max(k, 1)
    idx = np.full((n, width), -1, np.int32)
    val = np.zeros((n, width), np.float32)
    if k == 0 or x.shape[1] == 0:
        return idx, val
    xt = x.T.tocsc()
    for lo in range(0, n, chunk):
        block = (x[lo:lo + chunk] @ xt).tocsr()
        block.setdiag(0.0, k=lo)  # an item is not its own neighbour
        block.eliminate_zeros()
        idx[lo:lo + chunk], val[lo:lo + chunk] = top_rows(block, width)
    return idx, val
