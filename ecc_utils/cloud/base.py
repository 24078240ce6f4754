"""What every backend is: a model that completes the Table II prompt, one `Completion` each."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ecc_utils.cloud.prompt import ANSWER_CUE, FewShotPrompt


@dataclass
class Completion:
    """What a backend returns for one prompt."""

    answer: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0


TERMINAL = ("succeeded", "failed", "cancelled", "expired")


@dataclass
class JobStatus:
    """A batch job as the provider reports it; `done` / `failed` are None when not reported."""

    state: str  # "running" | one of TERMINAL
    done: int | None = None
    failed: int | None = None
    message: str = ""


@dataclass
class ItemResult:
    custom_id: str
    completion: Completion | None
    error: str | None = None


class BatchAPI(Protocol):
    """What a backend offers for batch mode."""

    def submit(self, prompt: FewShotPrompt, items: Sequence[tuple[str, str]], name: str) -> str:
        """Upload the requests (custom id, masked query) and create the job; its id."""

    def status(self, job: str) -> JobStatus: ...

    def results(self, job: str, language: str) -> Iterator[ItemResult]:
        """Every item the provider returned, answered or failed (with its reason); answers are
        cleaned as for the prompt's `language`."""


class Backend:
    """A model that completes the Table II prompt. Subclasses implement `complete`."""

    name: str = ""
    model: str = ""
    # Remote backends are I/O bound: the Teacher runs up to `batch_size` calls at once.
    concurrent: bool = False

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        raise NotImplementedError

    def complete_many(
        self,
        prompt: FewShotPrompt,
        queries: Sequence[str],
        contexts: Sequence[str] | None = None,
    ) -> Iterator[Completion]:
        """Answers in order; yields each as soon as it exists so it can be cached at once.
        `contexts` (the masked dialogue before each query) is used by retrieval backends
        only; the Table II prompt holds the question alone."""
        for q in queries:
            yield self.complete(prompt, q)

    def batch_api(self) -> BatchAPI:
        """The provider's batch endpoint (``teacher.mode: batch``)."""
        from ecc_utils.cloud.errors import TeacherError

        raise TeacherError(
            f"teacher.mode: batch needs a backend with a batch endpoint (gemini, openai); "
            f"{self.name or type(self).__name__} has none: use teacher.mode: live"
        )

    def close(self) -> None:
        """Release remote resources (e.g. an explicit context cache)."""


def clean_answer(text: str, language: str) -> str:
    """Strip whitespace and a repeated "Customer Service:" cue that chat models sometimes echo;
    line breaks become "\n" (a bare "\r" would split a row of every CSV the answer lands in)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    for cue in (ANSWER_CUE[language], ANSWER_CUE["en"], "客服:"):
        if text.startswith(cue):
            text = text[len(cue) :].strip()
    return text
