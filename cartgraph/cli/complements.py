"""``cartgraph complements``: what goes with an item, from a fitted model folder, with reasons."""
from __future__ import annotations

from cartgraph.cli._common import add_model_dir, load_model
from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register", "complement_rows"]


def register(sub) -> None:
    p = sub.add_parser("complements", help="items that go with an item (learned complements)",
                       description="Top-k learned complements (directed: what to add to a cart holding ITEM) "
                                   "from a model folder written by 'cartgraph fit', with scores and reasons.")
    add_model_dir(p)
    p.add_argument("items", nargs="+", metavar="ITEM", help="item id(s) as in the dataset")
    p.add_argument("-k", type=int, default=10, help="complements per item (default 10)")
    p.add_argument("--drop-substitutes", action="store_true",
                   help="leave out look-alike substitutes of the item (same leaf category, text cosine > 0.9)")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def complement_rows(rec, item: str, k: int, substitutes: str = "keep") -> list[dict]:
    """The top-``k`` complements of ``item`` as ``{item_id, title, score, reason}`` dicts, best first."""
    ids, scores, reasons = rec.complements(item, k=k, with_reasons=True, substitutes=substitutes)
    return [{"item_id": i, "title": rec.title(i), "score": float(s), "reason": r.text}
            for i, s, r in zip(ids, scores, reasons)]


def _run(args) -> int:
    rec = load_model(args.model_dir)
    substitutes = "drop" if args.drop_substitutes else "keep"
    result = [{"item_id": item, "title": rec.title(item), "complements": complement_rows(rec, item, args.k, substitutes)}
              for item in args.items]
    if args.json:
        emit_json({"model_dir": str(args.model_dir), "k": args.k, "substitutes": substitutes, "items": result})
        return 0
    for entry in result:
        rows = [(n + 1, c["item_id"], c["title"][:40], c["score"], c["reason"])
                for n, c in enumerate(entry["complements"])]
        print_table(rows, ["#", "item", "title", "score", "why"],
                    title=f"Goes with {entry['item_id']} ({entry['title']})")
        print()
    return 0
