"""The batch endpoints of the fake servers (tests/fake_servers.py).

Gemini (google-genai): the resumable upload (``POST /upload/v1beta/files`` then the session
URL it returns), ``POST /v1beta/models/<m>:batchGenerateContent``, ``GET /v1beta/batches/<id>``
and ``GET /download/v1beta/files/<id>:download`` (v1 as well). OpenAI: ``POST /v1/files`` (multipart),
``POST /v1/batches``, ``GET /v1/batches/<id>`` and ``GET /v1/files/<id>/content``. A job's
results are computed when it is created; it reports "running" for `polls` status requests
(forever while `hold` is set), then succeeds, fails items by `fail_every`, or fails whole.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field


@dataclass
class BatchBehaviour:
    polls: int = 1  # status requests answered "running" before the job ends
    hold: bool = False  # keep the job running until a test clears this
    fail_every: int = 0  # every k-th item fails (2: half of them)
    job_fails: bool = False  # the whole job ends FAILED
    files: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict] = field(default_factory=dict)
    creates: int = 0
    downloads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _find(obj, key: str):
    """The first value of `key` anywhere in a JSON object."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            r = _find(v, key)
            if r is not None:
                return r
    return None


def _multipart_file(body: bytes, content_type: str) -> bytes:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        if b'name="file"' in part:
            return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    raise ValueError("no file part")


