"""``cartgraph demo``: the whole job on embedded defaults, offline, in seconds.

With no arguments it generates the synthetic shop, fits a recommender, and for three
users prints their history and their top-10 recommendations with scores and reasons.
``--dataset online-retail --data-dir PATH`` does the same on real data.
"""
from __future__ import annotations

import time

import numpy as np

from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register", "run_demo"]


def register(sub) -> None:
    from cartgraph.loaders import LOADERS

    p = sub.add_parser("demo", help="run the demo (synthetic shop by default, offline)",
                       description="Fit a recommender and show history, recommendations and reasons for a few users.")
    p.add_argument("--dataset", default="synthetic", choices=sorted(LOADERS), help="dataset format (default: synthetic)")
    p.add_argument("--data-dir", dest="path", default=None, help="file or folder of a real dataset")
    p.add_argument("--users", type=int, default=3, help="how many users to show (default 3)")
    p.add_argument("-k", type=int, default=10, help="recommendations per user (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for the synthetic shop and the user choice")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def _pick_users(matrix, n: int, seed: int) -> np.ndarray:
    """``n`` users with a history of at least 3 items, chosen reproducibly."""
    counts = np.asarray(matrix.sum(axis=1)).ravel()
    candidates = np.flatnonzero(counts >= 3)
    if len(candidates) == 0:
        candidates = np.flatnonzero(counts > 0)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=min(n, len(candidates)), replace=False))


def run_demo(dataset: str = "synthetic", path=None, users: int = 3, k: int = 10, seed: int = 0) -> dict:
    """Run the demo and return what it shows as a dict (used by the CLI and tests)."""
    from cartgraph.baselines import ItemKNN
    from cartgraph.data_source import resolve_path
    from cartgraph.loaders import load
    from cartgraph.reasons import co_occurrence_reason

    t0 = time.perf_counter()
    options = {"seed": seed} if dataset == "synthetic" else {}
    ds = load(dataset, resolve_path(dataset, path), **options)
    model = ItemKNN().fit(ds)
    matrix = ds.interactions()
    csc = matrix.tocsc()
    chosen = _pick_users(matrix, users, seed)
    items, scores = model.recommend(chosen, k=k, exclude_seen=True)
    titles = ds.items.set_index("item_id")["title"]
    ids = ds.item_vocab.ids

    def title_of(idx: int) -> str:
        t = titles.get(ids[idx])
        return t if isinstance(t, str) and t else ids[idx]

    shown = []
    for row, u in enumerate(chosen):
        history = matrix[u].indices
        recs = []
        for j, s in zip(items[row], scores[row]):
            if j < 0 or not np.isfinite(s):
                continue
            reason = co_occurrence_reason(csc, history, int(j))
            recs.append({"item_id": ids[j], "title": title_of(j), "score": float(s), "reason": reason.text(title_of)})
        shown.append({
            "user_id": ds.user_vocab.external(int(u)),
            "history": [{"item_id": ids[j], "title": title_of(j)} for j in history],
            "recommendations": recs,
        })
    return {"dataset": ds.name, "model": "ItemKNN", "stats": ds.stats(), "users": shown,
            "seconds": round(time.perf_counter() - t0, 2)}


def _run(args) -> int:
    result = run_demo(args.dataset, args.path, args.users, args.k, args.seed)
    if args.json:
        emit_json(result)
        return 0
    st = result["stats"]
    print(f"cartgraph demo — dataset {result['dataset']}: {st['items']} items, {st['users']} users, "
          f"{st['events']} events, {st['baskets']} baskets; model {result['model']}\n")
    for user in result["users"]:
        hist = ", ".join(h["title"] for h in user["history"][:8])
        more = f" (+{len(user['history']) - 8} more)" if len(user["history"]) > 8 else ""
        print(f"User {user['user_id']} — history: {hist}{more}")
        rows = [(i + 1, r["title"][:40], r["score"], r["reason"]) for i, r in enumerate(user["recommendations"])]
        print_table(rows, ["#", "recommended item", "score", "why"])
        print()
    print(f"done in {result['seconds']} s")
    return 0
