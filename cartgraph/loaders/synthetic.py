"""A generated shop with known ground truth: the demo's default data and the test fixture.

``load(n_users=200, n_items=120, seed=0)`` builds, in well under a second and
identically for a given seed:

* a catalogue under a category tree (department > category, e.g. ``Kitchen > Coffee``)
  of readable products ("Brewline Espresso Machine", "Aeropress Coffee Beans" ...) with
  descriptions, brands and prices; item ``i`` is product type ``i mod 72`` (types taken
  round-robin over the 12 categories, so even a small shop covers every category) in
  variant ``i // 72`` (another brand: a *substitute*);
* directed **complementary pairs** (espresso machine → coffee beans, smartphone → phone
  case ...; never the reverse), stored as ``meta["complements"]`` = ``[[item, item], ...]``;
* users with **tastes** (one or two favourite categories, ``meta["tastes"]``) who shop in
  sessions along the funnel view → click → cart → purchase, with timestamps;
* baskets (``basket_id`` per purchasing session) in which complements follow their
  anchor with probability ``complement_rate``, and later sessions that come back for a
  complement not bought yet; some purchases are whole bundles;
* ``bundles`` built from complementary sets (an anchor and its complements, named
  "Espresso Machine Starter Kit", with an intent text and a 10% discount) and
  ``user_bundles`` recording who bought one.

So a user's future purchases are predictable from their past ones (taste + complements)
and item-to-item co-occurrence beats popularity clearly. Per-user random streams are
derived from ``(seed, user index)``, so users do not depend on each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError

__all__ = ["load", "CATALOGUE", "COMPLEMENT_TYPES"]

CATALOGUE: dict[tuple[str, str], tuple[str, list[tuple[str, float]]]] = {
    ("Kitchen", "Coffee"): ("making cafe-quality coffee at home", [
        ("Espresso Machine", 349), ("Coffee Grinder", 89), ("Coffee Beans", 14), ("Milk Frother", 39),
        ("Espresso Tamper", 19), ("Descaling Kit", 12)]),
    ("Kitchen", "Baking"): ("baking bread, cakes and cookies", [
        ("Stand Mixer", 299), ("Cake Pan", 24), ("Mixing Bowl Set", 29), ("Silicone Spatula", 9),
        ("Piping Bags", 8), ("Baking Sheet", 15)]),
    ("Kitchen", "Cookware"): ("everyday cooking on the stove and in the oven", [
        ("Cast Iron Skillet", 45), ("Dutch Oven", 79), ("Pan Scraper", 6), ("Oven Mitts", 12),
        ("Wooden Spoon Set", 14), ("Saucepan Set", 99)]),
    ("Electronics", "Phones"): ("staying connected on the go", [
        ("Smartphone", 699), ("Wireless Earbuds", 129), ("Phone Case", 19), ("Screen Protector", 11),
        ("USB-C Charger", 25), ("Power Bank", 39)]),
    ("Electronics", "Cameras"): ("taking sharp photos and videos", [
        ("Mirrorless Camera", 899), ("Camera Lens", 399), ("Memory Card", 29), ("Camera Bag", 59),
        ("Lens Cleaning Kit", 15), ("Tripod", 79)]),
    ("Electronics", "Gaming"): ("playing games with friends", [
        ("Game Console", 499), ("Wireless Controller", 69), ("Racing Game", 59), ("Charging Dock", 29),
        ("Gaming Headset", 89), ("Console Stand", 25)]),
    ("Sports", "Running"): ("running faster and further", [
        ("Running Shoes", 129), ("Sports Watch", 249), ("Running Socks", 15), ("Water Bottle", 19),
        ("Heart Rate Strap", 49), ("Reflective Vest", 22)]),
    ("Sports", "Yoga"): ("a calm and flexible yoga practice", [
        ("Yoga Mat", 49), ("Meditation Cushion", 39), ("Yoga Blocks", 18), ("Yoga Strap", 10),
        ("Mat Bag", 25), ("Foam Roller", 29)]),
    ("Sports", "Cycling"): ("safe cycling on the road", [
        ("Road Bike", 1199), ("Bike Helmet", 79), ("Bike Lights", 35), ("Bike Lock", 45),
        ("Cycling Gloves", 25), ("Floor Pump", 39)]),
    ("Home", "Bedroom"): ("sleeping well every night", [
        ("Duvet", 119), ("Pillow", 39), ("Duvet Cover", 59), ("Pillowcase Set", 25),
        ("Mattress Protector", 45), ("Bedside Lamp", 49)]),
    ("Home", "Garden"): ("keeping a green and tidy garden", [
        ("Lawn Mower", 329), ("Garden Hose", 39), ("Grass Seed", 19), ("Hose Nozzle", 12),
        ("Garden Gloves", 14), ("Pruning Shears", 29)]),
    ("Home", "Home Office"): ("a comfortable home office", [
        ("Standing Desk", 449), ("Mechanical Keyboard", 119), ("Monitor Arm", 89), ("Desk Mat", 25),
        ("Desk Lamp", 45), ("Office Chair", 299)]),
}
"""(department, category) → (purpose sentence, [(product type, base price)])."""

COMPLEMENT_TYPES: dict[str, list[str]] = {
    "Espresso Machine": ["Coffee Beans", "Milk Frother", "Espresso Tamper"],
    "Coffee Grinder": ["Coffee Beans"],
    "Stand Mixer": ["Mixing Bowl Set", "Silicone Spatula"],
    "Cake Pan": ["Piping Bags"],
    "Cast Iron Skillet": ["Pan Scraper", "Oven Mitts"],
    "Dutch Oven": ["Oven Mitts", "Wooden Spoon Set"],
    "Smartphone": ["Phone Case", "Screen Protector", "USB-C Charger"],
    "Wireless Earbuds": ["USB-C Charger"],
    "Mirrorless Camera": ["Memory Card", "Camera Bag", "Tripod"],
    "Camera Lens": ["Lens Cleaning Kit"],
    "Game Console": ["Wireless Controller", "Racing Game"],
    "Wireless Controller": ["Charging Dock"],
    "Running Shoes": ["Running Socks", "Water Bottle"],
    "Sports Watch": ["Heart Rate Strap"],
    "Yoga Mat": ["Yoga Blocks", "Yoga Strap", "Mat Bag"],
    "Road Bike": ["Bike Helmet", "Bike Lights", "Bike Lock", "Water Bottle"],
    "Duvet": ["Duvet Cover"],
    "Pillow": ["Pillowcase Set"],
    "Lawn Mower": ["Grass Seed"],
    "Garden Hose": ["Hose Nozzle"],
    "Standing Desk": ["Monitor Arm", "Desk Mat"],
    "Mechanical Keyboard": ["Desk Mat"],
}
"""Directed complements between product types (anchor → accessories it calls for)."""

_BRANDS = {"Kitchen": ["Brewline", "Copperleaf", "Hearth & Co", "Nordvik"],
           "Electronics": ["Voltra", "Pixelon", "Arcwave", "Lumio"],
           "Sports": ["Stridewell", "Peakform", "Velocity", "Zenfit"],
           "Home": ["Oakhaven", "Greenrow", "Softnest", "Deskcraft"]}
_ADJECTIVES = ["Classic", "Compact", "Premium", "Durable", "Lightweight", "Professional"]
_START = pd.Timestamp("2024-01-01")


@dataclass(frozen=True)
class _Shop:
    """The generated catalogue: items table, per-item leaf index, complements, bundles."""

    items: pd.DataFrame
    leaf: np.ndarray
    popularity: np.ndarray
    complements: dict[int, list[int]]
    bundles: list[list[int]] = field(default_factory=list)

    @property
    def by_leaf(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Leaf → (its items, cumulative popularity), for fast weighted draws."""
        cached = self.__dict__.get("_by_leaf")
        if cached is None:
            cached = {}
            for leaf in np.unique(self.leaf):
                members = np.flatnonzero(self.leaf == leaf)
                cached[int(leaf)] = (members, np.cumsum(self.popularity[members]))
            object.__setattr__(self, "_by_leaf", cached)
        return cached


