"""ONNX Runtime backend of :class:`~cartgraph.text.TextEncoder`: CPU, float32, exact.

Why: on a CPU, MiniLM on short product texts (~9 tokens) runs many small operators per
batch, and torch pays a fixed dispatch cost for each. ONNX Runtime runs the same float32
graph with fused kernels (bias + GELU, scaled matmuls) and less overhead per operator:
1.3–1.4× the torch forward at one thread on 3,000 real item texts, vectors equal to
cosine ≥ 0.9999998 (``benchmarks/RESULTS.md``, "Text encoder, session 5").

How: the Hugging Face model (eager attention) plus the pooling and L2 normalisation is
exported once with ``torch.onnx.export`` (dynamic batch and sequence axes). The file is
cached at ``<cache root>/onnx/<key>.onnx``; the key hashes the model's identity, the
pooling, this recipe's version and the torch/transformers versions. It is written to a
temporary file and renamed, so processes racing to export never read a partial file.
Before a new file is kept, its output is compared with the torch model's on two probe
batches of other shapes than the export's; any difference above ``_TOLERANCE`` means the
export failed. Failures raise :class:`BackendUnavailable`; the encoder then falls back to
torch.

Shapes: ``input_ids`` and ``attention_mask`` are ``(batch, seq)`` int64; the output is
``(batch, hidden)`` float32, unit length.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cartgraph.text._model import model_identity

__all__ = ["BackendUnavailable", "OnnxRunner", "load_runner", "onnx_importable"]

RECIPE_VERSION = 1
"""Bumped when the exported graph changes (a new key, so old files are not reused)."""
_TOLERANCE = 1e-4
"""Largest absolute difference from torch (on unit vectors) an export may show."""
_DISABLED_FUSIONS = ["SkipLayerNormFusion"]
"""ORT fusions left off: the fused SkipLayerNormalization kernel was ~8× slower than
LayerNormalization + Add on the 384-wide MiniLM (profiled on the dev CPU); unfused is
the same arithmetic."""


class BackendUnavailable(RuntimeError):
    """The ONNX backend cannot run this model here (the message says why)."""


def onnx_importable() -> bool:
    """Whether ``onnxruntime`` and ``onnx`` (needed to export) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def export_key(name: str, pooling: str) -> str:
    """File name stem of the exported model: model files + pooling + versions."""
    import torch
    import transformers

    return model_identity(name, pooling=pooling, backend="onnx", onnx_recipe=RECIPE_VERSION,
                          torch=torch.__version__.split("+")[0], transformers=transformers.__version__)


