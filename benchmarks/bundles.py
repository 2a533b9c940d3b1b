"""Bundle quality: the RL-tuned walk against every baseline on real held-out bundles.

Settings (EVALUATION.md protocols; the task is bundle completion: the held-out
bundle's first item is revealed as the anchor, the builder adds the rest):

- BundleRec electronic / clothing: test = each user's last bundle (``splits.last_bundle``,
  mode "new": the user's earlier items are excluded and not counted); everything is
  learned on the earlier data; size = the held-out bundle's size (≤ 10).
- Online Retail: the test-period invoices (from 2011-11-01) of the protocol's
  evaluated users, fit before 2011-11-01 ("all" mode: repeats count); a seeded sample
  of ``--max-cases`` invoices; size = min(invoice size, 10).
- Steam: 20% of the bundles held out (seeded); each is rebuilt from its first game
  under a budget = the held-out bundle's summed item prices; no users and no times,
  so RL's episodes are a seeded share of the training bundles (``bundle_split``, each
  under a budget of its own price) instead of a time cut; the report adds genre
  coverage and price-to-budget fit beside recall.

The RL walk may start from the baselines written as walk weights (``--starts``, chosen
on validation recall) and leaves substitutes to its learned penalty unless
``--substitutes mask``.

Learned parts (the RL walk) run with ``--seeds`` (default 0,1,2): mean ± std.
Baselines are deterministic. Last line: one JSON object.

    CARTGRAPH_DATA_DIR=../shared/data .venv/bin/python benchmarks/bundles.py
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import cartgraph
from cartgraph.bundles import BundleBuilder, Constraints, RLConfig
from cartgraph.bundles.policy import STARTS, LinearPolicy
from cartgraph.bundles.baselines import BASELINES
from cartgraph.bundles.evaluation import Case, evaluate_bundles
from cartgraph.bundles.metrics import pair_matrix
from cartgraph.bundles.walk import decode
from cartgraph.evaluation import splits
from cartgraph.text import TextEncoder, item_vectors

DATA = Path(os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))


def vectors(ds):
    return item_vectors(ds, TextEncoder(cache=True))


def bundlerec_cases(ds, split, max_size: int) -> tuple[list[Case], list[list[int]]]:
    """Each evaluated user's held-out (last) bundle; and every held-out bundle's members."""
    train = split.train
    held = ds.user_bundles[~ds.user_bundles["bundle_id"].isin(set(train.user_bundles["bundle_id"]))]
    members = ds.bundles.set_index("bundle_id")["item_ids"]
    by_user = dict(zip(held["user_id"], held["bundle_id"]))
    owned = train.interactions()
    cases = []
    for u in split.users:
        items = list(train.item_vocab.indices(members[by_user[train.user_vocab.external(int(u))]]))
        anchor = items[0]
        target = frozenset(split.test[u].indices.tolist()) - {anchor}
        if target:
            cases.append(Case(int(u), (anchor,), target, min(len(items), max_size),
                              exclude=frozenset(owned[u].indices.tolist()) - {anchor}))
    pairs = [list(train.item_vocab.indices(members[b])) for b in held["bundle_id"]]
    return cases, pairs


def online_retail_cases(ds, split, max_cases: int, max_size: int) -> tuple[list[Case], list[list[int]]]:
    """Test-period invoices of evaluated users (≥ 2 catalogue items); all test-period baskets for pairs."""
    train = split.train
    ev = ds.events[(ds.events["ts"] >= splits.ONLINE_RETAIL_PERIODS["test"][0])
                   & ds.events["item_id"].isin(set(train.items["item_id"]))]
    ev = ev.drop_duplicates(["basket_id", "item_id"])
    ev = ev.assign(item=train.item_vocab.indices(ev["item_id"].to_numpy()))
    baskets = ev.groupby("basket_id", sort=True)["item"].agg(list)
    pairs = [b for b in baskets if len(b) >= 2]
    users = set(train.user_vocab.external(split.users.tolist()))
    mine = ev[ev["user_id"].isin(users)]
    owner = mine.groupby("basket_id", sort=True)["user_id"].first()
    cases = []
    for basket, user in owner.items():
        items = baskets[basket]
        if len(items) >= 2:
            cases.append(Case(train.user_vocab.index(user), (items[0],), frozenset(items[1:]), min(len(items), max_size)))
    pick = np.sort(np.random.default_rng(0).permutation(len(cases))[:max_cases])
    return [cases[i] for i in pick], pairs


def learned_complements(vec, epochs: int):
    """A factory ``Dataset → fitted ComplementModel`` (the learned, text-aware score alone), so
    that every data cut the RL stage reads gets complements learned from that cut only."""
    from cartgraph.gnn import ComplementModel

    def fit(data):
        return ComplementModel(64, epochs=epochs, batch_size=512, eval_every=0, seed=0, progress=False,
                               device="cpu").fit(data, item_vectors=vec)

    return fit


def ranker_complements(vec):
    """A factory ``Dataset → fitted ComplementRanker`` (its scorer trained on the cut's own
    holdouts: latest baskets and each user's last bundle; the raw co-purchase order when the
    cut has too few to hold out)."""
    from cartgraph.gnn import ComplementRanker
    from cartgraph.gnn.complement_holdout import default_holdouts

    def fit(data):
        model = ComplementRanker(seed=0)
        holdouts = default_holdouts(data, model.holdout_fraction, model.n_rolling)
        return (model if holdouts else ComplementRanker(epochs=0)).fit(data, item_vectors=vec,
                                                                        holdouts=holdouts or None)

    return fit


def run_learned(name, train, vec, cases, pairs, seeds, rl, curve_dir, size, avoid_substitutes, complements=None):
    """Baselines once, the RL walk per seed; returns the report of one dataset. ``complements``:
    the walk's complement source (default: co-purchase lift); the baselines always read lift."""
    per_seed, weights, fit_s, starts, start_rows, fitted_rows = [], [], [], [], [], []
    baselines = None
    if complements is not None:
        plain = BundleBuilder(size=size, rl=None, avoid_substitutes=avoid_substitutes).fit(train, vec)
        baselines = {k: v for k, v in evaluate_bundles(plain, cases, pairs).items() if k != "walk_rl"}
    for seed in seeds:
        start = time.perf_counter()
        b = BundleBuilder(size=size, rl=rl, curve_path=curve_dir / f"{name}_seed{seed}.png",
                          avoid_substitutes=avoid_substitutes).fit(train, vec, seed=seed, complements=complements)
        fit_s.append(time.perf_counter() - start)
        h0 = b.history_[0]
        starts.append(start_row(h0) | {
            "bonus_valid": h0.get("bonus_valid"), "valid": {k: h0[k] for k in h0 if k.startswith("valid_")},
            "kept_valid": {k: v for k, v in b.history_[h0["kept_epoch"]].items() if k.startswith("valid_")}})
        print(f"{name} seed {seed}: {starts[-1]}", file=sys.stderr, flush=True)
        at_start = LinearPolicy.from_dict(h0["start_weights"])
        own = {"walk_rl": lambda req, b=b: decode(req, b.policy_)[0],
               "walk_start": lambda req, p=at_start: decode(req, p)[0]} | fitted_method(h0)
        res = evaluate_bundles(b, cases, pairs, methods=own | ({} if baselines is not None else BASELINES))
        if baselines is None:
            baselines = {k: v for k, v in res.items() if k not in own}
        per_seed.append(res["walk_rl"])
        start_rows.append(res["walk_start"])
        keep_seed_rows(res, b, fitted_rows, weights)
        print(f"{name} seed {seed}: walk_rl {res['walk_rl']}", file=sys.stderr, flush=True)
    return {"cases": len(cases), **seed_stats("walk_rl", per_seed), "baselines": baselines,
            **seed_stats("walk_start", start_rows), "walk_fitted_per_seed": fitted_rows,
            "walk_rl_weights": weights, "fit_seconds": fit_s, "rl_starts": starts}


