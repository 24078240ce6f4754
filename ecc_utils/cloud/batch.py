"""Batch labelling (``teacher.mode: batch``): one provider batch job instead of live calls.

`BatchRun.fill` writes the request file of the queries not yet cached, submits it through the
backend's `BatchAPI` (Gemini Batch Mode via ``client.batches``, the OpenAI Batch API), persists
the job id next to the cache file, polls with a progress bar, downloads the results and writes
every answer into the same append-only cache that live and replay use. A process killed after
the submit finds the persisted job on its next run and waits for it instead of paying twice.
Items the provider failed are returned with their reason; the others are kept.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ecc_utils.cloud.base import TERMINAL, BatchAPI, Completion, JobStatus
from ecc_utils.cloud.errors import BatchItemsFailed, TeacherError, scrub
from ecc_utils.cloud.ledger import SpendCapReached
from ecc_utils.cloud.prompt import FewShotPrompt
from ecc_utils.records import atomic_write_text


@dataclass
class Failure:
    key: str
    query: str
    reason: str


class BatchRun:
    """Submits, resumes, polls and collects one batch job at a time for a `Teacher`."""

    def __init__(
        self,
        api: BatchAPI,
        state_file: Path,
        teacher: BatchLabeller,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """A job of `teacher`'s backend and model on `api`, its state kept in `state_file`,
        polled every ``teacher.budget.batch_poll_s`` seconds (waiting with `sleep`)."""
        self.api = api
        self.state_file = Path(state_file)
        self.backend, self.model = teacher.backend_name, teacher.model
        self.poll_s = float(teacher.budget.batch_poll_s)
        self.language = teacher.prompt.language
        self.progress = teacher.progress
        self.sleep = sleep

    # --- the persisted job ------------------------------------------------------------------
    def pending(self) -> dict | None:
        """The job a previous run submitted and did not collect, if any."""
        if not self.state_file.is_file():
            return None
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
            state["job"], state["items"]  # noqa: B018 -- both must be there
        except (json.JSONDecodeError, KeyError, TypeError):
            raise TeacherError(
                f"{self.state_file}: unreadable batch state; if no batch job is running for "
                "this cache, delete the file and rerun"
            ) from None
        if (state.get("backend"), state.get("model")) != (self.backend, self.model):
            raise TeacherError(
                f"{self.state_file} holds a {state.get('backend')} batch job for model "
                f"{state.get('model')} ({state['job']}), not for {self.backend} {self.model}: "
                "collect it with that teacher, or delete the file to abandon the job"
            )
        return state

    def submit(self, prompt: FewShotPrompt, todo: Sequence[tuple[str, str]]) -> dict:
        """Submit (key, masked query) pairs as one job and persist its id at once."""
        name = f"ecc-labels-{prompt.prefix_sha256[:8]}-{len(todo)}"
        job = self.api.submit(prompt, todo, name)
        state = {
            "backend": self.backend,
            "model": self.model,
            "job": job,
            "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "submitted_unix": time.time(),
            "items": dict(todo),
        }
        atomic_write_text(self.state_file, json.dumps(state, ensure_ascii=False, indent=1))
        return state

    # --- waiting and collecting -------------------------------------------------------------
    def wait(self, state: dict) -> JobStatus:
        """Poll until the job ends, showing its progress."""
        from tqdm.auto import tqdm

        n = len(state["items"])
        bar = tqdm(total=n, desc=f"batch {state['job']}", disable=not self.progress)
        try:
            while True:
                st = self.api.status(state["job"])
                if st.done is not None:
                    bar.n = min(st.done, n)
                bar.set_postfix_str(st.state + (f", {st.failed} failed" if st.failed else ""))
                bar.refresh()
                if st.state in TERMINAL:
                    return st
                self.sleep(self.poll_s)
        finally:
            bar.close()

    def collect(
        self, state: dict, keep: Callable[[str, str, Completion, str], None]
    ) -> list[Failure]:
        """Wait for `state`'s job, `keep` every answer (key, query, completion, job) and
        return the failed items; the persisted state is removed once all is written."""
        st = self.wait(state)
        items: dict[str, str] = state["items"]
        if st.state != "succeeded":
            self.state_file.unlink(missing_ok=True)
            raise TeacherError(
                f"{self.backend} batch job {state['job']} ended {st.state}"
                + (f": {scrub(st.message)[:300]}" if st.message else "")
                + f"; none of its {len(items)} items was labelled. Rerun to submit them again."
            )
        turnaround = max(time.time() - float(state.get("submitted_unix", time.time())), 0.0)
        failures, seen = [], set()
        for r in self.api.results(state["job"], self.language):
            if r.custom_id not in items or r.custom_id in seen:
                continue
            seen.add(r.custom_id)
            if r.completion is None:
                failures.append(Failure(r.custom_id, items[r.custom_id], r.error or "no answer"))
                continue
            r.completion.latency_s = turnaround
            keep(r.custom_id, items[r.custom_id], r.completion, state["job"])
        for k, q in items.items():
            if k not in seen:
                failures.append(Failure(k, q, "the job returned no result for this item"))
        self.state_file.unlink(missing_ok=True)
        return failures


def write_failures(path: Path, failures: Sequence[Failure], job: str) -> None:
    """Append the failed items (masked query and reason) to a JSONL report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for x in failures:
            row = {"key": x.key, "query": x.query, "reason": scrub(x.reason), "job": job}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


