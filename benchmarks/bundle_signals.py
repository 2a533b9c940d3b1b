"""Which item-to-item signal completes BundleRec bundles better than the anchor's text cosine?

A diagnostic for issue 6 (BundleRec electronic, where the RL walk has not beaten text kNN
of the anchor). The test protocol's bundles are 79 % never-bought items, so only signals
that reach cold items can help. This script measures such signals on a much larger slice
than the walk's validation: every training bundle (the test split's training data,
``splits.last_bundle``; the test bundles are never read), cross-fitted over 5 seeded user
groups. A bundle of group ``g`` is completed from its first item with everything learned
from the other groups' bundles only, exactly as in the walk's ``users`` episodes. Each
method ranks the whole catalogue; recall of the bundle's other items in the top
``size − 1``. Paired differences against ``text`` are reported with their standard error.

Signals (all reach never-bought items):

- ``text``: cosine of the item text vectors (the text kNN baseline).
- ``intent``: ``text + γ · cos(item, theme)``, theme = the intents (crowd-written bundle
  descriptions) of the ``K`` training bundles closest to the anchor, weighted by
  closeness; it reads what other shoppers said such bundles are for.
- ``category``: ``log P(leaf(c) | leaf(anchor)) + β · text``, the leaf-to-leaf
  co-membership of training bundles (smoothed toward the leaf's catalogue share).
- ``adapter``: cosine after a linear map ``W`` (started at the identity) trained with a
  softmax over the catalogue on the other groups' bundle pairs, pulled toward ``I``.
- ``lexical``: the TF-IDF cosine of the titles (:mod:`cartgraph.bundles.lexical`: shared
  brand and model words), alone and as ``text + β · lexical``; nothing is learned from
  the bundles, so no cross-fitting is needed.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/bundle_signals.py [--only electronic]

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

import cartgraph
from cartgraph.bundles.lexical import title_tfidf
from cartgraph.bundles.tables import item_titles
from cartgraph.evaluation import splits
from cartgraph.text import TextEncoder, item_vectors

DATA = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))


def bundles_of(train) -> tuple[list[list[int]], list[str], np.ndarray]:
    """Members (item indices, deduplicated, ≥ 2), intent and user of every user–bundle choice."""
    table = train.bundles.set_index("bundle_id")
    members, intents, users = [], [], []
    for user, bundle in zip(train.user_bundles["user_id"], train.user_bundles["bundle_id"]):
        items = list(dict.fromkeys(train.item_vocab.indices(table.loc[bundle, "item_ids"]).tolist()))
        if len(items) >= 2:
            members.append(items)
            intents.append(str(table.loc[bundle, "intent"] or ""))
            users.append(user)
    return members, intents, np.asarray(users, dtype=object)


def recall_per_bundle(members: list[list[int]], fold: np.ndarray, score) -> np.ndarray:
    """Recall of each bundle's other items in the top ``size − 1`` of ``score(anchor, group)``."""
    out = np.empty(len(members))
    for b, items in enumerate(members):
        s = np.asarray(score(items[0], fold[b]), dtype=np.float64).copy()
        s[items[0]] = -np.inf
        top = np.argsort(-s, kind="stable")[:len(items) - 1]
        out[b] = len(set(items[1:]) & set(top.tolist())) / (len(items) - 1)
    return out


def leaf_ids(train) -> np.ndarray:
    """Index of each item's full category path (items without one share one id)."""
    paths = train.items.set_index("item_id")["category_path"]
    keys = [">".join(paths.loc[train.item_vocab.external(i)]) for i in range(train.n_items)]
    return np.unique(keys, return_inverse=True)[1]


