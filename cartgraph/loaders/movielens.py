"""MovieLens ratings: ``ml-100k`` and ``ml-latest-small`` (autodetected by their files).

``ml-100k`` (a folder with ``u.data``)::

    u.data     "user<TAB>item<TAB>rating<TAB>unix-seconds", no header, 100,000 lines
    u.item     "id|title|release date|video release date|IMDb URL|19 genre flags",
               pipe-separated, Latin-1
    u.genre    "name|index" for the 19 flags
    u1..u5.base/.test, ua/ub.base/.test   official train/test splits of u.data

``ml-latest-small`` (a folder with ``ratings.csv``)::

    ratings.csv  userId,movieId,rating,timestamp   (half stars 0.5..5)
    movies.csv   movieId,title,genres              (genres "A|B", "(no genres listed)")

``ratings.csv`` / ``u.data`` may be gzipped (``ratings.csv.gz``).

How it maps onto a :class:`~cartgraph.dataset.Dataset`:

- every rating → one event; the rating is kept in an extra ``rating`` column, and the
  kind says how strong the signal is: ``"purchase"`` when ``rating >= min_rating``
  (default 4, the usual "liked" threshold of implicit-feedback papers), ``"view"``
  below (the user watched it but did not like it). ``min_rating=0`` makes every
  rating a purchase. ``ts`` comes from the unix seconds.
- items: ``title`` as in the file, stripped ("Toy Story (1995)": the year is part of
  the name people search for); the year also goes to ``attributes["year"]`` (int) when
  the title ends with "(YYYY)". Genres are flat tags, not a tree: the list is
  ``attributes["genres"]`` and ``category_path`` is the first listed genre (files list
  them alphabetically; [] when none). ml-100k also stores ``release_date`` and
  ``imdb_url`` in attributes.
- ``split="u1"`` (ml-100k only; u1..u5, ua, ub) marks each event ``train`` or ``test``
  from ``<split>.base`` / ``<split>.test``.

Traps:

- ``u.item`` is Latin-1, not UTF-8 ("Misérables").
- Titles carry trailing spaces ("Two Friends (1986) ") and some have no year
  ("Babylon 5"); ml-100k item 267 is titled "unknown" with no date: its title is None.
- The ml-100k "unknown" genre flag is not a genre: it yields no genre.
- Not every movie is rated (ml-latest-small: 9,742 movies, 9,724 rated): items come
  from the movie file, and a rating of a movie missing from it is a DataError.
- ``u.user``, ``tags.csv`` and ``links.csv`` are not read.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from cartgraph.dataset import Dataset
from cartgraph.errors import ConfigError, DataError, described
from cartgraph.loaders._io import line_of, read_table_file, require_dir, require_file, to_float, to_int, to_str

__all__ = ["load", "SPLITS_100K", "GENRES_100K"]

SPLITS_100K: tuple[str, ...] = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
"""The official ml-100k splits (``<name>.base`` = train, ``<name>.test`` = test)."""

GENRES_100K: int = 19
"""Number of genre flag columns at the end of ``u.item``."""

_YEAR = re.compile(r"\((\d{4})\)\s*$")
_RATING_COLUMNS = ["user", "item", "rating", "ts"]


def _find(folder: Path, name: str) -> Path:
    """``folder/name`` or, when only that exists, ``folder/name.gz``; must be non-empty."""
    plain, packed = folder / name, folder / f"{name}.gz"
    return require_file(packed if packed.exists() and not plain.exists() else plain, f"the MovieLens file {name}")


def _detect(folder: Path) -> str:
    """``"ml-100k"`` or ``"ml-latest-small"`` from the files present."""
    has_100k = any((folder / n).exists() for n in ("u.data", "u.data.gz"))
    has_latest = any((folder / n).exists() for n in ("ratings.csv", "ratings.csv.gz"))
    if has_100k == has_latest:
        found = "both u.data and ratings.csv" if has_100k else "neither u.data nor ratings.csv"
        raise DataError(folder, "an ml-100k folder (u.data) or an ml-latest-small folder (ratings.csv)",
                        described(found))
    return "ml-100k" if has_100k else "ml-latest-small"


def _ratings(frame: pd.DataFrame, path: Path, header: bool, names: list[str]) -> pd.DataFrame:
    """Typed ``user, item, rating, ts`` from the file's columns ``names`` (in that role order).

    Errors name the file's own column (``movieId``, or ``item`` for headerless files);
    ratings must be in (0, 5].
    """
    user, item, rating_col, ts = names
    ints = {role: to_int(frame, col, path, header=header) for role, col in (("user", user), ("item", item), ("ts", ts))}
    rating = to_float(frame, rating_col, path, header=header, allow_missing=False)
    bad = ((rating <= 0) | (rating > 5)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, "a rating in (0, 5]", frame[rating_col].iloc[i], row=line_of(frame, i, header),
                        column=rating_col)
    return pd.DataFrame({"user": ints["user"], "item": ints["item"], "rating": rating, "ts": ints["ts"]})


def _read_tab_ratings(path: Path) -> pd.DataFrame:
    """An ml-100k ratings file (``u.data``, ``u1.base`` ...)."""
    frame = read_table_file(path, sep="\t", header=False, names=_RATING_COLUMNS)
    return _ratings(frame, path, False, _RATING_COLUMNS)


def _year(title: str | None) -> int | None:
    """The year of a "Title (YYYY)" name, else None."""
    match = _YEAR.search(title or "")
    return int(match.group(1)) if match else None


def _read_latin1(path: Path, names: list[str]) -> pd.DataFrame:
    """A headerless pipe-separated Latin-1 file (``u.item``, ``u.genre``) as text columns."""
    try:
        frame = pd.read_csv(path, sep="|", header=None, names=names, dtype=str, encoding="latin-1",
                            keep_default_na=False, na_values=[""], skip_blank_lines=True, index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(path, "pipe-separated rows", described("an empty file")) from exc
    except pd.errors.ParserError as exc:
        raise DataError(path, f"{len(names)} pipe-separated fields per line", described(str(exc))) from exc
    if frame[names[-1]].isna().any() and len(names) > 2:
        i = int(np.flatnonzero(frame[names[-1]].isna().to_numpy())[0])
        raise DataError(path, f"{len(names)} pipe-separated fields", described("fewer"), row=i + 1, column=names[-1])
    return frame


def _genre_names(folder: Path) -> list[str]:
    """The 19 flag names of ``u.genre`` in index order."""
    path = require_file(folder / "u.genre", "the ml-100k genre list u.genre")
    frame = _read_latin1(path, ["name", "index"])
    index = to_int(frame, "index", path, header=False)
    if sorted(index) != list(range(GENRES_100K)):
        raise DataError(path, f"genre indices 0..{GENRES_100K - 1}, each once", sorted(index), column="index")
    return list(frame["name"].to_numpy()[np.argsort(index.to_numpy())])


def _items_100k(folder: Path) -> pd.DataFrame:
    """The ml-100k catalogue from ``u.item`` and ``u.genre``."""
    genres = _genre_names(folder)
    path = require_file(folder / "u.item", "the ml-100k movie list u.item")
    names = ["item", "title", "release_date", "video_date", "imdb_url"] + [f"genre:{g}" for g in genres]
    frame = _read_latin1(path, names)
    item = to_int(frame, "item", path, header=False)
    flags = np.column_stack([to_int(frame, f"genre:{g}", path, header=False).to_numpy() for g in genres])
    if not np.isin(flags, (0, 1)).all():
        i, j = (int(v[0]) for v in np.nonzero(~np.isin(flags, (0, 1))))
        raise DataError(path, "a genre flag 0 or 1", int(flags[i, j]), row=i + 1, column=f"genre:{genres[j]}")
    titles = [None if t in (None, "unknown") else t for t in to_str(frame, "title", path, header=False,
                                                                    allow_missing=True)]
    dates = to_str(frame, "release_date", path, header=False, allow_missing=True)
    urls = to_str(frame, "imdb_url", path, header=False, allow_missing=True)
    rows = []
    for k, title in enumerate(titles):
        listed = [g for g, flag in zip(genres, flags[k]) if flag and g != "unknown"]
        attrs = {"genres": listed, "year": _year(title), "release_date": dates.iloc[k], "imdb_url": urls.iloc[k]}
        rows.append({"item_id": str(item.iloc[k]), "title": title, "category_path": listed[:1], "attributes": attrs})
    return pd.DataFrame(rows)


def _items_latest(folder: Path) -> pd.DataFrame:
    """The ml-latest-small catalogue from ``movies.csv``."""
    path = _find(folder, "movies.csv")
    frame = read_table_file(path, usecols=["movieId", "title", "genres"])
    item = to_int(frame, "movieId", path)
    titles = list(to_str(frame, "title", path, allow_missing=True))
    genres = frame["genres"].fillna("").map(lambda g: [] if g == "(no genres listed)" else [x for x in g.split("|") if x])
    return pd.DataFrame({"item_id": item.astype(str).to_numpy(), "title": titles,
                         "category_path": [g[:1] for g in genres],
                         "attributes": [{"genres": g, "year": _year(t)} for g, t in zip(genres, titles)]})


def _check_items(ratings: pd.DataFrame, items: pd.DataFrame, path: Path, header: bool, column: str) -> None:
    """Every rated item must be in the catalogue; else DataError at the rating's line."""
    known = ratings["item"].astype(str).isin(set(items["item_id"])).to_numpy()
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise DataError(path, "a movie id listed in the movie file", int(ratings["item"].iloc[i]),
                        row=i + (2 if header else 1), column=column)