class OnnxRunner:
    """ORT sessions of one exported model, one per thread count (created on first use).

    Args:
        source: path of the ``.onnx`` file, or its bytes.
    """

    def __init__(self, source: str | os.PathLike | bytes) -> None:
        self.source = source if isinstance(source, bytes) else str(source)
        self._sessions: dict[int, Any] = {}

    def session(self, threads: int) -> Any:
        """The ``onnxruntime.InferenceSession`` running with ``threads`` intra-op threads."""
        if threads not in self._sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # Idle workers sleep instead of spinning: as fast on an idle 2-core box (811 vs
            # 805 texts/s), far faster when another process holds a core (455 vs 281).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[threads] = ort.InferenceSession(self.source, options, providers=["CPUExecutionProvider"],
                                                           disabled_optimizers=_DISABLED_FUSIONS)
        return self._sessions[threads]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, threads: int = 1) -> np.ndarray:
        """Unit vectors ``(batch, hidden)`` float32 of one padded batch ``(batch, seq)``."""
        feed = {"input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
                "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64)}
        return self.session(threads).run(None, feed)[0]


def load_runner(name: str, pooling: str, folder: str | os.PathLike) -> OnnxRunner:
    """An :class:`OnnxRunner` for model ``name``, exporting it to ``folder/onnx`` if needed.

    A cached file that no longer opens is exported again. A failed export leaves
    ``<key>.failed`` (its reason) so that later encoders do not retry it. If
    ``folder`` is not writable the export goes to a temporary file and is kept in
    memory.

    Raises:
        BackendUnavailable: onnxruntime/onnx missing, or the export failed or differs
            from torch.
    """
    if not onnx_importable():
        raise BackendUnavailable("onnxruntime and onnx are not installed (pip install 'cartgraph[fast]')")
    path = Path(folder).expanduser() / "onnx" / f"{export_key(name, pooling)}.onnx"
    failed = path.with_suffix(".failed")
    if failed.is_file():
        raise BackendUnavailable(f"{failed.read_text().strip()} (recorded in {failed}; delete it to retry)")
    if path.is_file():
        runner = OnnxRunner(path)
        try:
            runner.session(1)
            return runner
        except Exception:  # damaged or from an incompatible writer: export anew
            pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(fd)
    except OSError:
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "model.onnx"
            export(name, pooling, target)
            return OnnxRunner(target.read_bytes())
    try:
        export(name, pooling, Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BackendUnavailable as e:
        with contextlib.suppress(OSError):
            failed.write_text(str(e))
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return OnnxRunner(path)


def export(name: str, pooling: str, target: Path) -> None:
    """Export model ``name`` with pooling and normalisation to ``target``, checked against torch.

    Tries the current exporter (``dynamo=True``, needs ``onnxscript``), then the
    TorchScript one; raises :class:`BackendUnavailable` if neither gives a file whose
    output matches torch within ``_TOLERANCE``.
    """
    import torch

    module = _pooled_module(name, pooling)
    example = _probe(2, 8, module.vocab_size)
    errors = []
    for dynamo in (True, False):
        if dynamo and importlib.util.find_spec("onnxscript") is None:
            errors.append("dynamo exporter: onnxscript is not installed")
            continue
        try:
            with _quiet():
                _export_once(torch, module, example, target, dynamo)
            _check(module, target)
            return
        except BackendUnavailable as e:
            errors.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: {e}")
        except Exception as e:  # exporters raise many types; the message is what matters
            errors.append(f"{'dynamo' if dynamo else 'torchscript'} exporter: {type(e).__name__}: {e}"[:500])
    raise BackendUnavailable("ONNX export failed: " + "; ".join(errors))


def _export_once(torch: Any, module: Any, example: tuple, target: Path, dynamo: bool) -> None:
    names = ["input_ids", "attention_mask"]
    if dynamo:
        axes = {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC}
        torch.onnx.export(module, example, str(target), input_names=names, output_names=["sentence_vector"],
                          dynamic_shapes=(axes, axes), dynamo=True, external_data=False, verbose=False)
    else:
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(module, example, str(target), input_names=names, output_names=["sentence_vector"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "sentence_vector": {0: "batch"}},
                          dynamo=False, opset_version=17)


def _check(module: Any, target: Path) -> None:
    """Compare the exported file with ``module`` on batches of new shapes (padding included)."""
    import torch

    runner = OnnxRunner(target)
    for batch, seq in ((3, 11), (1, 2)):
        ids, mask = _probe(batch, seq, module.vocab_size)
        with torch.inference_mode():
            want = module(ids, mask).numpy()
        got = runner(ids.numpy(), mask.numpy())
        if got.shape != want.shape or not np.abs(got - want).max() <= _TOLERANCE:
            raise BackendUnavailable(f"exported model differs from torch on a {batch}×{seq} batch")


def _probe(batch: int, seq: int, vocab: int) -> tuple[Any, Any]:
    """Fixed pseudo-random ids ``(batch, seq)`` and a mask whose rows have lengths seq, seq-3, ..."""
    import torch

    gen = torch.Generator().manual_seed(batch * 1000 + seq)
    ids = torch.randint(5, max(6, min(vocab, 30000)), (batch, seq), generator=gen)
    lengths = torch.clamp(seq - 3 * torch.arange(batch), min=1)
    mask = (torch.arange(seq)[None, :] < lengths[:, None]).long()
    return ids, mask


def _pooled_module(name: str, pooling: str) -> Any:
    """torch module: ids, mask ``(b, s)`` → pooled, L2-normalised ``(b, hidden)`` (the encoder's recipe)."""
    import torch
    from transformers import AutoModel

    try:
        model = AutoModel.from_pretrained(name, attn_implementation="eager")
    except (OSError, ValueError, TypeError):
        model = AutoModel.from_pretrained(name)
    model.eval().float()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.vocab_size = int(getattr(model.config, "vocab_size", 1000) or 1000)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled().eval()


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence the exporters' progress prints, warnings and log lines."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
