"""The OpenAI Batch API (``/v1/files``, ``/v1/batches``) for any server that implements it.

One JSONL line per query, ``{"custom_id": <cache key>, "method": "POST", "url":
"/v1/chat/completions", "body": <the chat request>}``, uploaded with ``purpose="batch"``; the
job is created with a 24 h completion window and polled with ``batches.retrieve`` (its
``request_counts`` drive the progress bar). Answers come from ``output_file_id``, failed items
from ``error_file_id`` (or a non-200 ``status_code`` in the output).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ecc_utils.cloud.batch import ItemResult, JobStatus
from ecc_utils.cloud.errors import TeacherError, scrub
from ecc_utils.cloud.prompt import FewShotPrompt

if TYPE_CHECKING:
    from ecc_utils.cloud.openai_api import OpenAIBackend

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