def keep_seed_rows(res: dict, builder: BundleBuilder, fitted_rows: list, weights: list) -> None:
    """Append one seed's diagnostic ``walk_fitted`` test row (when the fit ran) and its served weights."""
    if "walk_fitted" in res:
        fitted_rows.append(res["walk_fitted"])
    weights.append({k: round(v, 3) for k, v in builder.weights_.items()})


def seed_stats(name: str, rows: list[dict]) -> dict:
    """``{name}_mean`` and ``{name}_std`` of every metric over the seeds' rows (``n`` left out)."""
    keys = [k for k in rows[0] if k != "n"]
    return {f"{name}_mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
            f"{name}_std": {k: float(np.std([r[k] for r in rows])) for k in keys}}


def fitted_method(h0: dict) -> dict:
    """The fitted start's walk as a diagnostic test row (``walk_fitted``), served or not: what
    the guard on the fitted start let through or held back."""
    w = (h0.get("fit") or {}).get("weights")
    return {} if w is None else {"walk_fitted": lambda req, p=LinearPolicy.from_dict(w): decode(req, p)[0]}


def start_row(h0: dict) -> dict:
    """What RL started from and what it kept, from the curve's first row."""
    keys = ("start", "start_valid_recall", "start_train_recall", "complement_bonus", "fit", "kept_epoch",
            "kept_valid_recall", "rl_kept", "rl_gain", "rl_gain_se")
    row = {k: h0.get(k) for k in keys} | {"start_weights": {k: round(v, 3) for k, v in h0["start_weights"].items()}}
    if row["fit"] and "weights" in row["fit"]:
        row["fit"] = row["fit"] | {"weights": {k: round(v, 3) for k, v in row["fit"]["weights"].items()}}
    return row