def _split_column(folder: Path, ratings: pd.DataFrame, split: str) -> tuple[pd.Series, dict[str, int]]:
    """``train``/``test`` per rating from ``<split>.base``/``.test``; rows must match u.data."""
    key = pd.MultiIndex.from_frame(ratings[["user", "item"]])
    out = pd.Series([None] * len(ratings), dtype=object)
    rows = {}
    for suffix, label in (("base", "train"), ("test", "test")):
        path = _find(folder, f"{split}.{suffix}")
        part = _read_tab_ratings(path)
        pos = key.get_indexer(pd.MultiIndex.from_frame(part[["user", "item"]]))
        if (pos < 0).any():
            i = int(np.flatnonzero(pos < 0)[0])
            raise DataError(path, "a (user, item) pair rated in u.data", f"{part['user'].iloc[i]}\t{part['item'].iloc[i]}",
                            row=i + 1, column="item")
        out.iloc[pos] = label
        rows[path.name] = len(part)
    return out, rows


def _events(ratings: pd.DataFrame, min_rating: float) -> pd.DataFrame:
    """Ratings as events: purchase at or above ``min_rating``, view below; ``rating`` kept."""
    return pd.DataFrame({"user_id": ratings["user"].astype(str).to_numpy(),
                         "item_id": ratings["item"].astype(str).to_numpy(),
                         "kind": np.where(ratings["rating"] >= min_rating, "purchase", "view"),
                         "ts": pd.to_datetime(ratings["ts"], unit="s"),
                         "rating": ratings["rating"].to_numpy()})


