"""``cartgraph bundle``: bundles for a user from a fitted model folder, explained, optionally drawn."""
from __future__ import annotations

from cartgraph.cli._common import add_model_dir, load_model
from cartgraph.cli._output import add_json_flag, emit_json, print_table

__all__ = ["register", "bundle_rows"]


def register(sub) -> None:
    p = sub.add_parser("bundle", help="build bundles for a user of a fitted model",
                       description="Walk the item graph from the user's likely next item (or --anchor) and print "
                                   "each bundle with the reason every item was added.")
    add_model_dir(p)
    p.add_argument("user", metavar="USER", help="user id as in the dataset")
    p.add_argument("--size", type=int, default=None, help="items per bundle (default: the model's bundle size)")
    p.add_argument("--budget", type=float, default=None, help="maximum total price")
    p.add_argument("--anchor", default=None, help="item id to start from (e.g. an item in the cart)")
    p.add_argument("-n", type=int, default=2, help="how many different bundles (default 2)")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="also draw the bundles into this PNG file")
    add_json_flag(p)
    p.set_defaults(handler=_run)


def bundle_rows(rec, bundle) -> list[dict]:
    """One dict per item of a bundle: id, title, price, why."""
    return [{"item_id": i, "title": t, "price": float(rec.items_.at[rec.item_vocab_.index(i), "price"]), "why": e}
            for i, t, e in zip(bundle.items, bundle.titles, bundle.explanations)]


def _run(args) -> int:
    from cartgraph.cli._plots import check_png

    check_png(args.plot)
    rec = load_model(args.model_dir)
    bundles = rec.bundle(args.user, size=args.size, budget=args.budget, anchor=args.anchor, n=args.n)
    out = [{"items": bundle_rows(rec, b), "total_price": float(b.total_price), "score": float(b.score)} for b in bundles]
    if args.plot:
        from cartgraph.cli._plots import plot_bundles

        plot_bundles(bundles, f"bundles for user {args.user}", args.plot,
                     lambda i: float(rec.items_.at[rec.item_vocab_.index(i), "price"]), args.budget)
    if args.json:
        emit_json({"user_id": args.user, "bundles": out, "plot": args.plot})
        return 0
    for n, b in enumerate(out):
        rows = [(r["title"][:36], r["price"], r["why"]) for r in b["items"]]
        print_table(rows, ["item", "price", "why"],
                    title=f"Bundle {n + 1} for user {args.user}: total {b['total_price']:.2f}, score {b['score']:.3f}")
        print()
    if args.plot:
        print(f"drawn to {args.plot}")
    return 0
