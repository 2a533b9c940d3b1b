"""``cartgraph recommend``: top-k items for users of a fitted model folder, with reasons."""
from __future__ import annotations

from cartgraph.cli._common import add_model_dir, load_model
from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register", "recommendations"]


def register(sub) -> None:
    p = sub.add_parser("recommend", help="recommend items to users of a fitted model",
                       description="Top-k items per user (external ids) from a model folder written by "
                                   "'cartgraph fit', with scores and the strongest reason for each.")
    add_model_dir(p)
    p.add_argument("users", nargs="+", metavar="USER", help="user id(s) as in the dataset")
    p.add_argument("-k", type=int, default=10, help="recommendations per user (default 10)")
    p.add_argument("--include-seen", action="store_true", help="also recommend items the user already has")
    p.add_argument("--no-reasons", action="store_true", help="skip the reasons (faster for many users)")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def recommendations(rec, users: list[str], k: int, *, reasons: bool = True, exclude_seen: bool = True) -> list[dict]:
    """Per user: id, history size and the top-k ``{item_id, title, score, reasons}``."""
    items, scores = rec.recommend(list(users), k=k, exclude_seen=exclude_seen)
    out = []
    for user, row, vals in zip(users, items, scores):
        recs = [{"item_id": i, "title": rec.title(i), "score": float(s),
                 "reasons": [e.to_dict() for e in rec.explain(user, i)] if reasons else []}
                for i, s in zip(row, vals)]
        out.append({"user_id": user, "history_size": len(rec.history(user)), "recommendations": recs})
    return out


def _run(args) -> int:
    rec = load_model(args.model_dir)
    result = recommendations(rec, args.users, args.k, reasons=not args.no_reasons, exclude_seen=not args.include_seen)
    if args.json:
        emit_json({"model_dir": str(args.model_dir), "k": args.k, "users": result})
        return 0
    for user in result:
        rows = [(n + 1, r["item_id"], r["title"][:40], r["score"], r["reasons"][0]["text"] if r["reasons"] else "")
                for n, r in enumerate(user["recommendations"])]
        print_table(rows, ["#", "item", "title", "score", "why"],
                    title=f"User {user['user_id']} ({user['history_size']} items in history)")
        print()
    return 0
