"""``cartgraph fit``: run the whole pipeline on a dataset and save the fitted model folder."""
from __future__ import annotations

import argparse
import time

from cartgraph.cli._common import add_dataset_args, load_dataset
from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register", "config_from_args", "add_config_args"]


def add_config_args(p: argparse.ArgumentParser, seed: bool = True) -> None:
    """The :class:`~cartgraph.RecommenderConfig` settings as flags (defaults = the config's);
    ``seed=False`` leaves ``--seed`` to the command."""
    from cartgraph.config import MODEL_NAMES, BundlesConfig, ComplementsConfig, GraphConfig, ModelConfig

    m, g, b, c = ModelConfig(), GraphConfig(), BundlesConfig(), ComplementsConfig()
    p.add_argument("--model", default=m.name, choices=MODEL_NAMES, help=f"recommender model (default {m.name})")
    p.add_argument("--no-text", action="store_true", help="skip the text encoder (no SIMILAR_TO edges, no text reasons)")
    p.add_argument("--text-model", default=None, help="local folder or Hugging Face id (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--similar-k", type=int, default=g.similar_k, help=f"text neighbours per item (default {g.similar_k})")
    p.add_argument("--co-purchase-min-count", type=int, default=g.co_purchase_min_count,
                   help=f"shared baskets for a CO_PURCHASED edge (default {g.co_purchase_min_count})")
    p.add_argument("--ease-lambda", type=float, default=m.ease_lambda, help=f"EASE λ (default {m.ease_lambda})")
    p.add_argument("--neighbors", type=int, default=m.n_neighbors, help=f"ItemKNN neighbours (default {m.n_neighbors})")
    p.add_argument("--epochs", type=int, default=m.epochs,
                   help=f"LightGCN/hetero epochs, graph ranker's most epochs (default {m.epochs})")
    p.add_argument("--ranker-fold", choices=("time", "basket"), default=m.ranker_fold,
                   help="graph ranker's training cuts: calendar windows or each user's last baskets "
                        f"(default {m.ranker_fold})")
    p.add_argument("--no-complements", action="store_true", help="skip learning complements")
    p.add_argument("--complement-model", choices=("ranker", "gnn"), default=c.model,
                   help="learned complements: 'ranker' (graph pair features + a list scorer trained on held-out "
                        f"baskets) or 'gnn' (ComplementModel fused with counts; default {c.model})")
    p.add_argument("--complement-epochs", type=int, default=c.epochs,
                   help=f"complement model epochs, --complement-model gnn (default {c.epochs})")
    p.add_argument("--complement-min-steps", type=int, default=c.min_steps,
                   help=f"at least this many complement training steps (default {c.min_steps})")
    p.add_argument("--complement-k", type=int, default=c.k,
                   help=f"COMPLEMENTS edges exported per item (default {c.k})")
    p.add_argument("--complement-count-weight", type=_count_weight, default=c.count_weight,
                   help="weight of the observed co-occurrence in served complement scores, or 'auto' "
                        f"(chosen on the latest baskets; default {c.count_weight})")
    p.add_argument("--no-bundles", action="store_true", help="skip the bundle policy")
    p.add_argument("--bundle-size", type=int, default=b.size, help=f"default bundle size (default {b.size})")
    p.add_argument("--rl-epochs", type=int, default=b.rl_epochs,
                   help=f"RL tuning epochs of the bundle walk (0: hand-set weights; default {b.rl_epochs})")
    p.add_argument("--rl-episodes", type=int, default=b.max_episodes,
                   help=f"held-out baskets the RL tuning learns from, at most (default {b.max_episodes})")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="seed of every learned stage (default 0)")


def _count_weight(text: str) -> float | str:
    """``'auto'`` or a number >= 0 (argparse type of ``--complement-count-weight``)."""
    import argparse

    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number >= 0, found {text!r}")
    return value


def config_from_args(args):
    """The :class:`~cartgraph.RecommenderConfig` the flags describe."""
    from cartgraph.config import (BundlesConfig, ComplementsConfig, GraphConfig, ModelConfig, RecommenderConfig,
                                  TextConfig)

    return RecommenderConfig(
        text=TextConfig(enabled=not args.no_text, model=args.text_model),
        graph=GraphConfig(similar_k=args.similar_k, co_purchase_min_count=args.co_purchase_min_count),
        model=ModelConfig(args.model, ease_lambda=args.ease_lambda, n_neighbors=args.neighbors, epochs=args.epochs,
                          ranker_fold=args.ranker_fold),
        complements=ComplementsConfig(enabled=not args.no_complements, model=args.complement_model,
                                      epochs=args.complement_epochs,
                                      min_steps=args.complement_min_steps, k=args.complement_k,
                                      count_weight=args.complement_count_weight),
        bundles=BundlesConfig(enabled=not args.no_bundles, size=args.bundle_size, rl_epochs=args.rl_epochs,
                              max_episodes=args.rl_episodes),
        seed=args.seed)


def register(sub) -> None:
    p = sub.add_parser("fit", help="fit the whole pipeline on a dataset and save the model folder",
                       description="Run text → graph → recommender → complements → bundle policy on a dataset "
                                   "and save everything to one folder (use it with recommend, bundle, export).")
    add_dataset_args(p)
    p.add_argument("--out", required=True, help="model folder to write (replaced atomically)")
    add_config_args(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def _run(args) -> int:
    from cartgraph.recommender import Recommender

    config = config_from_args(args)
    t0 = time.perf_counter()
    dataset = load_dataset(args.dataset, args.path)
    rec = Recommender(config).fit(dataset, progress=not args.no_progress)
    rec.save(args.out)
    result = {"out": str(args.out), "dataset": dataset.name, "config": config.to_dict(), "stages": rec.stages_,
              "seconds": round(time.perf_counter() - t0, 2)}
    if args.json:
        emit_json(result)
        return 0
    rows = [(name, s["status"], s["seconds"], s["detail"]) for name, s in rec.stages_.items()]
    print_table(rows, ["stage", "status", "seconds", "detail"], title=f"fitted on {dataset.name}; saved to {args.out}")
    return 0
