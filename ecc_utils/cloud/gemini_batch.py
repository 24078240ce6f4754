"""Gemini Batch Mode through `google-genai`: a JSONL request file, ``client.batches``, results.

The request file holds one line per query, ``{"key": <cache key>, "request": <the
GenerateContentRequest>}`` with the full Table II prompt (implicit prefix caching applies to
batch requests; an explicit cache could expire during a job of up to 24 hours). It is uploaded
with ``client.files.upload``, the job created with ``client.batches.create`` and polled with
``client.batches.get``; the results file (``dest.file_name``) is fetched with
``client.files.download``: one line per item with a ``response`` or an ``error``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.cloud.batch import ItemResult, JobStatus
from ecc_utils.cloud.errors import TeacherError, scrub
from ecc_utils.cloud.prompt import FewShotPrompt

if TYPE_CHECKING:
    from ecc_utils.cloud.gemini import GeminiBackend

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