class BatchRoutes:
    """Serves the batch paths for one request; returns False when the path is not one."""

    def __init__(self, api, handler, gemini_response, openai_response):
        self.api, self.h = api, handler
        self.b: BatchBehaviour = api.batch
        self.gemini_response, self.openai_response = gemini_response, openai_response

    def _new_id(self, prefix: str) -> str:
        with self.b.lock:
            return f"{prefix}{len(self.b.files) + len(self.b.jobs) + 1}"

    def _download(self, name: str) -> bool:
        with self.b.lock:
            self.b.downloads += 1
        data = self.b.files[name]
        self.h.send_response(200)
        self.h.send_header("Content-Type", "application/octet-stream")
        self.h.send_header("Content-Length", str(len(data)))
        self.h.end_headers()
        self.h.wfile.write(data)
        return True

    # --- computing a job ----------------------------------------------------------------------
    def _run(self, lines: list[dict]) -> tuple[list[dict], list[dict]]:
        ok, bad = [], []
        for i, row in enumerate(lines, 1):
            failed = self.b.fail_every and i % self.b.fail_every == 0
            if self.api.kind == "gemini":
                out = (
                    {"key": row["key"], "error": {"code": 400, "message": "fake: item refused"}}
                    if failed
                    else {"key": row["key"], "response": self.gemini_response(row["request"])}
                )
                (bad if failed else ok).append(out)
            else:
                cid = row["custom_id"]
                if failed:
                    err = {"code": "invalid_request", "message": "fake: item refused"}
                    bad.append({"id": f"r{i}", "custom_id": cid, "response": None, "error": err})
                else:
                    resp = {"status_code": 200, "request_id": f"q{i}",
                            "body": self.openai_response(row["body"], i)}  # fmt: skip
                    ok.append({"id": f"r{i}", "custom_id": cid, "response": resp, "error": None})
        return ok, bad

    def _status(self, job: dict) -> str:
        with self.b.lock:
            job["polls"] += 1
            if self.b.hold or job["polls"] <= self.b.polls:
                return "running"
            return "failed" if self.b.job_fails else "done"

    # --- gemini ---------------------------------------------------------------------------------
    def gemini(self, method: str, path: str, raw: bytes) -> bool:
        h, b = self.h, self.b
        if method == "POST" and path.startswith("/upload/") and path.endswith("/files"):
            sid = self._new_id("session")
            host, port = h.server.server_address[:2]
            h._send(
                200,
                {"file": {}},
                {"x-goog-upload-url": f"http://{host}:{port}/upload-session/{sid}"},
            )
            return True
        if method == "POST" and path.startswith("/upload-session/"):
            name = self._new_id("files/in")
            with b.lock:
                b.files[name] = raw
            meta = {
                "name": name,
                "mimeType": "jsonl",
                "sizeBytes": str(len(raw)),
                "state": "ACTIVE",
            }
            h._send(200, {"file": meta}, {"x-goog-upload-status": "final"})
            return True
        if method == "POST" and path.endswith(":batchGenerateContent"):
            body = json.loads(raw or b"{}")
            src = _find(body, "fileName")
            lines = [json.loads(x) for x in b.files[src].decode().splitlines() if x.strip()]
            ok, bad = self._run(lines)
            name = self._new_id("batches/job")
            out = self._new_id("files/out")
            with b.lock:
                b.creates += 1
                b.files[out] = (
                    "\n".join(json.dumps(r, ensure_ascii=False) for r in ok + bad) + "\n"
                ).encode()
                b.jobs[name] = {
                    "polls": 0,
                    "out": out,
                    "model": path.split("/models/")[-1].split(":")[0],
                }
            h._send(200, self._gemini_job(name, "BATCH_STATE_PENDING"))
            return True
        m = re.fullmatch(r"/v1(?:beta)?/(batches/[^/?:]+)", path.split("?")[0])
        if method == "GET" and m and m.group(1) in b.jobs:
            name = m.group(1)
            st = self._status(b.jobs[name])
            state = {"running": "BATCH_STATE_RUNNING", "failed": "BATCH_STATE_FAILED"}.get(
                st, "BATCH_STATE_SUCCEEDED"
            )
            h._send(200, self._gemini_job(name, state))
            return True
        m = re.fullmatch(r"(?:/download)?/v1(?:beta)?/(files/[^:]+):download", path.split("?")[0])
        if method == "GET" and m:
            return self._download(m.group(1))
        return False

    def _gemini_job(self, name: str, state: str) -> dict:
        job = self.b.jobs[name]
        meta = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
                "model": f"models/{job['model']}", "name": name, "state": state}  # fmt: skip
        if state == "BATCH_STATE_SUCCEEDED":
            meta["output"] = {"responsesFile": job["out"]}
        return {"name": name, "metadata": meta, "done": state != "BATCH_STATE_RUNNING"}

    # --- openai ---------------------------------------------------------------------------------
    def openai(self, method: str, path: str, raw: bytes, content_type: str) -> bool:
        h, b = self.h, self.b
        if method == "POST" and path == "/v1/files":
            fid = self._new_id("file-in")
            with b.lock:
                b.files[fid] = _multipart_file(raw, content_type)
            h._send(200, {"id": fid, "object": "file", "bytes": len(b.files[fid]), "created_at": 0,
                          "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})  # fmt: skip
            return True
        if method == "POST" and path == "/v1/batches":
            body = json.loads(raw)
            lines = [
                json.loads(x)
                for x in b.files[body["input_file_id"]].decode().splitlines()
                if x.strip()
            ]
            ok, bad = self._run(lines)
            bid = self._new_id("batch_")
            out, err = self._new_id("file-out"), None
            with b.lock:
                b.creates += 1
                b.files[out] = (
                    "\n".join(json.dumps(r, ensure_ascii=False) for r in ok) + "\n"
                ).encode()
                if bad:
                    err = f"file-err{bid}"
                    b.files[err] = (
                        "\n".join(json.dumps(r, ensure_ascii=False) for r in bad) + "\n"
                    ).encode()
                b.jobs[bid] = {"polls": 0, "out": out, "err": err, "n": len(lines), "failed": len(bad),
                               "input": body["input_file_id"]}  # fmt: skip
            h._send(200, self._openai_job(bid, "validating"))
            return True
        m = re.fullmatch(r"/v1/batches/([^/]+)", path)
        if method == "GET" and m and m.group(1) in b.jobs:
            st = self._status(b.jobs[m.group(1)])
            status = {"running": "in_progress", "failed": "failed"}.get(st, "completed")
            h._send(200, self._openai_job(m.group(1), status))
            return True
        m = re.fullmatch(r"/v1/files/([^/]+)/content", path)
        if method == "GET" and m and m.group(1) in b.files:
            return self._download(m.group(1))
        return False

    def _openai_job(self, bid: str, status: str) -> dict:
        job = self.b.jobs[bid]
        done = status == "completed"
        n, failed = job["n"], job["failed"]
        errors = {"object": "list", "data": [{"code": "fake", "message": "fake: job failed"}]}
        return {
            "id": bid, "object": "batch", "endpoint": "/v1/chat/completions",
            "errors": errors if status == "failed" else None,
            "input_file_id": job["input"], "completion_window": "24h", "status": status,
            "output_file_id": job["out"] if done else None,
            "error_file_id": job["err"] if done else None,
            "created_at": 0,
            "request_counts": {"total": n, "completed": n - failed if done else 0,
                               "failed": failed if done else 0},
        }  # fmt: skip
