"""Google Gemini through the `google-genai` SDK, with explicit or implicit context caching."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.cloud.base import Backend, Completion, ItemResult, JobStatus, clean_answer
from ecc_utils.cloud.errors import GEMINI_KEY_VARS, MalformedResponseError, TeacherError, scrub
from ecc_utils.cloud.prompt import FewShotPrompt, count_tokens

if TYPE_CHECKING:
    from ecc_utils.config import TeacherConfig

log = logging.getLogger(__name__)

GEMINI_BASE_URL_VAR = "ECC_GEMINI_BASE_URL"
RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)


class GeminiBackend(Backend):
    """Google Gemini through the `google-genai` SDK.

    Retries 408/429/5xx with exponential backoff and jitter (the SDK's ``HttpRetryOptions``).
    When the prefix is at least ``explicit_cache_min_tokens`` (approximate count), it is sent
    once as explicit cached content (``client.caches.create``) and every request refers to
    it; if creating the cache fails, or the cache is later refused, requests carry the full
    prompt and rely on Gemini's implicit prefix caching. Cached tokens are read from
    ``usage_metadata.cached_content_token_count``; output tokens include thinking tokens
    (billed as output). Thinking models spend `max_output_tokens` on thoughts too: if labels
    come back empty with finish reason MAX_TOKENS, raise it or set `thinking_budget`.
    """

    name = "gemini"
    concurrent = True

    retry_max_delay_s = 60.0
    cache_ttl_s = 3600

    def __init__(self, model: str, cfg: TeacherConfig):
        """`model` with the sampling, endpoint and retry settings of profile section `teacher`."""
        try:
            from google import genai
            from google.genai import types
        except ImportError as e:
            raise TeacherError(
                "the gemini backend needs the google-genai package: pip install 'ecc-utils[cloud]'"
            ) from e
        key = next((os.environ[v] for v in GEMINI_KEY_VARS if os.environ.get(v)), None)
        if key is None:
            raise TeacherError(
                "the gemini backend needs an API key in the environment variable GEMINI_API_KEY "
                "(or GOOGLE_API_KEY); set it outside the notebook, or use teacher.mode: replay "
                "with a recorded cache file, or teacher.backend: knn to run offline"
            )
        self._types = types
        self.model = model
        base_url = cfg.base_url or os.environ.get(GEMINI_BASE_URL_VAR) or None
        retry = types.HttpRetryOptions(
            attempts=cfg.retry_attempts,
            initial_delay=cfg.retry_initial_delay,
            max_delay=self.retry_max_delay_s,
            exp_base=2.0,
            jitter=1.0,
            http_status_codes=list(RETRY_STATUS_CODES),
        )
        http = types.HttpOptions(
            base_url=base_url, retry_options=retry, timeout=int(cfg.timeout_s * 1000)
        )
        self._client = genai.Client(api_key=key, vertexai=False, http_options=http)
        self._sampling: dict[str, Any] = dict(
            max_output_tokens=cfg.max_output_tokens, temperature=cfg.temperature, top_p=cfg.top_p
        )
        if cfg.thinking_budget is not None:
            self._sampling["thinking_config"] = types.ThinkingConfig(
                thinking_budget=cfg.thinking_budget
            )
        self._min_cache = cfg.explicit_cache_min_tokens
        self._ttl = f"{int(self.cache_ttl_s)}s"
        self._cache_name: str | None = None
        self._cache_prefix: str | None = None
        self._cache_failed = False
        self._lock = threading.Lock()

    def _cached_content(self, prompt: FewShotPrompt) -> str | None:
        """The name of an explicit cache holding `prompt.prefix`, or None (implicit caching)."""
        with self._lock:
            if self._cache_prefix == prompt.prefix:
                return self._cache_name
            if self._cache_failed or count_tokens(prompt.prefix) < self._min_cache:
                return None
            t = self._types
            try:
                cache = self._client.caches.create(
                    model=self.model,
                    config=t.CreateCachedContentConfig(
                        contents=[t.Content(role="user", parts=[t.Part(text=prompt.prefix)])],
                        ttl=self._ttl,
                        display_name=f"ecc-fewshot-{prompt.prefix_sha256[:12]}",
                    ),
                )
            except Exception as e:  # any refusal: fall back to implicit caching
                warnings.warn(
                    f"gemini: explicit context caching failed ({scrub(type(e).__name__)}: "
                    f"{scrub(str(e))[:200]}); sending the full prompt (implicit caching)",
                    stacklevel=2,
                )
                self._cache_failed = True
                return None
            self._cache_name, self._cache_prefix = cache.name, prompt.prefix
            return self._cache_name

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        from google.genai import errors

        t = self._types
        name = self._cached_content(prompt)
        t0 = time.perf_counter()
        if name is not None:
            # No system_instruction here: the API refuses one next to cached content.
            cfg = t.GenerateContentConfig(cached_content=name, **self._sampling)
            try:
                resp = self._generate(contents=prompt.suffix(query), config=cfg)
            except errors.ClientError as e:
                if e.code not in (400, 403, 404):
                    raise
                warnings.warn(
                    f"gemini: cached content {name} was refused ({e.code}); "
                    "continuing with the full prompt (implicit caching)",
                    stacklevel=2,
                )
                with self._lock:
                    self._cache_failed, self._cache_prefix, self._cache_name = True, None, None
                return self.complete(prompt, query)
        else:
            resp = self._generate(
                contents=prompt.render(query), config=t.GenerateContentConfig(**self._sampling)
            )
        latency = time.perf_counter() - t0
        return self._parse(resp, prompt.language, latency)

    def _generate(self, **kwargs: Any) -> Any:
        try:
            return self._client.models.generate_content(model=self.model, **kwargs)
        except ValueError as e:  # JSON or pydantic errors: the body is not a Gemini response
            raise MalformedResponseError(
                f"gemini: the response body could not be parsed ({type(e).__name__}: "
                f"{scrub(str(e))[:200]}); is the base URL a Gemini API endpoint?"
            ) from None

    def _parse(self, resp: Any, language: str, latency: float) -> Completion:
        cands = getattr(resp, "candidates", None)
        feedback = getattr(resp, "prompt_feedback", None)
        usage = getattr(resp, "usage_metadata", None)
        if not cands and not getattr(feedback, "block_reason", None):
            raise MalformedResponseError(
                "gemini: the response holds no candidates and no block reason "
                f"(model {self.model}); is the base URL a Gemini API endpoint?"
            )
        parts = (
            getattr(getattr(cands[0], "content", None), "parts", None) if cands else None
        ) or []
        # Thinking models may return thought summaries as parts; the label is the answer only.
        texts = [
            p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False)
        ]
        if not texts:
            reason = getattr(cands[0], "finish_reason", None) if cands else feedback.block_reason
            hint = (
                " (thinking tokens count against max_output_tokens: raise "
                "teacher.max_output_tokens or set thinking_budget)"
                if "MAX_TOKENS" in str(reason)
                else ""
            )
            warnings.warn(
                f"gemini returned no text (finish/block reason {reason}); the label is empty{hint}",
                stacklevel=3,
            )
        return Completion(
            answer=clean_answer("".join(texts), language),
            input_tokens=int(getattr(usage, "prompt_token_count", None) or 0),
            output_tokens=int(getattr(usage, "candidates_token_count", None) or 0)
            + int(getattr(usage, "thoughts_token_count", None) or 0),
            cached_tokens=int(getattr(usage, "cached_content_token_count", None) or 0),
            latency_s=latency,
        )

    def batch_api(self):

        return GeminiBatch(self)

    def close(self) -> None:
        with self._lock:
            name, self._cache_name, self._cache_prefix = self._cache_name, None, None
        if name:
            try:
                self._client.caches.delete(name=name)
            except Exception as e:  # best effort: the TTL expires it anyway
                log.info("gemini: could not delete cached content %s: %s", name, type(e).__name__)


# --- Batch mode --------------------------------------------------------------------------------
# Gemini Batch Mode through `google-genai`: a JSONL request file, ``client.batches``, results.
#
# The request file holds one line per query, ``{"key": <cache key>, "request": <the
# GenerateContentRequest>}`` with the full Table II prompt (implicit prefix caching applies to
# batch requests; an explicit cache could expire during a job of up to 24 hours). It is uploaded
# with ``client.files.upload``, the job created with ``client.batches.create`` and polled with
# ``client.batches.get``; the results file (``dest.file_name``) is fetched with
# ``client.files.download``: one line per item with a ``response`` or an ``error``.

STATES = {
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}


class GeminiBatch:
    """The `BatchAPI` of a `GeminiBackend` (same client, model and sampling)."""

    def __init__(self, backend: GeminiBackend):
        self.b = backend

    def _generation_config(self) -> dict[str, Any]:
        s = self.b._sampling
        cfg: dict[str, Any] = {
            "maxOutputTokens": s["max_output_tokens"],
            "temperature": s["temperature"],
            "topP": s["top_p"],
        }
        if "thinking_config" in s:
            cfg["thinkingConfig"] = {"thinkingBudget": s["thinking_config"].thinking_budget}
        return cfg

    def submit(self, prompt: FewShotPrompt, items: Sequence[tuple[str, str]], name: str) -> str:
        gen = self._generation_config()
        lines = [
            json.dumps(
                {
                    "key": key,
                    "request": {
                        "contents": [{"role": "user", "parts": [{"text": prompt.render(q)}]}],
                        "generationConfig": gen,
                    },
                },
                ensure_ascii=False,
            )  # fmt: skip
            for key, q in items
        ]
        client, t = self.b._client, self.b._types
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"{name}.jsonl"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            upload = client.files.upload(
                file=str(path), config=t.UploadFileConfig(display_name=name, mime_type="jsonl")
            )
        job = client.batches.create(
            model=self.b.model, src=upload.name, config=t.CreateBatchJobConfig(display_name=name)
        )
        if not job.name:
            raise TeacherError("gemini: batches.create returned no job name")
        return job.name

    def status(self, job: str) -> JobStatus:
        j = self.b._client.batches.get(name=job)
        state = getattr(j.state, "value", str(j.state))
        err = getattr(j, "error", None)
        return JobStatus(
            STATES.get(state, "running"), message=str(getattr(err, "message", "") or "")
        )

    def results(self, job: str, language: str) -> Iterator[ItemResult]:
        from google.genai import types

        j = self.b._client.batches.get(name=job)
        dest = getattr(j, "dest", None)
        if dest is None or not dest.file_name:
            raise TeacherError(f"gemini: batch job {job} succeeded but names no results file")
        data = self.b._client.files.download(file=dest.file_name)
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = str(row.get("key", ""))
            err = row.get("error") or row.get("status")
            if row.get("response"):
                try:
                    resp = types.GenerateContentResponse.model_validate(row["response"])
                    yield ItemResult(key, self.b._parse(resp, language, 0.0))
                except (TeacherError, ValueError) as e:
                    yield ItemResult(key, None, scrub(f"{type(e).__name__}: {e}")[:300])
            else:
                msg = err.get("message", err) if isinstance(err, dict) else err
                code = err.get("code") if isinstance(err, dict) else None
                yield ItemResult(key, None, f"{code or 'error'}: {msg}")
