"""`Teacher`: masks each query, answers it from the cache or a backend, records its cost."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from ecc_utils import privacy
from ecc_utils.cloud.base import Backend, Completion
from ecc_utils.cloud.batch import label_in_batch
from ecc_utils.cloud.cache import LabelCache, cache_key
from ecc_utils.cloud.errors import CacheMissError, TeacherError, scrub
from ecc_utils.cloud.ledger import Budget, SpendCapReached, SpendGuard, entry_cost, price_for
from ecc_utils.cloud.prompt import FewShotPrompt, context_text, count_tokens
from ecc_utils.config import TEACHER_MODES
from ecc_utils.records import Example, LabelRecord, Turn

# The upper bound of a call's cost counts the prompt with this margin: `count_tokens` is an
# approximation of the provider's tokenizer.
TOKEN_MARGIN = 1.1


@dataclass
class TeacherStats:
    """Cost of this run: backend calls made, cache hits, and the tokens of the calls made."""

    calls: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0  # None when the model has no price
    batch_items: int = 0
    failed: int = 0

    def add_call(self, c: Completion, cost: float | None, batch: bool = False) -> None:
        self.calls += 1
        self.batch_items += int(batch)
        self.input_tokens += c.input_tokens
        self.output_tokens += c.output_tokens
        self.cached_tokens += c.cached_tokens
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost


@dataclass(frozen=True)
class Answering:
    """Who answers: the backend's `name` and `model` (both part of every cache key), the
    `factory` that builds the backend on first use (never in replay mode), its `sampling`
    (part of the key too) and the turns of dialogue before a query it sees (knn only)."""

    name: str
    model: str
    factory: Callable[[], Backend]
    sampling: dict[str, float | int] = field(default_factory=dict)
    context_turns: int = 0


@dataclass(frozen=True)
class TeacherOptions:
    """How the teacher asks (profile section `teacher`): `mode` (live, batch or replay), live
    calls at once (`batch_size`), progress bars, and the price table and spend cap (`budget`)."""

    mode: str = "live"
    batch_size: int = 8
    progress: bool = True
    budget: Budget | None = None


class Teacher:
    """Labels customer queries with the Table II prompt, through the cache.

    Every query is masked (`privacy.mask`) before anything else; records, cache lines and the
    backend see only the masked text. A query whose key is in the cache is not sent again
    (so a second run makes zero calls, and a rerun after a failure continues where it
    stopped). ``mode="replay"`` never builds the backend and raises `CacheMissError` on a
    miss; ``mode="batch"`` sends the misses as one provider batch job (`batch.BatchRun`).
    `stats` counts this object's backend calls, cache hits and cost. Each cache line is a row
    of the cost ledger (`ledger`): tokens, latency, mode and its price under `budget.prices`;
    with ``budget.max_cost_usd`` no call is sent that could take the cache file's spend on
    this backend and model past the cap (`SpendCapReached`, every label so far kept).
    """

    def __init__(
        self,
        answering: Answering,
        prompt: FewShotPrompt,
        cache: LabelCache,
        options: TeacherOptions = TeacherOptions(),
    ):
        if options.mode not in TEACHER_MODES:
            raise ValueError(
                f"mode={options.mode!r}: must be one of {', '.join(TEACHER_MODES)} (teacher.mode)"
            )
        self.backend_name = answering.name
        self.model = answering.model
        self.prompt = prompt
        self.cache = cache
        self.mode = options.mode
        self.sampling = dict(answering.sampling)
        self.batch_size = max(int(options.batch_size), 1)
        self.stats = TeacherStats()
        self.progress = options.progress
        self._factory = answering.factory
        self._backend: Backend | None = None
        self._prefix_hash = hashlib.sha256(prompt.prefix.encode("utf-8"))
        # Turns of dialogue before a query that the backend sees (knn retrieval only); they
        # are part of the cache key then, since the answer depends on them.
        self.context_turns = int(answering.context_turns)
        self.budget = options.budget or Budget()
        self.price = price_for(self.budget.prices, self.backend_name, self.model,
                               self.budget.max_cost_usd)  # fmt: skip

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

    def _entry(
        self, key: str, query: str, context: str, c: Completion, job: str | None = None
    ) -> dict:
        extra = {"context": context} if context else {}
        if job is not None:
            extra["batch_job"] = job
        entry = {
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
            "mode": "live" if job is None else "batch",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        cost = entry_cost(entry, self.price)
        entry["cost_usd"] = None if cost is None else round(cost, 8)
        entry["prices_as_of"] = self.budget.prices.as_of
        return entry

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

    def spent(self) -> float:
        """Dollars spent on the labels of the cache file by this backend and model."""
        rows = [e for e in self.cache.entries()
                if (e.get("backend"), e.get("model")) == (self.backend_name, self.model)]  # fmt: skip
        return float(sum(entry_cost(e, self.price) or 0.0 for e in rows))

    def call_bound(self, queries: Sequence[str], mode: str) -> float:
        """The most one call for any of (masked) `queries` can cost in `mode`: the whole
        prompt uncached (with `TOKEN_MARGIN`) and the full output budget; 0 without a price."""
        if self.price is None or not queries:
            return 0.0
        longest = max(count_tokens(self.prompt.render(q)) for q in queries)
        return self.price.rates(mode).cost(
            int(longest * TOKEN_MARGIN), 0, int(self.sampling["max_output_tokens"])
        )

    def spend_guard(self, todo: list[tuple[str, tuple[str, str]]], mode: str) -> SpendGuard:
        cap = self.budget.max_cost_usd
        if cap is None or self.price is None:
            return SpendGuard(None, 0.0, 0.0)
        return SpendGuard(cap, self.spent(), self.call_bound([q for _, (q, _) in todo], mode))

    def keep_answer(
        self, k: str, qc: tuple[str, str], c: Completion, job: str | None = None
    ) -> float:
        entry = self._entry(k, *qc, c, job)
        self.cache.add(entry)
        self.stats.add_call(c, entry["cost_usd"], batch=job is not None)
        return entry["cost_usd"] or 0.0

    def _fill(self, todo: list[tuple[str, tuple[str, str]]]) -> None:
        if self.mode == "batch":
            return self._fill_batch(todo)
        from tqdm.auto import tqdm

        backend = self.backend
        guard = self.spend_guard(todo, "live")
        bar = tqdm(total=len(todo), desc=f"teacher {self.backend_name}", disable=not self.progress)
        done = 0

        def keep(k: str, qc: tuple[str, str], c: Completion) -> None:
            nonlocal done
            guard.settle(self.keep_answer(k, qc, c))
            done += 1
            bar.update(1)

        try:
            if backend.concurrent and self.batch_size > 1:
                capped = self._fill_threads(backend, todo, keep, guard)
            else:
                capped = False
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    chunk = chunk[: guard.affordable(len(chunk))]
                    if not chunk:
                        capped = True
                        break
                    guard.reserve(len(chunk))
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
            note = self.progress_note(done, len(todo))
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
        if capped:
            raise SpendCapReached(guard.message(done, len(todo) - done, str(self.cache.path)))

    def progress_note(self, done: int, n: int) -> str:
        return (
            f"{done} of {n} labels requested in this run were obtained and are kept in "
            f"{self.cache.path}; rerun to continue where it stopped (cached labels are not "
            "requested again)"
        )

    def _fill_threads(self, backend: Backend, todo: list, keep, guard: SpendGuard) -> bool:
        """Up to `batch_size` calls at once; True when it stopped at the spend cap."""

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
            capped = False

            def start_next() -> None:
                nonlocal capped
                if error is not None or capped:
                    return
                nxt = next(it, None)
                if nxt is None:
                    return
                if not guard.reserve():
                    capped = True
                    return
                running[pool.submit(call, nxt[1][0])] = nxt

            for _ in range(self.batch_size):
                start_next()
            while running:
                finished, _ = wait(running, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    k, qc = running.pop(fut)
                    if fut.exception() is not None:
                        error = error or fut.exception()
                        guard.settle(0.0)
                    else:
                        keep(k, qc, fut.result())
                    start_next()
            if error is not None:
                raise error
            return capped

    def _fill_batch(self, todo: list[tuple[str, tuple[str, str]]]) -> None:
        label_in_batch(self, todo)

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
            "prices_as_of": self.budget.prices.as_of,
            "max_cost_usd": self.budget.max_cost_usd,
            **asdict(self.stats),
        }

    def ledger(self, records: Sequence[LabelRecord]) -> dict:
        """The cost and latency ledger (`ledger.summarize`) of the cache lines behind
        `records`: what these labels cost when they were obtained, in this run or before."""
        from ecc_utils.cloud.ledger import summarize

        entries = [e for e in (self.cache.get(r.key) for r in records) if e is not None]
        return summarize(entries, self.price, self.budget.prices.as_of)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