def steam(split_seed: int, max_size: int, seeds: list[int], rl: RLConfig, curve_dir: Path, avoid: bool) -> dict:
    ds = cartgraph.load("steam-bundles", DATA / "steam-bundles")
    rng = np.random.default_rng(split_seed)
    test_ids = set(ds.bundles["bundle_id"].to_numpy()[rng.permutation(len(ds.bundles))[:len(ds.bundles) // 5]])
    train = ds.replace(bundles=ds.bundles[~ds.bundles["bundle_id"].isin(test_ids)])
    vec = vectors(train)
    b = BundleBuilder(size=max_size, rl=None, avoid_substitutes=avoid).fit(train, vec)
    price = b.tables_.price
    held = ds.bundles[ds.bundles["bundle_id"].isin(test_ids)]
    cases, pairs = [], []
    for ids in held["item_ids"]:
        items = list(dict.fromkeys(train.item_vocab.indices(ids).tolist()))
        pairs.append(items)
        if len(items) >= 2 and np.isfinite(price[items]).all() and price[items].sum() > 0:
            cases.append(Case(None, (items[0],), frozenset(items[1:]), min(len(items), max_size),
                              budget=float(price[items].sum())))
    genres = [set(a.get("genres", [])) if isinstance(a, dict) else set() for a in
              train.items.set_index("item_id").loc[list(b.tables_.item_ids), "attributes"]]
    pm = pair_matrix(pairs, train.n_items)

    def budget_fit(builder, fn) -> dict[str, float]:
        cov, fit = [], []
        for c in cases:
            items = fn(builder.request(None, c.anchors, Constraints(size=c.size, budget=c.budget)))
            cov.append(len(set().union(*(genres[i] for i in items))))
            fit.append(float(np.nansum(price[items])) / c.budget)
        return {"genres_per_bundle": float(np.mean(cov)), "price_to_budget": float(np.mean(fit))}

    res = evaluate_bundles(b, cases, pm, methods=BASELINES)
    for name, fn in BASELINES.items():
        res[name].update(budget_fit(b, fn))
    per_seed, weights, starts, fitted_rows = [], [], [], []
    for seed in seeds:  # RL: episodes = a seeded share of the training bundles under their own price
        r = BundleBuilder(size=max_size, rl=rl, curve_path=curve_dir / f"steam_seed{seed}.png",
                          avoid_substitutes=avoid).fit(train, vec, seed=seed)
        h0 = r.history_[0]
        walk = {"walk_rl": lambda req, r=r: decode(req, r.policy_)[0]} | fitted_method(h0)
        both = evaluate_bundles(r, cases, pm, methods=walk)
        got = both["walk_rl"]
        got.update(budget_fit(r, walk["walk_rl"]))
        per_seed.append(got)
        keep_seed_rows(both, r, fitted_rows, weights)
        starts.append(start_row(h0))
        print(f"steam seed {seed}: {starts[-1]} {got}", file=sys.stderr, flush=True)
    return {"cases": len(cases), "held_out_bundles": len(held), "methods": res,
            **seed_stats("walk_rl", per_seed), "walk_rl_weights": weights, "rl_starts": starts,
            "walk_fitted_per_seed": fitted_rows,
            "note": "no users or times: RL episodes are a seeded 40% of the training bundles (bundle_split)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="electronic,clothing,online-retail,steam")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-cases", type=int, default=1500)
    ap.add_argument("--retail-episodes", type=int, default=300, help="RL training episodes on Online Retail")
    ap.add_argument("--retail-valid", type=int, default=None,
                    help="RL validation episodes on Online Retail (default: a third of --retail-episodes)")
    ap.add_argument("--curves", default="benchmarks/figures")
    ap.add_argument("--substitutes", choices=("mask", "penalty"), default="penalty",
                    help="the walk masks substitutes, or leaves them to the learned substitute weight")
    ap.add_argument("--complement-bonus", default=None,
                    help="RL reward weight(s) of complement precision, e.g. 2 or 0,0.5,2 (several: chosen on "
                         "validation recall per dataset)")
    ap.add_argument("--sources", default=None, help="RL episodes on BundleRec from 'bundles', 'baskets' or 'both'")
    ap.add_argument("--lr", type=float, default=None, help="RL step size (Adam)")
    ap.add_argument("--substitute-penalty", type=float, default=None, help="RL reward weight of substitutes")
    ap.add_argument("--episodes", default=None, choices=("auto", "time", "last", "users"),
                    help="BundleRec RL episodes: 'last' validates on each user's last training bundle; "
                         "'users' also trains on episodes cross-fitted over user groups")
    ap.add_argument("--frozen", default="", help="features RL does not tune, e.g. popularity")
    ap.add_argument("--starts", default=",".join(STARTS), help="baseline starting points RL may begin from ('' none)")
    ap.add_argument("--temperature", type=float, default=None, help="RL sampling temperature")
    ap.add_argument("--keep-norm", action="store_true", help="RL keeps the weights' norm (no sharpening)")
    ap.add_argument("--prox", type=float, default=0.0, help="RL pull back toward the start per step")
    ap.add_argument("--min-gain-z", type=float, default=None,
                    help="RL weights replace the start only with a validation gain of this many paired SEs")
    ap.add_argument("--complements", choices=("lift", "learned", "ranker"), default="lift",
                    help="BundleRec walk's complement evidence: co-purchase lift, or a ComplementModel fitted "
                         "on each data cut (text-aware: it also scores items nobody bought yet)")
    ap.add_argument("--complement-epochs", type=int, default=20, help="epochs of --complements learned")
    ap.add_argument("--fit-l2", type=float, default=None, help="ridge of the fitted RL start toward the best fixed start")
    ap.add_argument("--fit-min-gain-z", type=float, default=None,
                    help="the fitted start replaces the best fixed start only with a validation gain of this many paired SEs")
    ap.add_argument("--fit-folds", type=int, default=None,
                    help="the fitted start must also win out of fold on this many folds of the training episodes "
                         "(RLConfig default 4; 0: validation alone, as runs 7-8)")
    ap.add_argument("--start-pool", action="store_true",
                    help="judge the fixed RL starts on validation pooled with the training episodes "
                         "(RLConfig.start_pool=True, run 10; default: validation alone)")
    ap.add_argument("--no-fit-start", action="store_true", help="no fitted RL start (RLConfig.fit_start=False)")
    args = ap.parse_args()
    only, seeds = args.only.split(","), [int(s) for s in args.seeds.split(",")]
    curve_dir = Path(args.curves)
    curve_dir.mkdir(parents=True, exist_ok=True)
    out = {"seeds": seeds, "task": "bundle completion from the held-out bundle's first item"}
    rl = RLConfig(starts=tuple(x for x in args.starts.split(",") if x),
                  frozen=tuple(x for x in args.frozen.split(",") if x), keep_norm=args.keep_norm, prox=args.prox)
    if args.temperature is not None:
        rl = dataclasses.replace(rl, temperature=args.temperature)
    if args.complement_bonus is not None:
        bonuses = tuple(float(x) for x in args.complement_bonus.split(","))
        rl = dataclasses.replace(rl, complement_bonus=bonuses[0], complement_bonuses=bonuses if len(bonuses) > 1 else ())
    if args.lr is not None:
        rl = dataclasses.replace(rl, lr=args.lr)
    if args.min_gain_z is not None:
        rl = dataclasses.replace(rl, min_gain_z=args.min_gain_z)
    if args.fit_min_gain_z is not None:
        rl = dataclasses.replace(rl, fit_min_gain_z=args.fit_min_gain_z)
    if args.fit_folds is not None:
        rl = dataclasses.replace(rl, fit_folds=args.fit_folds)
    if args.fit_l2 is not None:
        rl = dataclasses.replace(rl, fit_l2=args.fit_l2)
    if args.no_fit_start:
        rl = dataclasses.replace(rl, fit_start=False)
    if args.start_pool:
        rl = dataclasses.replace(rl, start_pool=True)
    if args.substitute_penalty is not None:
        rl = dataclasses.replace(rl, substitute_penalty=args.substitute_penalty)
    avoid = args.substitutes == "mask"
    out["substitutes"], out["rl_config"] = args.substitutes, dataclasses.asdict(rl)
    out["complements"] = {"source": "learned", "epochs": args.complement_epochs} if args.complements == "learned" \
        else args.complements
    for domain in ("electronic", "clothing"):
        if domain in only:
            ds = cartgraph.load("bundlerec-amazon", DATA / "bundlerec-amazon" / domain)
            split = splits.last_bundle(ds, mode="new")
            cases, held = bundlerec_cases(ds, split, rl.max_size)
            vec = vectors(split.train)
            brl = rl if args.sources is None else dataclasses.replace(rl, sources=args.sources)
            brl = brl if args.episodes is None else dataclasses.replace(brl, episodes=args.episodes)
            comp = {"lift": None, "learned": lambda: learned_complements(vec, args.complement_epochs),
                    "ranker": lambda: ranker_complements(vec)}[args.complements]
            comp = comp() if comp else None
            out[f"bundlerec-{domain}"] = run_learned(f"bundlerec-{domain}", split.train, vec, cases,
                                                     pair_matrix(held, split.train.n_items), seeds, brl, curve_dir, 10,
                                                     avoid, comp)
    if "online-retail" in only:
        ds = cartgraph.load("online-retail", DATA / "online-retail")
        split = splits.online_retail(ds, stage="test", mode="all")
        cases, held = online_retail_cases(ds, split, args.max_cases, rl.max_size)
        vec = vectors(split.train)
        out["online-retail"] = run_learned("online-retail", split.train, vec, cases, pair_matrix(held, split.train.n_items),
                                           seeds, dataclasses.replace(rl, max_episodes=args.retail_episodes, max_valid=args.retail_valid), curve_dir, 10, avoid)
    if "steam" in only:
        out["steam"] = steam(0, 10, seeds, rl, curve_dir, avoid)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
