"""Keyed pseudonymisation of user ids."""
from __future__ import annotations

import pandas as pd
import pytest

from cartgraph import ConfigError, pseudonymize
from cartgraph.privacy import KEY_ENV, pseudonym
from tests.test_dataset import small

KEY = "a-long-secret-key-0123456789"


def test_pseudonyms_replace_every_user_id_consistently():
    ds = small()
    out = pseudonymize(ds, KEY)
    raw = set(ds.users["user_id"])
    assert not raw & set(out.users["user_id"])
    assert not raw & set(out.events["user_id"].dropna())
    assert out.events["user_id"].isna().sum() == 1  # anonymous stays anonymous
    assert out.user_bundles["user_id"].tolist() == [pseudonym("u3", KEY)]
    # same key → same pseudonyms; another key → others
    assert pseudonymize(ds, KEY).users.equals(out.users)
    assert set(pseudonymize(ds, KEY + "x").users["user_id"]) != set(out.users["user_id"])
    out.validate()


def test_mapping_written_only_when_asked(tmp_path):
    pseudonymize(small(), KEY)
    assert list(tmp_path.iterdir()) == []
    pseudonymize(small(), KEY, mapping_path=tmp_path / "map.csv")
    mapping = pd.read_csv(tmp_path / "map.csv")
    assert dict(zip(mapping.raw_user_id, mapping.user_id))["u1"] == pseudonym("u1", KEY)


def test_key_from_environment_and_short_keys(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        pseudonymize(small(), "env")
    monkeypatch.setenv(KEY_ENV, KEY)
    assert pseudonymize(small(), "env").users.equals(pseudonymize(small(), KEY).users)
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        pseudonymize(small(), "short")
