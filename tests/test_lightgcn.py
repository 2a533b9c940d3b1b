"""LightGCN: a known answer it must learn, determinism, checkpoints, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from cartgraph.errors import NotFittedError
from cartgraph.gnn import LightGCN
from cartgraph.gnn.propagation import normalized_adjacency, propagate
from cartgraph.gnn.sampling import PairIndex, sample_negatives


def checkerboard(n_groups: int = 4, users_per_group: int = 6, items_per_group: int = 5) -> tuple[sp.csr_matrix, np.ndarray]:
    """Users of group g own every item of group g but one; the missing one is the answer."""
    rows, cols, answer = [], [], []
    for g in range(n_groups):
        for k in range(users_per_group):
            u = g * users_per_group + k
            missing = g * items_per_group + k % items_per_group
            answer.append(missing)
            for i in range(g * items_per_group, (g + 1) * items_per_group):
                if i != missing:
                    rows.append(u)
                    cols.append(i)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                      shape=(n_groups * users_per_group, n_groups * items_per_group))
    return m, np.array(answer)


def fitted(seed: int = 0, **kw) -> LightGCN:
    m, _ = checkerboard()
    return LightGCN(embedding_dim=16, num_layers=2, epochs=kw.pop("epochs", 60), batch_size=32, lr=0.05,
                    weight_decay=1e-5, seed=seed, progress=False, device="cpu", **kw).fit_matrix(m)


def test_learns_the_checkerboard():
    _, answer = checkerboard()
    model = fitted()
    top, _ = model.recommend(np.arange(len(answer)), k=1)
    assert (top[:, 0] == answer).mean() == 1.0
    assert model.history_.loss[-1] < model.history_.loss[0] / 3


def test_same_seed_same_model_other_seed_differs():
    a, b, c = fitted(0, epochs=5), fitted(0, epochs=5), fitted(1, epochs=5)
    assert np.array_equal(a.item_factors_, b.item_factors_)
    assert not np.allclose(a.item_factors_, c.item_factors_)


def test_exclude_seen_and_scalar_user():
    m, _ = checkerboard()
    model = fitted(epochs=3)
    items, scores = model.recommend(0, k=20, exclude_seen=True)
    assert items.ndim == 1 and not set(items[np.isfinite(scores)]) & set(m[0].indices)
    allitems, _ = model.recommend([0], k=20, exclude_seen=False)
    assert set(m[0].indices) <= set(allitems[0])


def test_propagation_matches_dense_reference_and_gradient():
    m, _ = checkerboard(2, 3, 3)
    adj = normalized_adjacency(m)
    dense = adj.to_dense()
    assert torch.allclose(dense, dense.T)
    x = torch.randn(dense.shape[0], 4, dtype=torch.float32, requires_grad=True)
    out = propagate(adj, x, 2)
    ref = (x + dense @ x + dense @ dense @ x) / 3
    assert torch.allclose(out, ref, atol=1e-5)
    g = torch.randn_like(out)
    (gx,) = torch.autograd.grad((out * g).sum(), x)
    (gref,) = torch.autograd.grad((ref * g).sum(), x)
    assert torch.allclose(gx, gref, atol=1e-5)


def test_negative_sampling_avoids_training_pairs():
    m, _ = checkerboard()
    coo = m.tocoo()
    index = PairIndex(torch.as_tensor(coo.row), torch.as_tensor(coo.col), m.shape[1])
    users = torch.as_tensor(np.repeat(np.arange(m.shape[0]), 50))
    neg = sample_negatives(users, index, torch.Generator().manual_seed(0))
    assert not index.contains(users, neg).any()
    assert neg.min() >= 0 and neg.max() < m.shape[1]


def test_checkpoint_resume_continues_the_same_run(tmp_path):
    ckpt = str(tmp_path / "run.pt")
    full = fitted(epochs=6)
    fitted(epochs=3, checkpoint=ckpt)             # "killed" after 3 epochs
    resumed = fitted(epochs=6, checkpoint=ckpt)   # continues from epoch 3
    assert len(resumed.history_.loss) == 6
    np.testing.assert_allclose(resumed.item_factors_, full.item_factors_, rtol=1e-4, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = fitted(epochs=3)
    model.save(tmp_path / "m.pt")
    back = LightGCN.load(tmp_path / "m.pt")
    a, b = model.recommend(np.arange(5), k=4), back.recommend(np.arange(5), k=4)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])


def test_not_fitted():
    with pytest.raises(NotFittedError):
        LightGCN().recommend([0])


def test_loading_another_format_is_a_clear_error(tmp_path):
    from cartgraph.errors import ConfigError
    from cartgraph.gnn.state_file import save_state

    save_state(tmp_path / "x.pt", "cartgraph-lightgcn", 2, {})
    with pytest.raises(ConfigError, match="expected a cartgraph-lightgcn version 1 file, found cartgraph-lightgcn version 2"):
        LightGCN.load(tmp_path / "x.pt")


def test_device_scoring_path_gives_the_host_result():
    # The GPU path (scores + top-k in torch) run here on CPU tensors: same items as numpy.
    model = fitted()
    users = np.arange(model.user_items_.shape[0])
    want = model.recommend(users, k=7)
    model._device_factors = (torch.from_numpy(model.user_factors_), torch.from_numpy(model.item_factors_))
    got = model.recommend(users, k=7)
    assert np.array_equal(want[0], got[0])
    assert np.allclose(want[1], got[1], atol=1e-5)
