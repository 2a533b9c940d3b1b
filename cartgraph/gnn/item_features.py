"""Item text vectors as model inputs, checked once (shared by the text-aware models)."""
from __future__ import annotations

import numpy as np

from cartgraph.dataset import Dataset
from cartgraph.graph.build import check_item_vectors

__all__ = ["text_features"]


def text_features(dataset: Dataset, item_vectors: np.ndarray | None = None) -> np.ndarray:
    """``(n_items, dim)`` float32 text vectors in ``dataset.item_vocab`` order.

    Args:
        item_vectors: precomputed vectors (e.g. :func:`cartgraph.text.item_vectors`);
            default: encode the items with the bundled encoder, cached on disk.

    Raises:
        ConfigError: a shape other than ``(n_items, dim)`` or non-finite values.
    """
    if item_vectors is None:
        from cartgraph.text import TextEncoder, item_vectors as encode

        item_vectors = encode(dataset, TextEncoder(cache=True))
    return check_item_vectors(dataset, item_vectors)
