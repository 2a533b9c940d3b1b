"""The MovieLens loader (``movielens``): ml-100k and ml-latest-small, and bad files.

Both shared folders match their READMEs: ml-100k has 100,000 ratings by 943 users of
1,682 movies (u.info); ml-latest-small has 100,836 ratings by 610 users and 9,742
movies (README.txt), of which 9,724 are rated.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from cartgraph.errors import ConfigError, DataError
from cartgraph.loaders import load as load_any
from cartgraph.loaders.movielens import load

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
          "Thriller", "War", "Western"]


def flags(*names: str) -> str:
    return "|".join("1" if g in names else "0" for g in GENRES)


U_ITEM = (f"1|Toy Story (1995)|01-Jan-1995||http://x/1|{flags('Animation', 'Comedy')}\n"
          f"2|Les Misérables (1995) |01-Jan-1995||http://x/2|{flags('Drama')}\n"
          f"3|unknown||||{flags('unknown')}\n")
U_DATA = "1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t3\t4\t881250951\n"


def make_100k(tmp_path: Path, **files: str | None) -> Path:
    """A tiny ml-100k folder; ``files`` replace (or with None, drop) files, dots as ``__``."""
    base = {"u.genre": "".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n", "u.item": U_ITEM,
            "u.data": U_DATA, "u1.base": U_DATA.splitlines(True)[0] + U_DATA.splitlines(True)[2],
            "u1.test": U_DATA.splitlines(True)[1]}
    base.update({k.replace("__", "."): v for k, v in files.items()})
    for name, text in base.items():
        if text is not None:
            (tmp_path / name).write_bytes(text.encode("latin-1"))
    return tmp_path


RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,2.5,964981247\n2,1,0.5,964981248\n"
MOVIES = ('movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,"American President, The (1995)",'
          'Comedy|Drama\n3,Babylon 5,(no genres listed)\n')


def make_latest(tmp_path: Path, ratings: str | None = RATINGS, movies: str = MOVIES) -> Path:
    if ratings is not None:
        (tmp_path / "ratings.csv").write_text(ratings)
    (tmp_path / "movies.csv").write_text(movies)
    return tmp_path


def error_of(folder: Path, **options) -> str:
    with pytest.raises(DataError) as info:
        load(folder, **options)
    return str(info.value)


# --------------------------------------------------------------------------- real data
def test_ml100k_published_counts(data_dir: Path) -> None:
    ds = load_any("movielens", data_dir / "movielens" / "ml-100k")
    assert (len(ds.events), ds.n_users, ds.n_items) == (100_000, 943, 1682)
    assert ds.events["kind"].value_counts()[["purchase", "view"]].tolist() == [55_375, 44_625]
    assert ds.events["rating"].between(1, 5).all() and ds.events["ts"].notna().all()
    assert ds.name == "ml-100k" and ds.events["split"].isna().all()
    toy = ds.items.set_index("item_id").loc["1"]
    assert toy["title"] == "Toy Story (1995)" and toy["attributes"]["genres"] == ["Animation", "Children's", "Comedy"]
    assert pd.isna(ds.items.set_index("item_id").loc["267", "title"])


@pytest.mark.parametrize("split,train,test", [("u1", 80_000, 20_000), ("ua", 90_570, 9_430)])
def test_ml100k_official_splits(data_dir: Path, split: str, train: int, test: int) -> None:
    ds = load(data_dir / "movielens" / "ml-100k", split=split)
    counts = ds.events["split"].value_counts()
    assert (counts["train"], counts["test"], ds.events["split"].isna().sum()) == (train, test, 0)


def test_ml_latest_small_counts(data_dir: Path) -> None:
    ds = load_any("movielens", data_dir / "movielens" / "ml-latest-small", min_rating=0)
    assert (len(ds.events), ds.n_users, ds.n_items) == (100_836, 610, 9742)
    assert ds.events["item_id"].nunique() == 9724
    assert ds.events["kind"].eq("purchase").all()
    assert ds.name == "ml-latest-small"


# --------------------------------------------------------------------------- tiny folders
def test_tiny_100k(tmp_path: Path) -> None:
    ds = load(make_100k(tmp_path), split="u1").validate()
    items = ds.items.set_index("item_id")
    assert items.loc["2", "title"] == "Les Misérables (1995)"  # Latin-1 decoded, trailing space gone
    assert items.loc["2", "attributes"]["year"] == 1995 and items.loc["2", "category_path"] == ["Drama"]
    assert pd.isna(items.loc["3", "title"]) and items.loc["3", "category_path"] == []
    assert list(ds.events["kind"]) == ["purchase", "view", "purchase"]
    assert list(ds.events["split"]) == ["train", "test", "train"]


def test_min_rating_threshold(tmp_path: Path) -> None:
    ds = load(make_latest(tmp_path), min_rating=2.5)
    assert list(ds.events["kind"]) == ["purchase", "purchase", "view"]
    assert list(ds.events["rating"]) == [4.0, 2.5, 0.5]


def test_tiny_latest_titles_and_genres(tmp_path: Path) -> None:
    items = load(make_latest(tmp_path)).items.set_index("item_id")
    assert items.loc["2", "title"] == "American President, The (1995)"
    assert items.loc["2", "attributes"] == {"genres": ["Comedy", "Drama"], "year": 1995}
    assert items.loc["3", "category_path"] == [] and items.loc["3", "attributes"]["year"] is None


def test_options_checked(tmp_path: Path) -> None:
    latest, small = tmp_path / "latest", tmp_path / "100k"
    latest.mkdir(), small.mkdir()
    with pytest.raises(ConfigError, match="ml-latest-small has no official split"):
        load(make_latest(latest), split="u1")
    with pytest.raises(ConfigError, match="u9"):
        load(make_100k(small), split="u9")
    with pytest.raises(ConfigError, match="min_rating"):
        load(latest, min_rating="4")


def test_gzipped_ratings_are_read(tmp_path: Path) -> None:
    folder = make_latest(tmp_path, ratings=None)
    (folder / "ratings.csv.gz").write_bytes(gzip.compress(RATINGS.encode()))
    assert len(load(folder).events) == 3


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = make_latest(tmp_path, ratings=None)
    packed = gzip.compress((RATINGS + "1,1,4.0,964982703\n" * 20000).encode())
    (folder / "ratings.csv.gz").write_bytes(packed[: len(packed) // 2])
    message = error_of(folder)
    assert "ratings.csv.gz" in message and "truncated" in message


def test_wrong_type_names_line_and_column(tmp_path: Path) -> None:
    message = error_of(make_latest(tmp_path, RATINGS + "3,1,good,964981249\n"))
    assert "ratings.csv, line 5, column 'rating': expected a number, found 'good'" in message


def test_rating_out_of_range(tmp_path: Path) -> None:
    message = error_of(make_100k(tmp_path, u__data=U_DATA + "2\t1\t6\t881250952\n"))
    assert "u.data, line 4, column 'rating': expected a rating in (0, 5]" in message


def test_missing_column(tmp_path: Path) -> None:
    message = error_of(make_latest(tmp_path, "userId,movieId,rating\n1,1,4.0\n"))
    assert "ratings.csv, column 'timestamp': expected a column 'timestamp'" in message


def test_rated_movie_not_in_catalogue(tmp_path: Path) -> None:
    message = error_of(make_latest(tmp_path, RATINGS + "2,99,3.0,964981249\n"))
    assert "ratings.csv, line 5, column 'movieId': expected a movie id listed in the movie file, found 99" in message


def test_split_row_not_in_u_data(tmp_path: Path) -> None:
    message = error_of(make_100k(tmp_path, u1__test="1\t2\t3\t881250950\n2\t2\t3\t881250950\n"), split="u1")
    assert "u1.test, line 2, column 'item'" in message


def test_bad_genre_flag(tmp_path: Path) -> None:
    message = error_of(make_100k(tmp_path, u__item=U_ITEM.replace("|01-Jan-1995||http://x/1|0|0", "|01-Jan-1995||http://x/1|2|0")))
    assert "u.item, line 1, column 'genre:unknown': expected a genre flag 0 or 1, found 2" in message


def test_empty_ratings_file(tmp_path: Path) -> None:
    message = error_of(make_latest(tmp_path, ""))
    assert "ratings.csv" in message and "empty file" in message


def test_variant_must_be_clear(tmp_path: Path) -> None:
    make_100k(tmp_path)
    make_latest(tmp_path)
    assert "both u.data and ratings.csv" in error_of(tmp_path)
