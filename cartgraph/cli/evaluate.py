"""``cartgraph evaluate``: a model on a dataset under its fixed protocol (EVALUATION.md)."""
from __future__ import annotations

import inspect
import time

from cartgraph.cli._output import add_json_flag, emit_json, print_table
from cartgraph.errors import ConfigError

__all__ = ["register", "MODELS", "PROTOCOLS", "run_evaluation"]

PROTOCOLS: dict[str, str] = {
    "online-retail": "online_retail",
    "instacart": "instacart",
    "lightgcn": "lightgcn_official",
    "youshu": "youshu",
    "bundlerec-amazon": "last_bundle",
}
"""Dataset format → split function of :mod:`cartgraph.evaluation.splits`."""

MODELS: tuple[str, ...] = ("most-popular", "itemknn", "ease", "lightgcn", "graph-ranker")

RANKER_FOLDS: dict[str, str] = {"instacart": "basket"}
"""The graph ranker's training cuts per dataset format (the cut that mimics its protocol;
default ``"time"``)."""


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a model under a dataset's fixed protocol",
                       description="Fit on the protocol's training data and report Recall/NDCG/Hit/MRR@K and coverage.")
    p.add_argument("--dataset", required=True, choices=sorted(PROTOCOLS), help="dataset format")
    p.add_argument("--data-dir", dest="path", default=None,
                   help="file or folder of the dataset (default: $CARTGRAPH_DATA_DIR/<dataset>)")
    p.add_argument("--model", required=True, choices=MODELS, help="model to evaluate")
    p.add_argument("--mode", choices=("new", "all"), default="new",
                   help="'new': items bought before are masked and not counted; 'all': repeats count")
    p.add_argument("--stage", choices=("test", "valid"), default="test", help="evaluate on test (default) or validation")
    p.add_argument("-k", type=int, action="append", help="cut-off(s) (default 20; repeat for several)")
    p.add_argument("--ease-lambda", type=float, default=None,
                   help="EASE (and graph-ranker) regularisation (default: tuned on validation)")
    p.add_argument("--epochs", type=int, default=100,
                   help="LightGCN / graph-ranker: maximum epochs (early stopping on validation / held-out training users)")
    p.add_argument("--seed", type=int, default=0, help="seed of learned models")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="also draw the metrics as a bar chart into this PNG")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def _split(dataset, name: str, stage: str, mode: str):
    from cartgraph.evaluation import splits

    fn = getattr(splits, PROTOCOLS[name])
    params = inspect.signature(fn).parameters
    kwargs = {"stage": stage} if "stage" in params else {}
    if "mode" in params:
        kwargs["mode"] = mode
    return fn(dataset, **kwargs)


def _model(name: str, dataset, dataset_name: str, mode: str, ease_lambda: float | None, epochs: int, seed: int):
    from cartgraph import baselines
    from cartgraph.gnn import LightGCN

    if name == "most-popular":
        return baselines.MostPopular()
    if name == "itemknn":
        return baselines.ItemKNN()
    if name == "ease":
        if ease_lambda is None:
            ease_lambda = baselines.tune_ease(_split(dataset, dataset_name, "valid", mode))
        return baselines.EASE(ease_lambda)
    if name == "lightgcn":
        return LightGCN(epochs=epochs, seed=seed)
    if name == "graph-ranker":
        from cartgraph.gnn import TextGraphRanker
        from cartgraph.pipeline_stages import GRAPH_RANKER_CANDIDATES, GRAPH_RANKER_VALID_FRACTION

        if ease_lambda is None:
            ease_lambda = baselines.tune_ease(_split(dataset, dataset_name, "valid", mode))
        return TextGraphRanker(ease_lambda, "auto", GRAPH_RANKER_CANDIDATES, fold=RANKER_FOLDS.get(dataset_name, "time"),
                               features="auto", epochs=epochs, seed=seed, valid_fraction=GRAPH_RANKER_VALID_FRACTION)
    raise ConfigError(f"unknown model {name!r}; choose one of {list(MODELS)}")


def _refit_at_best_epoch(model, valid, test, seed: int):
    """Choose the epoch count on the validation split, then refit on the test split's
    training data (train + validation) for that many epochs: the test set is never seen."""
    from cartgraph.gnn import LightGCN

    model.fit(valid.train, valid=valid)
    epochs = max(1, model.history_.best_epoch + 1)
    return LightGCN(epochs=epochs, eval_every=0, seed=seed).fit(test.train)


def run_evaluation(dataset_name: str, path, model_name: str, mode: str = "new", stage: str = "test",
                   ks: tuple[int, ...] = (20,), ease_lambda: float | None = None, epochs: int = 100,
                   seed: int = 0) -> dict:
    """Load, split, fit and evaluate; return the metrics with the protocol's facts."""
    from cartgraph.data_source import resolve_path
    from cartgraph.evaluation import evaluate
    from cartgraph.loaders import load

    resolved = resolve_path(dataset_name, path)
    if resolved is None:
        raise ConfigError(f"--data-dir is required for {dataset_name!r} (or set CARTGRAPH_DATA_DIR)")
    ds = load(dataset_name, resolved)
    split = _split(ds, dataset_name, stage, mode)
    model = _model(model_name, ds, dataset_name, mode, ease_lambda, epochs, seed)
    t0 = time.perf_counter()
    if model_name == "lightgcn" and stage == "test":
        model = _refit_at_best_epoch(model, _split(ds, dataset_name, "valid", mode), split, seed)
    else:
        model.fit(split.train)
    fit_s = time.perf_counter() - t0
    metrics = evaluate(model, split, ks=ks)
    return {"dataset": dataset_name, "model": model_name, "mode": split.mode, "stage": stage,
            "fit_s": round(fit_s, 3), "metrics": metrics, "split": split.name}


def _run(args) -> int:
    from cartgraph.cli._plots import check_png

    check_png(args.plot)
    ks = tuple(args.k) if args.k else (20,)
    result = run_evaluation(args.dataset, args.path, args.model, args.mode, args.stage, ks, args.ease_lambda,
                            args.epochs, args.seed)
    if args.plot:
        from cartgraph.cli._plots import plot_metrics

        plot_metrics(result["metrics"], f"{result['model']} on {result['split']}", args.plot)
        result["plot"] = args.plot
    if args.json:
        emit_json(result)
        return 0
    rows = [(name, value) for name, value in result["metrics"].items()]
    print_table(rows, ["metric", "value"],
                title=f"{result['model']} on {result['dataset']} ({result['split']}, mode {result['mode']}, {result['stage']})")
    if args.plot:
        print(f"drawn to {args.plot}")
    return 0