def _check_options(variant: str, split: str | None, min_rating: float) -> None:
    """Reject a split that the variant does not ship and a non-numeric threshold."""
    if split is not None and (variant != "ml-100k" or split not in SPLITS_100K):
        valid = list(SPLITS_100K) if variant == "ml-100k" else "none (ml-latest-small has no official split)"
        raise ConfigError(f"split={split!r} is not an official split of {variant}; valid: {valid}")
    if isinstance(min_rating, bool) or not isinstance(min_rating, (int, float)):
        raise ConfigError(f"min_rating must be a number (ratings are 0.5..5), got {min_rating!r}")


def load(path: str | Path, *, split: str | None = None, min_rating: float = 4.0) -> Dataset:
    """Read an ml-100k or ml-latest-small folder (autodetected).

    Args:
        path: the folder (``ml-100k`` with ``u.data``, or ``ml-latest-small`` with
            ``ratings.csv``).
        split: ml-100k only: ``"u1"``..``"u5"``, ``"ua"``, ``"ub"`` fills the events'
            ``split`` column (train/test) from that official split (default: None).
        min_rating: ratings at or above it are ``purchase`` events, below ``view``
            (default 4.0).

    Returns:
        A dataset named ``ml-100k`` / ``ml-latest-small`` with items, users and events
        (extra column ``rating``). ``meta`` holds ``variant``, ``source_files``,
        ``rows`` (data lines per file), ``min_rating`` and ``split``.

    Raises:
        ConfigError: an unknown split or a non-numeric ``min_rating``.
        DataError: a bad file, naming the file, line and column.
    """
    folder = require_dir(path, "MovieLens files (ml-100k u.data or ml-latest-small ratings.csv)")
    variant = _detect(folder)
    _check_options(variant, split, min_rating)
    if variant == "ml-100k":
        items, ratings_path = _items_100k(folder), _find(folder, "u.data")
        ratings, header, sources = _read_tab_ratings(ratings_path), False, ["u.genre", "u.item"]
    else:
        items, ratings_path = _items_latest(folder), _find(folder, "ratings.csv")
        names = ["userId", "movieId", "rating", "timestamp"]
        frame = read_table_file(ratings_path, usecols=names)
        ratings, header, sources = _ratings(frame, ratings_path, True, names), True, ["movies.csv"]
    _check_items(ratings, items, ratings_path, header, "item" if not header else "movieId")
    events = _events(ratings, float(min_rating))
    rows = {ratings_path.name: len(ratings)}
    if split is not None:
        events["split"], split_rows = _split_column(folder, ratings, split)
        rows.update(split_rows)
    meta = {"format": "movielens", "variant": variant, "source_files": sources + list(rows), "rows": rows,
            "min_rating": float(min_rating), "split": split}
    return Dataset(items=items, events=events, name=variant, meta=meta)
