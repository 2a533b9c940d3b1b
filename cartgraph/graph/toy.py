"""Small, deterministic datasets with a known graph, for tests, docs and benchmarks."""
from __future__ import annotations

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset

__all__ = ["toy_dataset", "random_shop"]

INJECTION_TITLE = '"}) DETACH DELETE n //'
"""An item title that would delete nodes if a store ever built Cypher from values."""


def toy_dataset() -> Dataset:
    """Five items in a two-level tree, three users, baskets (one anonymous) and a bundle.

    Known facts: ``phone`` and ``case`` share baskets ``o1`` (user ``u1``) and ``o2``
    (anonymous), so CO_PURCHASED(phone, case) has count 2; ``u2`` viewed ``phone``
    twice; item ``evil`` has the title :data:`INJECTION_TITLE`.
    """
    items = pd.DataFrame({
        "item_id": ["phone", "case", "charger", "mug", "evil"],
        "title": ["Smartphone X", "Phone case", "USB charger", "Coffee mug", INJECTION_TITLE],
        "category_path": [["Electronics", "Phones"], ["Electronics", "Accessories"],
                          ["Electronics", "Accessories"], ["Home", "Kitchen"], []],
        "brand": ["Acme", "Acme", None, "Potter", None],
        "price": [499.0, 19.0, 25.0, 8.5, float("nan")],
    })
    ts = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-02 09:00", "2024-01-02 09:00",
                         "2024-01-03 12:00", "2024-01-04 12:00", "2024-01-05 08:00", "2024-01-05 08:00", None])
    events = pd.DataFrame({
        "user_id": ["u1", "u1", None, None, "u2", "u2", "u3", "u3", "u3"],
        "item_id": ["phone", "case", "phone", "case", "phone", "phone", "mug", "charger", "evil"],
        "kind": ["purchase", "purchase", "purchase", "purchase", "view", "view", "cart", "purchase", "click"],
        "ts": ts,
        "basket_id": ["o1", "o1", "o2", "o2", None, None, "o3", "o3", None],
    })
    bundles = pd.DataFrame({"bundle_id": ["starter"], "item_ids": [["phone", "case", "charger"]],
                            "name": ["Starter kit"], "intent": ["new phone"], "price": [520.0]})
    user_bundles = pd.DataFrame({"user_id": ["u1", "u1"], "bundle_id": ["starter", "starter"],
                                 "ts": pd.to_datetime(["2024-02-01", "2024-02-03"])})
    return Dataset(items, events=events, bundles=bundles, user_bundles=user_bundles, name="toy").validate()


def random_shop(n_users: int = 500, n_items: int = 200, n_baskets: int = 3000, seed: int = 0,
                dim: int = 16) -> tuple[Dataset, np.ndarray]:
    """A seeded random shop (baskets of 1–8 popular-skewed items, 20% anonymous) and item vectors.

    Returns ``(dataset, item_vectors)``; vectors are rows in ``dataset.item_vocab`` order.
    """
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"i{i:05d}" for i in range(n_items)], dtype=object)
    cats = [["Shop", f"Dept {i % 17 % 5}", f"Aisle {i % 17}"] for i in range(n_items)]
    items = pd.DataFrame({"item_id": item_ids, "title": [f"Item {i}" for i in range(n_items)],
                          "category_path": cats, "price": rng.uniform(1, 100, n_items).round(2)})
    popularity = rng.zipf(1.5, n_items).astype(float)
    popularity /= popularity.sum()
    sizes = rng.integers(1, 9, n_baskets)
    basket = np.repeat(np.arange(n_baskets), sizes)
    item = rng.choice(n_items, size=len(basket), p=popularity)
    owner = rng.integers(0, n_users, n_baskets).astype(object)
    owner[rng.random(n_baskets) < 0.2] = None
    users = np.array([None if o is None else f"u{o:05d}" for o in owner], dtype=object)[basket]
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, n_baskets)[basket], unit="min")
    events = pd.DataFrame({"user_id": users, "item_id": item_ids[item], "kind": "purchase", "ts": ts,
                           "basket_id": [f"b{b}" for b in basket]})
    ds = Dataset(items, events=events, name=f"random-shop-{seed}").validate()
    vectors = rng.normal(size=(n_items, dim)).astype(np.float32)
    return ds, vectors[np.argsort(ds.item_vocab.indices(item_ids))]
