"""The BGCN/CrossCBR-format loader (``youshu``): real Youshu counts and bad files.

The shared Youshu files match the papers for users (8,039), bundles (4,771), items
(32,770), user-item (138,515) and bundle-item (176,667) pairs; the three user-bundle
split files hold 49,351 lines (34,416 train + 5,189 tune + 9,746 test), not the
51,377 interactions the papers quote.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from cartgraph.errors import ConfigError, DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.youshu import load

FILES = {
    "Tiny_data_size.txt": "3\t2\t4\n",
    "user_item.txt": "0\t1\n1\t3\n2\t0\n",
    "bundle_item.txt": "0\t2\n0\t1\n1\t3\n",
    "user_bundle_train.txt": "0\t0\n1\t1\n",
    "user_bundle_tune.txt": "2\t0\n",
    "user_bundle_test.txt": "0\t1\n",
}


def make(tmp_path: Path, **changes: str | None) -> Path:
    """A tiny valid folder; ``changes`` replace (or, with None, delete) files by name."""
    files = {**FILES, **{k.replace("__", "."): v for k, v in changes.items()}}
    for name, text in files.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    return tmp_path


def error_of(folder: Path, **options) -> str:
    with pytest.raises(DataError) as info:
        load(folder, **options)
    return str(info.value)


# --------------------------------------------------------------------------- real data
def test_youshu_published_counts(data_dir: Path) -> None:
    ds = load_any("youshu", data_dir / "youshu")
    assert (ds.n_users, len(ds.bundles), ds.n_items) == (8039, 4771, 32770)
    assert len(ds.events) == 138_515
    assert ds.bundles["item_ids"].map(len).sum() == 176_667
    assert len(ds.user_bundles) == 49_351
    assert ds.meta["rows"] == {"user_item.txt": 138_515, "bundle_item.txt": 176_667,
                               "user_bundle_train.txt": 34_416, "user_bundle_tune.txt": 5_189,
                               "user_bundle_test.txt": 9_746}
    assert ds.user_bundles["split"].value_counts().to_dict() == {"train": 34_416, "test": 9_746, "valid": 5_189}
    assert ds.user_bundles["user_id"].nunique() == 2959  # the evaluated users of EVALUATION.md
    assert ds.name == "youshu" and ds.meta["data_size"] == {"users": 8039, "bundles": 4771, "items": 32770}


def test_youshu_bundle_members_keep_file_order(data_dir: Path) -> None:
    ds = load(data_dir / "youshu")
    first = ds.bundles.set_index("bundle_id").loc["0", "item_ids"]
    assert first[:3] == ["32604", "30492", "30372"]


# --------------------------------------------------------------------------- tiny folders
def test_tiny_folder_maps_every_table(tmp_path: Path) -> None:
    ds = load(make(tmp_path)).validate()
    assert list(ds.items["item_id"]) == ["0", "1", "2", "3"]
    assert list(ds.users["user_id"]) == ["0", "1", "2"]
    assert ds.bundles.set_index("bundle_id")["item_ids"].to_dict() == {"0": ["2", "1"], "1": ["3"]}
    assert list(ds.events["kind"]) == ["purchase"] * 3 and ds.events["ts"].isna().all()
    assert list(ds.user_bundles["split"]) == ["train", "train", "valid", "test"]
    assert ds.name == "tiny" and ds.meta["prefix"] == "Tiny"


def test_gzipped_pair_file_is_read(tmp_path: Path) -> None:
    folder = make(tmp_path, user_item__txt=None)
    (folder / "user_item.txt.gz").write_bytes(gzip.compress(FILES["user_item.txt"].encode()))
    assert len(load(folder).events) == 3


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = make(tmp_path, user_item__txt=None)
    packed = gzip.compress(("0\t1\n" * 5000).encode())
    (folder / "user_item.txt.gz").write_bytes(packed[: len(packed) // 2])
    message = error_of(folder)
    assert "user_item.txt.gz" in message and "truncated" in message


def test_non_integer_names_line_and_column(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_item__txt="0\t1\nx\t3\n"))
    assert "user_item.txt, line 2, column 'user': expected an integer, found 'x'" in message


def test_missing_field_names_line_and_column(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, bundle_item__txt="0\t2\n1\n"))
    assert "bundle_item.txt, line 2, column 'item': expected an integer" in message


def test_bundle_outside_declared_range(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_bundle_test__txt="0\t1\n1\t0\n2\t2\n"))
    assert "user_bundle_test.txt, line 3, column 'bundle'" in message
    assert "0..1" in message and "found 2" in message


def test_item_outside_declared_range(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, bundle_item__txt="0\t2\n1\t4\n"))
    assert "bundle_item.txt, line 2, column 'item'" in message and "found 4" in message


def test_negative_user_rejected(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_item__txt="-1\t1\n"))
    assert "user_item.txt, line 1, column 'user'" in message and "found -1" in message


def test_bundle_without_items(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, bundle_item__txt="0\t2\n0\t1\n"))
    assert "bundle_item.txt" in message and "bundle 1" in message


def test_empty_file(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_bundle_tune__txt=""))
    assert "user_bundle_tune.txt" in message and "empty file" in message


def test_missing_split_file(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, user_bundle_test__txt=None))
    assert "user_bundle_test.txt" in message and "no such file" in message


def test_bad_data_size_file(tmp_path: Path) -> None:
    message = error_of(make(tmp_path, Tiny_data_size__txt="3\ttwo\t4\n"))
    assert "Tiny_data_size.txt, line 1, column 'bundles': expected an integer, found 'two'" in message


def test_name_detection_and_override(tmp_path: Path) -> None:
    folder = make(tmp_path)
    (folder / "Other_data_size.txt").write_text("3\t2\t5\n")
    assert "exactly one" in error_of(folder)
    assert load(folder, name="Other").n_items == 5
    assert "Nope_data_size.txt" in error_of(folder, name="Nope")


def test_unknown_option_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="valid options: \\['name'\\]"):
        load_any("youshu", make(tmp_path), prefix="Tiny")