def _type_order() -> list[tuple[tuple[str, str], str, float, int]]:
    """(leaf, type, base price, position) with types taken round-robin over the leaves."""
    leaves = list(CATALOGUE)
    return [(leaf, *CATALOGUE[leaf][1][p], p) for p in range(6) for leaf in leaves]


def _item_row(i: int, kind: tuple, variant: int, rng: np.random.Generator) -> dict:
    (dept, cat), name, base, position = kind
    brands = _BRANDS[dept]
    brand = brands[(position + variant) % len(brands)]
    edition = f" Mk {variant // len(brands) + 1}" if variant >= len(brands) else ""
    adjective = _ADJECTIVES[(i * 7 + variant) % len(_ADJECTIVES)]
    return {
        "item_id": f"sku-{i:04d}",
        "title": f"{brand} {name}{edition}",
        "description": f"{adjective} {name.lower()} by {brand}, for {CATALOGUE[(dept, cat)][0]}.",
        "category_path": [dept, cat],
        "brand": brand,
        "price": round(base * float(rng.uniform(0.8, 1.3))) - 0.01,
        "attributes": {"product_type": name, "variant": variant},
    }


def _complements(types: list[str], variants: list[int]) -> dict[int, list[int]]:
    """Item-level directed complements: each anchor variant → one variant of every accessory type."""
    by_type: dict[str, list[int]] = {}
    for i, t in enumerate(types):
        by_type.setdefault(t, []).append(i)
    out: dict[int, list[int]] = {}
    for i, t in enumerate(types):
        targets = [by_type[b][variants[i] % len(by_type[b])] for b in COMPLEMENT_TYPES.get(t, []) if b in by_type]
        if targets:
            out[i] = targets
    return out


