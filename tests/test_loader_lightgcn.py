"""The LightGCN-format loader (``lightgcn``): the official Gowalla split and bad files.

The shared Gowalla files match the LightGCN paper exactly: 29,858 users, 40,981
items, 810,128 train and 217,242 test pairs.
"""
from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest

from cartgraph.errors import DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.lightgcn import load

TRAIN = "0 1 2\n1 0\n\n2\n"
TEST = "0 3\n1 2\n"


def make(tmp_path: Path, train: str | None = TRAIN, test: str | None = TEST, **lists: str) -> Path:
    """A tiny folder; ``None`` leaves a file out, ``lists`` adds ``user_list``/``item_list``."""
    for name, text in (("train.txt", train), ("test.txt", test)):
        if text is not None:
            (tmp_path / name).write_text(text)
    for stem, text in lists.items():
        (tmp_path / f"{stem}.txt").write_text(text)
    return tmp_path


def error_of(folder: Path) -> str:
    with pytest.raises(DataError) as info:
        load(folder)
    return str(info.value)


# --------------------------------------------------------------------------- real data
def test_gowalla_published_counts(data_dir: Path) -> None:
    start = time.perf_counter()
    ds = load_any("lightgcn", data_dir / "gowalla")
    seconds = time.perf_counter() - start
    assert (ds.n_users, ds.n_items) == (29_858, 40_981)
    assert ds.events["split"].value_counts().to_dict() == {"train": 810_128, "test": 217_242, "valid": 0}
    assert ds.meta["pairs"] == {"train": 810_128, "test": 217_242}
    assert ds.events["kind"].eq("purchase").all() and ds.events["ts"].isna().all()
    assert ds.items["attributes"].iloc[0] == {"org_id": "8975"}  # item_list.txt row "8975 0"
    assert ds.users["org_id"].iloc[1] == "5258"
    assert ds.name == "gowalla"
    assert seconds < 60  # vectorised: a few seconds on a laptop; a per-token loop takes minutes


def test_gowalla_first_user_items(data_dir: Path) -> None:
    ds = load(data_dir / "gowalla")
    train = ds.events[(ds.events["user_id"] == "0") & (ds.events["split"] == "train")]
    assert list(train["item_id"][:4]) == ["0", "1", "2", "3"]


# --------------------------------------------------------------------------- tiny folders
def test_tiny_folder(tmp_path: Path) -> None:
    ds = load(make(tmp_path)).validate()
    assert list(ds.users["user_id"]) == ["0", "1", "2"]  # user 2 has a line but no items
    assert list(ds.items["item_id"]) == ["0", "1", "2", "3"]
    pairs = list(zip(ds.events["user_id"], ds.events["item_id"], ds.events["split"]))
    assert pairs == [("0", "1", "train"), ("0", "2", "train"), ("1", "0", "train"),
                     ("0", "3", "test"), ("1", "2", "test")]
    assert ds.meta["rows"] == {"train.txt": 4, "test.txt": 2}


def test_gzipped_train_is_read(tmp_path: Path) -> None:
    folder = make(tmp_path, train=None)
    (folder / "train.txt.gz").write_bytes(gzip.compress(TRAIN.encode()))
    ds = load(folder)
    assert ds.meta["pairs"] == {"train": 3, "test": 2} and "train.txt.gz" in ds.meta["source_files"]


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = make(tmp_path, train=None)
    packed = gzip.compress("".join(f"{u} 1 2 3 4 5\n" for u in range(3000)).encode())
    (folder / "train.txt.gz").write_bytes(packed[: len(packed) // 2])
    message = error_of(folder)
    assert "train.txt.gz" in message and "truncated" in message


def test_non_integer_token_names_line_and_position(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, test="0 3\n\n1 2 x 4\n"))
    assert "test.txt, line 3, column 'token 3': expected a non-negative integer id, found 'x'" in message


def test_float_and_negative_tokens(tmp_path: Path) -> None:
    assert "line 1, column 'token 2'" in error_of(make(tmp_path, train="0 1.5\n"))
    assert "line 2, column 'token 1'" in error_of(make(tmp_path, train="0 1\n-1 2\n"))


def test_empty_and_blank_files(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, test=""))
    assert "test.txt" in message and "empty file" in message
    message = error_of(make(tmp_path, test="\n\n"))
    assert "test.txt" in message and "only blank lines" in message


def test_missing_test_file(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, test=None))
    assert "test.txt" in message and "no such file" in message


def test_item_beyond_item_list(tmp_path: Path) -> None:
    items = "org_id remap_id\n" + "".join(f"a{i} {i}\n" for i in range(3))
    message = error_of(make(tmp_path, item_list=items))
    assert "test.txt, line 1, column 'token 2'" in message and "0..2" in message and "found 3" in message


def test_list_file_missing_remap_column(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_list="org_id remap_id\nu0 0\nu1\n"))
    assert "user_list.txt, line 3, column 'remap_id'" in message


def test_list_files_give_sizes_and_original_ids(tmp_path: Path) -> None:
    users = "org_id remap_id\nu1 1\nu0 0\nu2 2\nu3 3\n"
    ds = load(make(tmp_path, user_list=users))
    assert list(ds.users["org_id"]) == ["u0", "u1", "u2", "u3"] and ds.n_users == 4