class BatchLabeller(Protocol):
    """What batch labelling needs of its `Teacher` (which calls `label_in_batch`)."""

    backend: Any
    backend_name: str
    model: str
    cache: Any
    budget: Any
    prompt: FewShotPrompt
    progress: bool
    stats: Any

    def keep_answer(
        self, key: str, qc: tuple[str, str], c: Completion, job: str | None
    ) -> None: ...

    def spend_guard(self, todo: list, mode: str) -> Any: ...

    def progress_note(self, done: int, n: int) -> str: ...


def label_in_batch(teacher: BatchLabeller, todo: list[tuple[str, tuple[str, str]]]) -> None:
    """Label `todo` (cache key, (masked query, context)) with `teacher`'s backend batch job:
    collect a job a killed run left behind first, then submit what is still missing (as far
    as the spend cap allows). Raises `BatchItemsFailed` (the rest kept) or `SpendCapReached`."""
    api = teacher.backend.batch_api()
    state_file = teacher.cache.path.with_name(teacher.cache.path.stem + ".batch.json")
    run = BatchRun(api, state_file, teacher)
    queries = dict(todo)

    def keep(k: str, q: str, c: Completion, job: str) -> None:
        teacher.keep_answer(k, queries.get(k, (q, "")), c, job)

    failures, job = [], None
    pending = run.pending()
    if pending is not None:
        job = pending["job"]
        failures += run.collect(pending, keep)
    failed = {f.key for f in failures}
    left = [(k, qc[0]) for k, qc in todo if k not in teacher.cache and k not in failed]
    guard = teacher.spend_guard(todo, "batch")
    n = guard.affordable(len(left))
    if n:
        state = run.submit(teacher.prompt, left[:n])
        job = state["job"]
        failures += run.collect(state, keep)
    teacher.stats.failed += len(failures)
    if failures:
        report = teacher.cache.path.with_name(teacher.cache.path.stem + ".batch_failures.jsonl")
        write_failures(report, failures, job or "")
        reasons = "; ".join(f"{f.query!r}: {scrub(f.reason)[:120]}" for f in failures[:3])
        got = len(todo) - len(failures) - (len(left) - n)
        raise BatchItemsFailed(
            f"{teacher.backend_name} batch job {job}: {len(failures)} of {len(todo)} items "
            f"failed ({reasons}{'; ...' if len(failures) > 3 else ''}); all are listed in "
            f"{report}. {teacher.progress_note(got, len(todo))}",
            failures,
        )
    if n < len(left):
        raise SpendCapReached(guard.message(n, len(left) - n, str(teacher.cache.path)))
