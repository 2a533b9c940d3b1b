"""A two-level category tree for catalogues that have none (e.g. Online Retail).

Method (deterministic for given vectors and settings):

1. **Top level**: k-means (scikit-learn, ``random_state=seed``, fixed ``n_init``) on
   the unit-length item text vectors, ``n_top`` clusters.
2. **Second level**: inside each top cluster, k-means again with ``n_sub`` clusters
   (fewer when the cluster is small: at least ``min_sub_size`` items per
   sub-cluster on average; a cluster too small to split keeps one sub-category).
3. **Labels** are renumbered by decreasing size (ties: lowest item index first), so
   they do not depend on k-means' internal numbering.
4. **Names**: each cluster is named by its most distinctive words — the words
   whose share of the cluster's items most exceeds their share among its
   *siblings* (top clusters against the whole catalogue, sub-clusters against the
   rest of their parent), weighted by an IDF factor so that generic words lose.
   Names are 2 words joined by " & " ("Candle & Holder"); a sibling with the same
   name gets a third word, then a number.

The result is a :class:`CategoryTree`; :func:`derive_categories` returns a new
:class:`~cartgraph.dataset.Dataset` whose items carry ``category_path = [top, sub]``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError
from cartgraph.text.encoder import TextEncoder
from cartgraph.text.item_text import ItemTextTemplate
from cartgraph.text.vectors import item_vectors

__all__ = ["CategoryTree", "category_tree", "derive_categories"]

_TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z]{2,}\b"
"""Words of 3+ letters (sizes, numbers and codes make poor names)."""

_TEMPLATE_WORDS = frozenset({"brand", "category", "price", "budget", "mid", "range", "premium"})
"""Labels the item-text template adds; never part of a name."""


@dataclasses.dataclass(frozen=True)
class CategoryTree:
    """Cluster labels and names.

    Attributes:
        top: top-level cluster per item, shape ``(n,)`` int64 (0 = largest).
        sub: sub-cluster per item within its top cluster, shape ``(n,)``.
        top_names: name per top cluster.
        sub_names: ``sub_names[t][s]`` is the name of sub-cluster ``s`` of ``t``.
    """

    top: np.ndarray
    sub: np.ndarray
    top_names: list[str]
    sub_names: list[list[str]]

    def paths(self) -> list[list[str]]:
        """``[top name, sub name]`` per item."""
        return [[self.top_names[t], self.sub_names[t][s]] for t, s in zip(self.top, self.sub)]


def category_tree(vectors: np.ndarray, texts: list[str], n_top: int = 12, n_sub: int = 6,
                  seed: int = 0, min_sub_size: int = 5, n_init: int = 4) -> CategoryTree:
    """Cluster ``vectors`` (one row per text) into a named two-level tree.

    Args:
        vectors: ``(n, dim)`` item vectors; texts: the matching item texts (names).
        n_top, n_sub: clusters at each level (capped by the number of items).
        seed: k-means seed; n_init: k-means restarts (fixed, for determinism).
        min_sub_size: average items per sub-cluster at least this.
    """
    n = len(vectors)
    if n != len(texts):
        raise ConfigError(f"category_tree: {n} vectors but {len(texts)} texts")
    if n_top < 1 or n_sub < 1 or n == 0:
        raise ConfigError(f"category_tree needs items and n_top, n_sub >= 1, got n={n}, {n_top}, {n_sub}")
    words = _word_matrix(texts)
    top = _kmeans(vectors, min(n_top, n), seed, n_init)
    top_names = _names(words, top, np.ones(n, dtype=bool))
    sub = np.zeros(n, dtype=np.int64)
    sub_names = []
    for t in range(top.max() + 1):
        members = np.flatnonzero(top == t)
        k = max(1, min(n_sub, len(members) // max(1, min_sub_size)))
        sub[members] = _kmeans(vectors[members], k, seed, n_init) if k > 1 else 0
        if k == 1:
            sub_names.append([top_names[t]])
            continue
        in_parent = top == t
        labels = np.full(n, -1, dtype=np.int64)
        labels[members] = sub[members]
        sub_names.append(_names(words, labels, in_parent))
    return CategoryTree(top=top, sub=sub, top_names=top_names, sub_names=sub_names)


def derive_categories(dataset: Dataset, vectors: np.ndarray | None = None, *, encoder: TextEncoder | None = None,
                      template: ItemTextTemplate | None = None, overwrite: bool = False,
                      **tree_options: int) -> Dataset:
    """A new dataset whose items have a derived ``[top, sub]`` ``category_path``.

    Args:
        vectors: item vectors in item-index order; default: encode the items.
        encoder, template: used when ``vectors`` is None.
        overwrite: replace existing paths too (default: fill only empty ones;
            clustering still uses every item).
        **tree_options: ``n_top``, ``n_sub``, ``seed``, ``min_sub_size``, ``n_init``.
    """
    if vectors is None:
        vectors = item_vectors(dataset, encoder, template)
    items = dataset.items
    order = dataset.item_vocab.indices(items["item_id"].to_numpy())
    titles = [t if isinstance(t, str) else (d if isinstance(d, str) else "")
              for t, d in zip(items["title"], items["description"])]
    tree = category_tree(np.asarray(vectors)[order], titles, **tree_options)
    paths = tree.paths()
    empty = items["category_path"].map(len) == 0
    new_paths = [p if (overwrite or e) else list(old) for p, e, old in zip(paths, empty, items["category_path"])]
    meta = {**dataset.meta, "derived_categories": {"n_top": len(tree.top_names), "method": "kmeans-text-2-level"}}
    return dataset.replace(items=items.assign(category_path=new_paths), meta=meta)


def _kmeans(x: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    """k-means labels renumbered by decreasing cluster size (ties: lowest first index)."""
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(np.asarray(x, dtype=np.float64))
    sizes = np.bincount(labels, minlength=k)
    first = np.array([np.flatnonzero(labels == c)[0] if sizes[c] else len(labels) for c in range(k)])
    rank = np.lexsort((first, -sizes))
    remap = np.empty(k, dtype=np.int64)
    remap[rank] = np.arange(k)
    return remap[labels]


def _word_matrix(texts: list[str]) -> tuple[object, np.ndarray]:
    """Binary item × word matrix (CSR) and the vocabulary (English stop words removed)."""
    from sklearn.feature_extraction.text import CountVectorizer

    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    stop = sorted(ENGLISH_STOP_WORDS | _TEMPLATE_WORDS)
    vec = CountVectorizer(binary=True, stop_words=stop, token_pattern=_TOKEN_PATTERN, lowercase=True)
    try:
        m = vec.fit_transform([t or "" for t in texts]).tocsc()
    except ValueError:  # no words at all
        return None, np.array([], dtype=object)
    return m, vec.get_feature_names_out()


def _names(words: tuple[object, np.ndarray], labels: np.ndarray, scope: np.ndarray,
           n_words: int = 2) -> list[str]:
    """A distinctive, sibling-unique name per cluster label (``labels`` -1 = outside)."""
    matrix, vocab = words
    k = int(labels.max()) + 1
    if matrix is None or len(vocab) == 0:
        return [f"Group {c + 1}" for c in range(k)]
    in_scope = matrix[np.flatnonzero(scope)]
    lab = labels[scope]
    df_all = np.asarray(in_scope.sum(axis=0)).ravel()
    idf = np.log((1 + len(lab)) / (1 + df_all)) + 1
    ranked = []
    for c in range(k):
        inside = lab == c
        share_in = np.asarray(in_scope[np.flatnonzero(inside)].sum(axis=0)).ravel() / max(1, inside.sum())
        share_out = (df_all - share_in * inside.sum()) / max(1, (~inside).sum())
        score = (share_in - share_out) * idf
        order = np.lexsort((vocab, -score))
        ranked.append([vocab[i] for i in order if share_in[i] > 0][:n_words + 3])
    return _unique_names(ranked, n_words)


def _unique_names(ranked: list[list[str]], n_words: int) -> list[str]:
    names = [" & ".join(w.title() for w in r[:n_words]) or f"Group {c + 1}" for c, r in enumerate(ranked)]
    counts = pd.Series(names).value_counts()
    for c, name in enumerate(names):
        if counts[name] > 1 and len(ranked[c]) > n_words:
            names[c] = name + " & " + ranked[c][n_words].title()
    seen: dict[str, int] = {}
    for c, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[c] = f"{name} {seen[name]}"
    return names
