"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from ecc_utils.cloud.base import Backend, Completion, clean_answer
from ecc_utils.cloud.errors import OPENAI_KEY_VAR, MalformedResponseError, TeacherError, scrub
from ecc_utils.cloud.prompt import FewShotPrompt

if TYPE_CHECKING:
    from ecc_utils.config import TeacherConfig


class OpenAIBackend(Backend):
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama).

    Base URL from `base_url` or ``OPENAI_BASE_URL``, key from ``OPENAI_API_KEY`` (a local
    server without a key gets a dummy one). The SDK retries 408/409/429/5xx `max_retries`
    times with exponential backoff and jitter (or the server's ``retry-after``). The full
    prompt is one user message, so servers with prefix caching reuse the few-shot prefix;
    cached tokens come from ``usage.prompt_tokens_details.cached_tokens`` when reported.
    """

    name = "openai"
    concurrent = True

    def __init__(self, model: str, cfg: TeacherConfig):
        """`model` with the sampling, endpoint and retry settings of profile section `teacher`."""
        try:
            import openai
        except ImportError as e:
            raise TeacherError(
                "the openai backend needs the openai package: pip install 'ecc-utils[cloud]'"
            ) from e
        base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = os.environ.get(OPENAI_KEY_VAR)
        if not key:
            if base_url is None:
                raise TeacherError(
                    "the openai backend needs OPENAI_API_KEY in the environment, or "
                    "OPENAI_BASE_URL pointing at a local OpenAI-compatible server"
                )
            key = "no-key"  # local servers (vLLM, llama.cpp, Ollama) accept any key
        self.model = model
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=max(cfg.retry_attempts - 1, 0),
            timeout=cfg.timeout_s,
        )
        self._sampling = dict(
            max_tokens=cfg.max_output_tokens, temperature=cfg.temperature, top_p=cfg.top_p
        )

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        t0 = time.perf_counter()
        try:
            resp = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": prompt.render(query)}],
                **self._sampling,
            )
        except (self._openai.APIResponseValidationError, ValueError) as e:
            raise MalformedResponseError(
                f"openai: the response body could not be parsed ({type(e).__name__}: "
                f"{scrub(str(e))[:200]}); is the base URL an OpenAI-compatible /v1 endpoint?"
            ) from None
        return self._completion(resp, prompt.language, time.perf_counter() - t0)

    def _completion(self, resp, language: str, latency: float) -> Completion:
        """The answer and usage of a chat completion (live or a batch item)."""
        choices = getattr(resp, "choices", None)
        message = getattr(choices[0], "message", None) if choices else None
        content = getattr(message, "content", None)
        if not isinstance(content, str):
            raise MalformedResponseError(
                f"openai: the response holds no choices[0].message.content (model {self.model}); "
                "is the base URL an OpenAI-compatible /v1 endpoint?"
            )
        usage = getattr(resp, "usage", None)
        details = getattr(usage, "prompt_tokens_details", None)
        return Completion(
            answer=clean_answer(content, language),
            input_tokens=int(getattr(usage, "prompt_tokens", None) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", None) or 0),
            cached_tokens=int(getattr(details, "cached_tokens", None) or 0),
            latency_s=latency,
        )

    def batch_api(self):
        from ecc_utils.cloud.openai_batch import OpenAIBatch

        return OpenAIBatch(self)

    def close(self) -> None:
        self._client.close()
