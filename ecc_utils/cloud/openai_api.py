"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ecc_utils.cloud.base import Backend, Completion, ItemResult, JobStatus, clean_answer
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

        return OpenAIBatch(self)

    def close(self) -> None:
        self._client.close()


# --- Batch mode --------------------------------------------------------------------------------
# The OpenAI Batch API (``/v1/files``, ``/v1/batches``) for any server that implements it.
#
# One JSONL line per query, ``{"custom_id": <cache key>, "method": "POST", "url":
# "/v1/chat/completions", "body": <the chat request>}``, uploaded with ``purpose="batch"``; the
# job is created with a 24 h completion window and polled with ``batches.retrieve`` (its
# ``request_counts`` drive the progress bar). Answers come from ``output_file_id``, failed items
# from ``error_file_id`` (or a non-200 ``status_code`` in the output).

ENDPOINT = "/v1/chat/completions"
STATES = {"completed": "succeeded", "failed": "failed", "expired": "expired",
          "cancelled": "cancelled"}  # fmt: skip


class OpenAIBatch:
    """The `BatchAPI` of an `OpenAIBackend` (same client, model and sampling)."""

    def __init__(self, backend: OpenAIBackend):
        self.b = backend

    def submit(self, prompt: FewShotPrompt, items: Sequence[tuple[str, str]], name: str) -> str:
        lines = [
            json.dumps(
                {
                    "custom_id": key,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": {
                        "model": self.b.model,
                        "messages": [{"role": "user", "content": prompt.render(q)}],
                        **self.b._sampling,
                    },
                },
                ensure_ascii=False,
            )  # fmt: skip
            for key, q in items
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        client = self.b._client
        f = client.files.create(file=(f"{name}.jsonl", data), purpose="batch")
        job = client.batches.create(
            input_file_id=f.id,
            endpoint=ENDPOINT,
            completion_window="24h",
            metadata={"description": name},
        )
        return job.id

    def status(self, job: str) -> JobStatus:
        j = self.b._client.batches.retrieve(job)
        counts = getattr(j, "request_counts", None)
        done = failed = None
        if counts is not None:
            done, failed = counts.completed + counts.failed, counts.failed
        errors = getattr(getattr(j, "errors", None), "data", None) or []
        msg = "; ".join(f"{e.code}: {e.message}" for e in errors[:3])
        return JobStatus(STATES.get(j.status, "running"), done, failed, msg)

    def results(self, job: str, language: str) -> Iterator[ItemResult]:
        from openai.types.chat import ChatCompletion

        j = self.b._client.batches.retrieve(job)
        for file_id in (j.output_file_id, j.error_file_id):
            if not file_id:
                continue
            text = self.b._client.files.content(file_id).text
            for line in text.splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                key = str(row.get("custom_id", ""))
                resp = row.get("response") or {}
                if resp.get("status_code") == 200 and not row.get("error"):
                    try:
                        body = ChatCompletion.model_validate(resp.get("body"))
                        yield ItemResult(key, self.b._completion(body, language, 0.0))
                    except (TeacherError, ValueError) as e:
                        yield ItemResult(key, None, scrub(f"{type(e).__name__}: {e}")[:300])
                    continue
                err = row.get("error") or (resp.get("body") or {}).get("error") or {}
                code = err.get("code") or resp.get("status_code") or "error"
                yield ItemResult(key, None, f"{code}: {err.get('message', err)}")
