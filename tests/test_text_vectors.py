"""Item text template and behaviour-weighted, recency-decayed user vectors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartgraph import Dataset
from cartgraph.errors import ConfigError, DataError
from cartgraph.text import ItemTextTemplate, UserVectorConfig, events_vector, item_texts, user_vectors


def test_template_full_row():
    row = {"title": "Coffee Beans", "brand": "Lavazza", "category_path": ["Pantry", "Coffee"],
           "attributes": {"roast": "dark", "aisle_id": 7}, "description": "Whole beans " * 40, "price": 9.5}
    text = ItemTextTemplate(fields=ItemTextTemplate().fields + ("price",)).render(row, band="premium")
    assert text.startswith("Coffee Beans. Brand: Lavazza. Category: Pantry > Coffee. roast: dark. Whole beans")
    assert "aisle_id" not in text  # numeric attributes are statistics, not words
    assert text.endswith("... Price: premium.")
    desc = text.split("roast: dark. ")[1].split(" Price")[0]
    assert len(desc) <= 200 + 4


def test_template_missing_fields_and_nan():
    t = ItemTextTemplate()
    assert t.render({"title": "Mug"}) == "Mug."
    assert t.render({"title": None, "brand": float("nan"), "description": "nan", "category_path": []}) == ""
    assert t.render({"title": "Mug", "attributes": {"colour": "red", "size": "L"}},) == "Mug. colour: red; size: L."
    assert ItemTextTemplate(attribute_keys=("size",)).render({"title": "Mug", "attributes": {"colour": "red", "size": "L"}}) == "Mug. size: L."
    with pytest.raises(ConfigError, match="unknown"):
        ItemTextTemplate(fields=("title", "colour"))


def test_item_texts_price_bands_by_catalogue_quantiles():
    items = pd.DataFrame({"item_id": list("abcd"), "title": list("ABCD"), "price": [1.0, 5.0, 50.0, np.nan]})
    texts = item_texts(Dataset(items=items).items, ItemTextTemplate(fields=("title", "price")))
    assert texts == ["A. Price: budget.", "B. Price: mid-range.", "C. Price: premium.", "D."]


def _dataset(events: list[tuple[str, str, str, str]], n_items: int = 3) -> Dataset:
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)], "title": ["x"] * n_items})
    ev = pd.DataFrame(events, columns=["user_id", "item_id", "kind", "ts"])
    ev["ts"] = pd.to_datetime(ev["ts"])
    return Dataset(items=items, events=ev, users=pd.DataFrame({"user_id": ["u0", "u1", "u2", "nobody"]}))


BASIS = np.eye(3, dtype=np.float32)  # item j's vector is e_j, so a user's j-th coordinate is item j's weight


def test_behaviour_weights_order_purchase_cart_click_view():
    ds = _dataset([("u0", "i0", "purchase", "2024-01-01"), ("u0", "i1", "cart", "2024-01-01"),
                   ("u0", "i2", "view", "2024-01-01"), ("u1", "i0", "click", "2024-01-01"),
                   ("u1", "i1", "view", "2024-01-01")])
    u = user_vectors(ds, BASIS, UserVectorConfig(half_life_days=None))
    row = u[ds.user_vocab.index("u0")]
    assert row[0] > row[1] > row[2] > 0
    np.testing.assert_allclose(np.linalg.norm(u[ds.user_vocab.index("u0")]), 1.0, rtol=1e-6)
    assert u[ds.user_vocab.index("u1")][0] > u[ds.user_vocab.index("u1")][1]
    assert not u[ds.user_vocab.index("nobody")].any()
    flipped = user_vectors(ds, BASIS, UserVectorConfig(weights={"view": 10, "cart": 1, "purchase": 1},
                                                      half_life_days=None))[ds.user_vocab.index("u0")]
    assert flipped[2] > flipped[0]


def test_recency_decay_halves_per_half_life():
    ds = _dataset([("u0", "i0", "purchase", "2024-01-31"), ("u0", "i1", "purchase", "2024-01-01"),
                   ("u0", "i2", "purchase", "2023-12-02")])
    row = user_vectors(ds, BASIS, UserVectorConfig(half_life_days=30))[ds.user_vocab.index("u0")]
    assert row[0] > row[1] > row[2]
    np.testing.assert_allclose(row[1] / row[0], 0.5, rtol=1e-3)
    np.testing.assert_allclose(row[2] / row[0], 0.25, rtol=1e-3)


def test_config_validation():
    with pytest.raises(ConfigError, match="unknown event kinds"):
        UserVectorConfig(weights={"like": 1.0})
    with pytest.raises(ConfigError):
        UserVectorConfig(half_life_days=0)
    with pytest.raises(ConfigError):
        UserVectorConfig(weights={"view": -1.0})


def test_events_vector_forms_and_errors():
    ds = _dataset([("u0", "i0", "view", "2024-01-01")])
    vocab = ds.item_vocab
    np.testing.assert_allclose(events_vector(["i0", "i1"], BASIS, vocab), [2 ** -0.5, 2 ** -0.5, 0], rtol=1e-6)
    v = events_vector([("i0", "purchase"), ("i1", "view")], BASIS, vocab)
    assert v[0] > v[1] > 0 and v[2] == 0
    frame = pd.DataFrame({"item_id": ["i0", "i2"], "kind": ["view", "view"],
                          "ts": pd.to_datetime(["2024-01-01", "2023-01-01"])})
    v = events_vector(frame, BASIS, vocab)
    assert v[0] > v[2] > 0
    with pytest.raises(DataError, match="item ids of the fitted catalogue"):
        events_vector(["nope"], BASIS, vocab)
    with pytest.raises(DataError, match="kind"):
        events_vector([("i0", "like")], BASIS, vocab)
    with pytest.raises(DataError, match="at least one event"):
        events_vector([], BASIS, vocab)