def _catalogue(n_items: int, seed: int) -> _Shop:
    rng = np.random.default_rng([seed, 0])
    order = _type_order()
    kinds = [order[i % len(order)] for i in range(n_items)]
    variants = [i // len(order) for i in range(n_items)]
    rows = [_item_row(i, k, v, rng) for i, (k, v) in enumerate(zip(kinds, variants))]
    leaves = list(CATALOGUE)
    comp = _complements([k[1] for k in kinds], variants)
    bundles = [[a, *bs] for a, bs in sorted(comp.items()) if len(bs) >= 2]
    return _Shop(items=pd.DataFrame(rows), leaf=np.array([leaves.index(k[0]) for k in kinds]),
                 popularity=rng.lognormal(0.0, 0.5, size=n_items), complements=comp, bundles=bundles)


@dataclass
class _Session:
    """Events of one user being generated (ids are item indices until the end)."""

    user: str
    rng: np.random.Generator
    clock: int  # seconds since 2024-01-01
    events: list[tuple] = field(default_factory=list)

    def emit(self, item: int, kind: str, basket: str | None = None) -> None:
        self.clock += int(self.rng.integers(20, 240))
        self.events.append((self.user, item, kind, self.clock, basket))


def _pick(shop: _Shop, leaf: int, rng: np.random.Generator, exclude: int = -1) -> int:
    """An item of category ``leaf`` drawn by popularity (``exclude`` redrawn unless it is the only one)."""
    members, cumulative = shop.by_leaf[leaf]
    while True:
        item = int(members[min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")),
                               len(members) - 1)])
        if item != exclude or len(members) == 1:
            return item


def _target(shop: _Shop, tastes: list[int], owned: list[int], bought: set[int], rng: np.random.Generator) -> int:
    """Next item a user goes for: a missing complement of something owned, or one of their tastes."""
    pending = [c for a in owned for c in shop.complements.get(a, []) if c not in bought]
    if pending and rng.random() < 0.35:
        return int(pending[int(rng.integers(len(pending)))])
    leaves = [lf for lf in tastes if (shop.leaf == lf).any()] or sorted(set(shop.leaf.tolist()))
    leaf = leaves[int(rng.integers(len(leaves)))] if rng.random() < 0.85 else int(rng.choice(shop.leaf))
    return _pick(shop, leaf, rng)


def _browse(shop: _Shop, s: _Session, target: int) -> None:
    """Views of the target and a few substitutes from its category, then a click on the target."""
    others = [_pick(shop, int(shop.leaf[target]), s.rng, target) for _ in range(int(s.rng.integers(1, 4)))]
    for item in [target, *others]:
        s.emit(item, "view")
    if s.rng.random() < 0.3:
        s.emit(others[0], "click")
    s.emit(target, "click")


def _checkout(shop: _Shop, s: _Session, target: int, basket: str, rate: float) -> tuple[list[int], int | None]:
    """Cart and buy the target with some complements (or a whole bundle); returns (bought, bundle)."""
    bundle = next((b for b, members in enumerate(shop.bundles) if members[0] == target), None)
    if bundle is not None and s.rng.random() < 0.25:
        chosen = list(shop.bundles[bundle])
    else:
        bundle = None
        chosen = [target] + [c for c in shop.complements.get(target, []) if s.rng.random() < rate]
    for item in chosen:
        s.emit(item, "cart", basket)
    for item in chosen:
        s.emit(item, "purchase", basket)
    return chosen, bundle


