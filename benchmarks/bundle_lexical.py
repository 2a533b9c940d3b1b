"""Which lexical scorer, and does a new-item prior, complete BundleRec bundles better than title TF-IDF?

A diagnostic for issue 6 (BundleRec electronic, where the walk ties lexical kNN, the title
TF-IDF cosine of :mod:`cartgraph.bundles.lexical`). Nothing here is learned from bundles, so no
cross-fitting is needed: every training bundle of the test split (``splits.last_bundle``; the
test bundles are never read) is completed from its first item, ranking the whole catalogue;
recall of its other items in the top ``size − 1``; paired differences against ``tfidf`` with
their standard error.

Scorers: word TF-IDF variants (no sublinear tf, word bigrams, every non-space token), title +
leaf-category words, character n-grams (``char_wb`` 3–5 and 2–4), word + character cosine,
BM25 (k1 1.2, b 0.3 / 0.75; the anchor's title is the query), Rocchio expansion with the
anchor's 5 nearest titles. ``new-item prior γ``: ``tfidf + γ`` for items nobody had touched
before the bundle's time (events or bundles).

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/bundle_lexical.py [--only electronic]

Last line: one JSON object.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

import cartgraph
from bundle_signals import domain_main, paired_report, recall_per_bundle
from cartgraph.bundles.lexical import title_tfidf
from cartgraph.bundles.tables import item_titles
from cartgraph.evaluation import splits

DATA = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
WORDS = r"(?u)\b\w+\b"


def timed_bundles(train) -> tuple[list[list[int]], list[pd.Timestamp], np.ndarray]:
    """Members (≥ 2, deduplicated) and time of every user–bundle choice, and each item's first
    time in the training data (events or bundles; NaT-free: never seen = far future)."""
    vocab, table = train.item_vocab, train.bundles.set_index("bundle_id")
    first = np.full(train.n_items, np.datetime64("2262-01-01"), dtype="datetime64[ns]")
    np.minimum.at(first, vocab.indices(train.events["item_id"]), train.events["ts"].to_numpy("datetime64[ns]"))
    members, times = [], []
    for bundle, ts in zip(train.user_bundles["bundle_id"], train.user_bundles["ts"]):
        items = list(dict.fromkeys(vocab.indices(table.loc[bundle, "item_ids"]).tolist()))
        np.minimum.at(first, items, np.datetime64(pd.Timestamp(ts), "ns"))
        if len(items) >= 2:
            members.append(items)
            times.append(pd.Timestamp(ts))
    return members, times, first


def cosine(x: sp.spmatrix) -> np.ndarray:
    """``(n, n)`` dense cosine of the rows of ``x``."""
    x = sp.csr_matrix(x, dtype=np.float64)
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ x
    return (x @ x.T).toarray()


def bm25(titles: list[str], b: float, k1: float = 1.2) -> np.ndarray:
    """``(n, n)`` BM25 score of each title (row, the query's words) against every other (column)."""
    tf = CountVectorizer(token_pattern=WORDS, binary=True).fit_transform(titles).tocoo().astype(np.float64)
    n, df = tf.shape[0], np.bincount(tf.col, minlength=tf.shape[1])
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    length = np.bincount(tf.row, minlength=n).astype(np.float64)
    w = tf.data * (k1 + 1) / (tf.data + k1 * (1 - b + b * length[tf.row] / length.mean())) * idf[tf.col]
    return (tf.tocsr() @ sp.csr_matrix((w, (tf.row, tf.col)), shape=tf.shape).T).toarray()


def run(domain: str) -> dict:
    ds = cartgraph.load("bundlerec-amazon", DATA / "bundlerec-amazon" / domain)
    train = splits.last_bundle(ds, mode="new").train
    members, times, first = timed_bundles(train)
    titles = ["" if t is None else str(t) for t in item_titles(train)]
    paths = train.items.set_index("item_id")["category_path"]
    leaves = [" ".join(paths.loc[train.item_vocab.external(i)][-1:]) for i in range(train.n_items)]
    t0 = time.perf_counter()
    sims = {
        "tfidf": cosine(title_tfidf(titles)),
        "tfidf, plain tf": cosine(TfidfVectorizer(token_pattern=WORDS).fit_transform(titles)),
        "tfidf, word bigrams": cosine(TfidfVectorizer(sublinear_tf=True, token_pattern=WORDS,
                                                      ngram_range=(1, 2)).fit_transform(titles)),
        "tfidf, non-space tokens": cosine(TfidfVectorizer(sublinear_tf=True, token_pattern=r"[^\s]+"
                                                          ).fit_transform(titles)),
        "tfidf, title + leaf": cosine(TfidfVectorizer(sublinear_tf=True, token_pattern=WORDS).fit_transform(
            [f"{t} {leaf}" for t, leaf in zip(titles, leaves)])),
        "char 3-5": cosine(TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(3, 5)
                                           ).fit_transform(titles)),
        "char 2-4": cosine(TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 4)
                                           ).fit_transform(titles)),
        "bm25 b0.3": bm25(titles, 0.3),
        "bm25 b0.75": bm25(titles, 0.75),
    }
    sims["tfidf + char 3-5"] = sims["tfidf"] + sims["char 3-5"]
    own = np.arange(len(members))  # recall_per_bundle's "group" is the bundle itself: score(anchor, b)
    rows = {name: recall_per_bundle(members, own, lambda a, b, s=s: s[a]) for name, s in sims.items()}
    base = sims["tfidf"]
    near = np.argsort(-(base - 2 * np.eye(len(base))), axis=1)[:, :5]
    for alpha in (0.3, 0.6):
        expand = lambda a, b, alpha=alpha: base[a] + alpha * base[near[a]].mean(0)  # noqa: E731
        rows[f"rocchio {alpha:g}"] = recall_per_bundle(members, own, expand)
    new_at = [first >= np.datetime64(t, "ns") for t in times]
    for gamma in (0.02, 0.05, 0.1, 0.2):
        prior = lambda a, b, g=gamma: base[a] + g * new_at[b]  # noqa: E731
        rows[f"new-item prior {gamma:g}"] = recall_per_bundle(members, own, prior)
    share = {"catalogue": float(np.mean([m.mean() for m in new_at])),
             "targets": float(np.mean([new_at[b][m[1:]].mean() for b, m in enumerate(members)]))}
    return {"bundles": len(members), "items": int(train.n_items), "new_item_share": share,
            "seconds": round(time.perf_counter() - t0, 1), "methods": paired_report(domain, rows, "tfidf")}


def main() -> None:
    domain_main(__doc__, "bundle_lexical", run, protocol="every training bundle of splits.last_bundle completed "
                "from its first item (test bundles never read)")


if __name__ == "__main__":
    main()
