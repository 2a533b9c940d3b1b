"""PNG pictures for the CLI (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cartgraph.atomic import atomic_file

__all__ = ["check_png", "plot_metrics", "plot_bundles"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_png(path: str | Path | None) -> None:
    """Fail early (before any work) when ``--plot`` does not name a .png file."""
    if path is not None and Path(path).suffix.lower() != ".png":
        from cartgraph.errors import ConfigError

        raise ConfigError(f"--plot: expected a file name ending in .png, found {str(path)!r}")


def _save(fig, path: str | Path) -> Path:
    check_png(path)
    path = Path(path)
    with atomic_file(path) as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_metrics(metrics: dict[str, Any], title: str, path: str | Path) -> Path:
    """Grouped bars: one group per metric (recall, ndcg, ...), one bar per cut-off K."""
    plt = _pyplot()
    scored = {k: v for k, v in metrics.items() if "@" in k and isinstance(v, float)}
    names = sorted({k.split("@")[0] for k in scored})
    cutoffs = sorted({int(k.split("@")[1]) for k in scored})
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(names), 4))
    width = 0.8 / max(len(cutoffs), 1)
    for j, cut in enumerate(cutoffs):
        vals = [scored.get(f"{n}@{cut}", np.nan) for n in names]
        bars = ax.bar(np.arange(len(names)) + j * width, vals, width, label=f"K = {cut}")
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(np.arange(len(names)) + width * (len(cutoffs) - 1) / 2, names)
    ax.set_xlabel("metric")
    ax.set_ylabel("value (mean over evaluated users)")
    ax.set_title(title)
    ax.legend(title="cut-off")
    return _save(fig, path)


def plot_bundles(bundles: Sequence[Any], title: str, path: str | Path, price_of: Callable[[str], float],
                 budget: float | None = None) -> Path:
    """One row per bundle: the walk drawn as a small graph, and each item's price against the budget.

    ``bundles`` are :class:`cartgraph.bundles.Bundle` objects; ``price_of(item_id)`` gives prices.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(len(bundles), 2, figsize=(12, 3.8 * len(bundles)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]}, layout="constrained")
    for row, bundle in enumerate(bundles):
        _draw_walk(axes[row][0], bundle, f"bundle {row + 1}: score {bundle.score:.2f}")
        _draw_prices(axes[row][1], bundle, [price_of(i) for i in bundle.items], budget)
    fig.suptitle(title)
    return _save(fig, path)


def _draw_walk(ax, bundle, title: str) -> None:
    n = len(bundle.items)
    angle = np.linspace(np.pi / 2, np.pi / 2 - 2 * np.pi, n, endpoint=False)
    xy = np.c_[np.cos(angle), np.sin(angle)]
    for a in range(1, n):
        ax.annotate("", xy=xy[a] * 0.9, xytext=xy[a - 1] * 0.9,
                    arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 1.2})
    anchor = np.arange(n) < max(bundle.anchors, 1)
    ax.scatter(*xy[anchor].T, s=500, c="tab:orange", label="anchor (first item)", zorder=3)
    ax.scatter(*xy[~anchor].T, s=500, c="tab:blue", label="added by the walk", zorder=3)
    for (x, y), name, why in zip(xy, bundle.titles, bundle.explanations):
        reason = textwrap.fill(why.split(", fits the budget")[0], 34, max_lines=2, placeholder=" …")
        ax.text(x, y - 0.2, f"{textwrap.shorten(name, 32, placeholder=' …')}\n{reason}",
                ha="center", va="top", fontsize=7)
    ax.set_xlim(-2.0, 2.0)
    ax.set_ylim(-1.8, 1.35)
    ax.set_xlabel("walk order: clockwise from the top")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, markerscale=0.4, frameon=False)


def _draw_prices(ax, bundle, prices: list[float], budget: float | None) -> None:
    ax.barh(np.arange(len(bundle.titles)), prices, color="tab:green", label="item price")
    ax.set_yticks(np.arange(len(bundle.titles)),
                  [textwrap.shorten(t, 30, placeholder=" …") for t in bundle.titles], fontsize=7)
    ax.invert_yaxis()
    if budget is not None:
        ax.axvline(budget, color="tab:red", ls="--", label=f"budget {budget:g}")
    ax.set_xlabel("price")
    ax.set_title(f"total {bundle.total_price:.2f}" if np.isfinite(bundle.total_price) else "prices unknown")
    ax.legend(fontsize=7, loc="lower right")
