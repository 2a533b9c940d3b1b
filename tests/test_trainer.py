"""The shared trainer's loss options: a tiny matrix factorisation must learn a planted
checkerboard with the softmax loss (and with BPR), determinism, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cartgraph.errors import ConfigError
from cartgraph.gnn.trainer import TrainConfig, train_bpr

GROUPS, USERS, ITEMS = 4, 6, 5  # per group: 6 users; each bought the group's items but one

pytestmark = pytest.mark.usefixtures("torch_one_thread")


class _MF(torch.nn.Module):
    """Dot-product factorisation; supplies both the BPR and the softmax terms."""

    def __init__(self, n_users: int, n_items: int, dim: int = 8, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.user = torch.nn.Parameter(torch.randn(n_users, dim, generator=g) * 0.1)
        self.item = torch.nn.Parameter(torch.randn(n_items, dim, generator=g) * 0.1)

    def bpr_terms(self, users, pos, neg):
        u = self.user[users]
        l2 = u.pow(2).sum() + self.item[pos].pow(2).sum() + self.item[neg].pow(2).sum()
        return (u * self.item[pos]).sum(-1), (u * self.item[neg]).sum(-1), 0.5 * l2

    def softmax_terms(self, users, pos):
        u = self.user[users]
        return u @ self.item.T, 0.5 * (u.pow(2).sum() + self.item[pos].pow(2).sum())


class _BPROnly(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def bpr_terms(self, users, pos, neg):  # pragma: no cover - never reached
        raise AssertionError


def checkerboard() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Positive pairs and each user's answer: the one item of their group they did not buy.
    Every item of a group is bought by 4 or 5 of its 6 users, so the answer is the only
    unseen item that the user's group co-buys."""
    users, items, answer = [], [], []
    for g in range(GROUPS):
        for k in range(USERS):
            u = g * USERS + k
            missing = k % ITEMS
            for i in range(ITEMS):
                if i != missing:
                    users.append(u)
                    items.append(g * ITEMS + i)
            answer.append(g * ITEMS + missing)
    return torch.tensor(users), torch.tensor(items), np.array(answer)


def _fit(loss: str, seed: int = 0, epochs: int = 150, **kw) -> tuple[_MF, list[float]]:
    users, items, _ = checkerboard()
    model = _MF(GROUPS * USERS, GROUPS * ITEMS, seed=seed)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=0.05, weight_decay=1e-4, eval_every=0, seed=seed,
                      progress=False, loss=loss, **kw)
    history = train_bpr(model, users, items, GROUPS * ITEMS, cfg)
    return model, history.loss


def _top_unseen(model: _MF) -> np.ndarray:
    users, items, _ = checkerboard()
    with torch.no_grad():
        s = (model.user @ model.item.T).numpy()
    s[users.numpy(), items.numpy()] = -np.inf
    return s.argmax(axis=1)


@pytest.mark.parametrize("loss, kw", [("softmax", {}), ("softmax", {"temperature": 0.5}), ("bpr", {})])
def test_learns_the_checkerboard(loss, kw):
    model, losses = _fit(loss, **kw)
    assert (_top_unseen(model) == checkerboard()[2]).mean() == 1.0
    assert losses[-1] < losses[0] / 2


def test_softmax_is_deterministic_per_seed():
    a, la = _fit("softmax", 0, epochs=5)
    b, lb = _fit("softmax", 0, epochs=5)
    c, _ = _fit("softmax", 1, epochs=5)
    assert la == lb and torch.equal(a.item, b.item)
    assert not torch.allclose(a.item, c.item)


def test_bad_loss_settings_fail_clearly():
    with pytest.raises(ConfigError, match="loss must be one of"):
        TrainConfig(loss="hinge")
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        TrainConfig(loss="softmax", temperature=0.0)
    users, items, _ = checkerboard()
    with pytest.raises(ConfigError, match="needs a model with softmax_terms"):
        train_bpr(_BPROnly(), users, items, GROUPS * ITEMS, TrainConfig(epochs=1, progress=False, loss="softmax"))