def adapter_similarity(vec: np.ndarray, members: list[list[int]], lr: float, pull: float, epochs: int,
                       seed: int = 0) -> np.ndarray:
    """``(I, I)`` cosine after a linear map trained on the bundles' ordered member pairs."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.as_tensor(vec)
    eye = torch.eye(v.shape[1])
    w = torch.nn.Parameter(eye.clone())
    opt = torch.optim.Adam([w], lr=lr)
    pairs = torch.tensor([(i, j) for m in members for i in m for j in m if i != j])
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=gen)
        for start in range(0, len(pairs), 256):
            batch = pairs[order[start:start + 256]]
            za = torch.nn.functional.normalize(v[batch[:, 0]] @ w, dim=1)
            zc = torch.nn.functional.normalize(v @ w, dim=1)
            logits = 20.0 * za @ zc.T
            logits[torch.arange(len(batch)), batch[:, 0]] = -1e9
            loss = torch.nn.functional.cross_entropy(logits, batch[:, 1]) + pull * ((w - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        z = torch.nn.functional.normalize(v @ w, dim=1).numpy()
    return z @ z.T


def run(domain: str, args) -> dict:
    ds = cartgraph.load("bundlerec-amazon", DATA / "bundlerec-amazon" / domain)
    train = splits.last_bundle(ds, mode="new").train
    enc = TextEncoder(cache=True)
    vec = item_vectors(train, enc).astype(np.float32)
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
    cos = vec @ vec.T
    members, intents, users = bundles_of(train)
    rng = np.random.default_rng(args.seed)
    group_of = dict(zip(np.unique(users), rng.integers(0, args.folds, len(np.unique(users)))))
    fold = np.array([group_of[u] for u in users])
    t0 = time.perf_counter()
    rows: dict[str, np.ndarray] = {"text": recall_per_bundle(members, fold, lambda a, g: cos[a])}

    theme_vec = enc.encode(intents).astype(np.float32)
    closeness = np.stack([cos[:, m].max(axis=1) for m in members], axis=1)        # (I, bundles)
    for k_near, gamma in ((20, 0.25), (50, 0.25)):
        def intent(a, g, k_near=k_near, gamma=gamma):
            near = np.where(fold != g, closeness[a], -np.inf)
            top = np.argsort(-near)[:k_near]
            theme = (np.maximum(near[top], 0.0) ** 4) @ theme_vec[top]
            return cos[a] + gamma * (vec @ (theme / max(np.linalg.norm(theme), 1e-12)))
        rows[f"intent K{k_near} γ{gamma}"] = recall_per_bundle(members, fold, intent)

    leaf = leaf_ids(train)
    n_leaf, size = leaf.max() + 1, np.bincount(leaf).astype(float)
    onehot = sp.csr_matrix((np.ones(len(leaf)), (np.arange(len(leaf)), leaf)), shape=(len(leaf), n_leaf))
    logp = {}
    for g in range(args.folds):
        rows_, cols_ = [], []
        for m, f in zip(members, fold):
            if f != g:
                rows_ += [i for i in m for j in m if i != j]
                cols_ += [j for i in m for j in m if i != j]
        pairs = sp.csr_matrix((np.ones(len(rows_)), (rows_, cols_)), shape=(len(leaf), len(leaf)))
        counts = (onehot.T @ pairs @ onehot).toarray()
        cond = (counts + size[None, :] / len(leaf)) / (counts.sum(axis=1, keepdims=True) + 1.0)
        logp[g] = np.log(cond / size[None, :])
    for beta in (5.0, 10.0, 20.0):
        rows[f"category β{beta:g}"] = recall_per_bundle(members, fold,
                                                        lambda a, g, beta=beta: logp[g][leaf[a]][leaf] + beta * cos[a])

    for lr, pull in ((1e-3, 1.0), (1e-3, 0.01)):
        sims = {g: adapter_similarity(vec, [m for m, f in zip(members, fold) if f != g], lr, pull, 3)
                for g in range(args.folds)}
        rows[f"adapter lr{lr:g} pull{pull:g}"] = recall_per_bundle(members, fold, lambda a, g: sims[g][a])

    x = title_tfidf(item_titles(train))
    lexical = (x @ x.T).toarray()
    rows["lexical"] = recall_per_bundle(members, fold, lambda a, g: lexical[a])
    for beta in (0.5, 1.0, 2.0):
        rows[f"text + lexical β{beta:g}"] = recall_per_bundle(members, fold,
                                                              lambda a, g, beta=beta: cos[a] + beta * lexical[a])

    return {"bundles": len(members), "users": int(len(np.unique(users))), "items": int(train.n_items),
            "seconds": round(time.perf_counter() - t0, 1), "methods": paired_report(domain, rows, "text")}


def paired_report(domain: str, rows: dict[str, np.ndarray], base: str) -> dict[str, dict[str, float]]:
    """Mean recall of each method's per-bundle recalls ``(n,)`` and its paired difference to
    ``rows[base]`` with the standard error; printed one line per method as it goes."""
    out = {}
    for name, r in rows.items():
        d = r - rows[base]
        se = float(d.std(ddof=1) / np.sqrt(len(d)))
        out[name] = {"recall": round(float(r.mean()), 4), f"diff_vs_{base}": round(float(d.mean()), 4),
                     "diff_se": round(se, 4)}
        print(f"{domain:10s} {name:24s} recall {r.mean():.4f}  vs {base} {d.mean():+.4f} ± {se:.4f}", flush=True)
    return out


def cross_fit_args(description: str) -> argparse.Namespace:
    """``--only`` (domains), ``--folds`` (user groups) and ``--seed`` of the cross-fitted diagnostics."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--only", default="electronic,clothing")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def domain_main(doc: str, benchmark: str, run: Callable[[str], dict], **meta) -> None:
    """``main`` of the per-domain BundleRec diagnostics: ``--only`` (domains), ``run(domain)`` for
    each, and one JSON line with ``benchmark``, ``meta``, each domain's result and the machine."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--only", default="electronic,clothing")
    args = ap.parse_args()
    result = {"benchmark": benchmark, **meta}
    for domain in args.only.split(","):
        result[domain] = run(domain)
    result["machine"] = f"{platform.machine()} {os.cpu_count()} cpus"
    print(json.dumps(result))


def main() -> None:
    args = cross_fit_args(__doc__.split("\n")[0])
    torch.manual_seed(args.seed)
    result = {"benchmark": "bundle_signals", "protocol": "cross-fitted user groups over the training bundles "
              "of splits.last_bundle (test bundles never read)", "folds": args.folds, "seed": args.seed}
    for domain in args.only.split(","):
        result[domain] = run(domain, args)
    result["machine"] = f"{platform.machine()} {os.cpu_count()} cpus, torch threads {torch.get_num_threads()}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