def _user(shop: _Shop, u: int, seed: int, sessions: float, rate: float, days: int) -> tuple[list, list, list[int]]:
    """All events and bundle choices of user ``u`` from its own random stream."""
    rng = np.random.default_rng([seed, 1, u])
    tastes = sorted(rng.choice(len(CATALOGUE), size=int(rng.integers(1, 3)), replace=False).tolist())
    starts = np.sort(rng.uniform(0, 86400.0 * days, size=max(2, int(rng.poisson(sessions))))).astype(np.int64)
    s = _Session(f"user-{u:04d}", rng, 0)
    owned: list[int] = []
    chosen_bundles: list[tuple] = []
    for k, start in enumerate(starts.tolist()):
        s.clock = max(s.clock + 60, start)
        target = _target(shop, tastes, owned, set(owned), rng)
        _browse(shop, s, target)
        if rng.random() < 0.75:
            bought, bundle = _checkout(shop, s, target, f"order-{u:04d}-{k:02d}", rate)
            owned.extend(bought)
            if bundle is not None:
                chosen_bundles.append((s.user, bundle, s.clock))
    return s.events, chosen_bundles, tastes


def _check(n_users: int, n_items: int, sessions_per_user: float, complement_rate: float, days: int) -> None:
    if n_users < 1 or n_items < 1:
        raise ConfigError(f"n_users and n_items must be >= 1, got n_users={n_users}, n_items={n_items}")
    if not 0.0 <= complement_rate <= 1.0:
        raise ConfigError(f"complement_rate must be in [0, 1], got {complement_rate}")
    if sessions_per_user <= 0 or days < 1:
        raise ConfigError(f"sessions_per_user must be > 0 and days >= 1, got {sessions_per_user}, {days}")


def _bundle_table(shop: _Shop) -> pd.DataFrame:
    ids, titles = shop.items["item_id"].to_numpy(), shop.items["attributes"]
    rows = []
    for b, members in enumerate(shop.bundles):
        anchor = titles[members[0]]["product_type"]
        purpose = CATALOGUE[tuple(shop.items["category_path"][members[0]])][0]
        rows.append({"bundle_id": f"bundle-{b:03d}", "item_ids": [ids[m] for m in members],
                     "name": f"{anchor} Starter Kit", "intent": f"everything needed for {purpose}",
                     "price": round(0.9 * float(shop.items["price"].to_numpy()[members].sum()), 2)})
    return pd.DataFrame(rows, columns=["bundle_id", "item_ids", "name", "intent", "price"])


def load(*, n_users: int = 200, n_items: int = 120, seed: int = 0, sessions_per_user: float = 8.0,
         complement_rate: float = 0.6, days: int = 180) -> Dataset:
    """Generate a small shop (``name="synthetic"``); identical output for identical arguments.

    Args:
        n_users: number of shoppers (default 200).
        n_items: number of products (default 120; 72 product types, then more brands).
        seed: random seed (default 0).
        sessions_per_user: mean number of shopping sessions per user (Poisson, at least 2).
        complement_rate: probability that each complement joins its anchor's basket.
        days: length of the period the sessions spread over, from 2024-01-01.
    """
    _check(n_users, n_items, sessions_per_user, complement_rate, days)
    shop = _catalogue(n_items, seed)
    per_user = [_user(shop, u, seed, sessions_per_user, complement_rate, days) for u in range(n_users)]
    ids = shop.items["item_id"].to_numpy()
    events = pd.DataFrame([e for ev, _, _ in per_user for e in ev],
                          columns=["user_id", "item_id", "kind", "ts", "basket_id"])
    events["item_id"] = ids[events["item_id"].to_numpy(dtype=np.int64)]
    events["ts"] = _START + pd.to_timedelta(events["ts"].to_numpy(dtype=np.int64), unit="s")
    events["price"] = shop.items.set_index("item_id")["price"].reindex(events["item_id"]).to_numpy()
    choices = pd.DataFrame([(u, f"bundle-{b:03d}", t) for _, ch, _ in per_user for u, b, t in ch],
                           columns=["user_id", "bundle_id", "ts"])
    choices["ts"] = _START + pd.to_timedelta(choices["ts"].to_numpy(dtype=np.int64), unit="s")
    leaves = [" > ".join(k) for k in CATALOGUE]
    meta = {"generator": "cartgraph.loaders.synthetic", "seed": seed, "n_users": n_users, "n_items": n_items,
            "complements": [[ids[a], ids[b]] for a, bs in sorted(shop.complements.items()) for b in bs],
            "tastes": {f"user-{u:04d}": [leaves[t] for t in tastes] for u, (_, _, tastes) in enumerate(per_user)}}
    users = pd.DataFrame({"user_id": [f"user-{u:04d}" for u in range(n_users)]})
    return Dataset(items=shop.items, users=users, events=events, bundles=_bundle_table(shop),
                   user_bundles=choices, name="synthetic", meta=meta)
