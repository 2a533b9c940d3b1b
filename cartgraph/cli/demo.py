"""``cartgraph demo``: the whole pipeline on embedded defaults, offline, in seconds.

With no arguments it generates the synthetic shop, fits the pipeline (cached on disk
after the first run), and for three users prints their history, their top-10
recommendations with scores and reasons, and two bundles with the reason for every
item. ``--dataset online-retail --data-dir PATH`` does the same on real data.
"""
from __future__ import annotations

import time

import numpy as np

from cartgraph.cli._output import add_json_flag, emit_json, print_table
from cartgraph.cli.fit import add_config_args, config_from_args

__all__ = ["register", "run_demo"]


def register(sub) -> None:
    from cartgraph.loaders import LOADERS

    p = sub.add_parser("demo", help="run the demo (synthetic shop by default, offline)",
                       description="Fit the pipeline (cached after the first run) and show history, "
                                   "recommendations with reasons, and bundles for a few users.")
    p.add_argument("--dataset", default="synthetic", choices=sorted(LOADERS), help="dataset format (default: synthetic)")
    p.add_argument("--data-dir", dest="path", default=None, help="file or folder of a real dataset")
    p.add_argument("--users", type=int, default=3, help="how many users to show (default 3)")
    p.add_argument("-k", type=int, default=10, help="recommendations per user (default 10)")
    p.add_argument("--bundles", type=int, default=2, help="bundles per user (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the synthetic shop, the models and the user choice")
    p.add_argument("--refit", action="store_true", help="fit again instead of loading the cached model")
    add_config_args(p, seed=False)
    add_json_flag(p)
    p.set_defaults(handler=_run)


def _pick_users(matrix, n: int, seed: int) -> np.ndarray:
    """``n`` users with a history of at least 3 items, chosen reproducibly."""
    counts = np.diff(matrix.indptr)
    candidates = np.flatnonzero(counts >= 3)
    if len(candidates) == 0:
        candidates = np.flatnonzero(counts > 0)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=min(n, len(candidates)), replace=False))


def _bundles(rec, user: str, n: int) -> tuple[list[dict], str | None]:
    """Up to ``n`` bundles as dicts, or ``[]`` and why there are none."""
    from cartgraph.cli.bundle import bundle_rows
    from cartgraph.recommender import StageUnavailableError

    if n < 1:
        return [], None
    try:
        built = rec.bundle(user, n=n)
    except StageUnavailableError as exc:
        return [], str(exc)
    return [{"items": bundle_rows(rec, b), "total_price": float(b.total_price), "score": float(b.score)}
            for b in built], None


def run_demo(dataset: str = "synthetic", path=None, users: int = 3, k: int = 10, seed: int = 0,
             n_bundles: int = 2, refit: bool = False, progress: bool = False, config=None) -> dict:
    """Run the demo and return what it shows as a dict (used by the CLI and tests).

    ``config``: the :class:`~cartgraph.RecommenderConfig` to fit (default: the defaults with ``seed``)."""
    from cartgraph.cli._cache import cached_fit
    from cartgraph.cli._common import load_dataset
    from cartgraph.config import RecommenderConfig
    from cartgraph.data_source import resolve_path
    from cartgraph.loaders import load

    t0 = time.perf_counter()
    options = {"seed": seed} if dataset == "synthetic" else {}
    ds = load(dataset, None, **options) if dataset == "synthetic" else load_dataset(dataset, path)
    config = RecommenderConfig(seed=seed) if config is None else config.replace(seed=seed)
    rec, cached = cached_fit(ds, dataset, resolve_path(dataset, path), options, config,
                             refit=refit, progress=progress)
    chosen = rec.user_vocab_.ids[_pick_users(rec.seen_, users, seed)]
    items, scores = rec.recommend(list(chosen), k=k)
    shown = []
    for user, row, vals in zip(chosen, items, scores):
        recs = []
        for i, s in zip(row, vals):
            if not np.isfinite(s):
                continue
            reasons = rec.explain(user, i)
            recs.append({"item_id": i, "title": rec.title(i), "score": float(s), "reason": reasons[0].text,
                         "reasons": [r.to_dict() for r in reasons]})
        bundles, note = _bundles(rec, user, n_bundles)
        shown.append({"user_id": user, "history": [{"item_id": i, "title": rec.title(i)} for i in rec.history(user)],
                      "recommendations": recs, "bundles": bundles, "bundles_note": note})
    return {"dataset": ds.name, "model": type(rec.model_).__name__, "stats": ds.stats(), "stages": rec.stages_,
            "cached": cached, "users": shown, "seconds": round(time.perf_counter() - t0, 2)}


def _print_user(user: dict) -> None:
    hist = ", ".join(h["title"] for h in user["history"][:8])
    more = f" (+{len(user['history']) - 8} more)" if len(user["history"]) > 8 else ""
    print(f"User {user['user_id']} — history: {hist}{more}")
    rows = [(i + 1, r["title"][:40], r["score"], r["reason"]) for i, r in enumerate(user["recommendations"])]
    print_table(rows, ["#", "recommended item", "score", "why"])
    for n, b in enumerate(user["bundles"]):
        print()
        rows = [(r["title"][:36], r["price"], r["why"]) for r in b["items"]]
        print_table(rows, ["item", "price", "why"], title=f"  Bundle {n + 1}: total {b['total_price']:.2f}")
    if user["bundles_note"]:
        print(f"  (no bundles: {user['bundles_note']})")
    print()


def _run(args) -> int:
    result = run_demo(args.dataset, args.path, args.users, args.k, args.seed, args.bundles, args.refit,
                      progress=not args.json, config=config_from_args(args))
    if args.json:
        emit_json(result)
        return 0
    st = result["stats"]
    source = "cached model" if result["cached"] else "fitted now (cached for next time)"
    print(f"cartgraph demo — dataset {result['dataset']}: {st['items']} items, {st['users']} users, "
          f"{st['events']} events, {st['baskets']} baskets; model {result['model']}, {source}\n")
    for user in result["users"]:
        _print_user(user)
    print(f"done in {result['seconds']} s")
    return 0
