"""``cartgraph data stats|convert``: look at a dataset before using it."""
from __future__ import annotations

import argparse

from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register"]


def _add_source(p: argparse.ArgumentParser) -> None:
    from cartgraph.loaders import LOADERS

    p.add_argument("--dataset", required=True, choices=sorted(LOADERS), help="dataset format")
    p.add_argument("--data-dir", "--path", dest="path", default=None,
                   help="file or folder of the dataset (not needed for 'synthetic')")
    p.add_argument("--pseudonymize-key", default=None,
                   help="pseudonymize user ids with this HMAC key ('env' reads CARTGRAPH_PSEUDONYM_KEY)")


def register(sub) -> None:
    p = sub.add_parser("data", help="dataset statistics and conversion",
                       description="Load a dataset, validate it, and print statistics or save it.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    s = dsub.add_parser("stats", help="validate a dataset and print its statistics")
    _add_source(s)
    add_json_flag(s)
    s.set_defaults(handler=_stats)
    c = dsub.add_parser("convert", help="load a dataset and save it as a cartgraph Parquet folder")
    _add_source(c)
    c.add_argument("--out", required=True, help="output folder (written atomically)")
    c.set_defaults(handler=_convert)


def _load(args):
    from cartgraph.data_source import resolve_path
    from cartgraph.loaders import load

    return load(args.dataset, resolve_path(args.dataset, args.path), pseudonymize_key=args.pseudonymize_key)


def _stats(args) -> int:
    stats = _load(args).stats()
    if args.json:
        emit_json(stats)
        return 0
    rows = [(k, v) for k, v in stats.items() if not isinstance(v, dict)]
    rows += [(f"events[{k}]", v) for k, v in stats["events_by_kind"].items()]
    print_table(rows, ["statistic", "value"], title=f"dataset {stats['name']}")
    return 0


def _convert(args) -> int:
    ds = _load(args)
    ds.save(args.out)
    print(f"saved {ds!r} to {args.out}")
    return 0
