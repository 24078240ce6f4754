"""Local fake Gemini and OpenAI-compatible HTTP servers for the cloud-teacher tests.

They listen on 127.0.0.1 only, answer the paths the real SDKs send
(``POST /v1beta|v1/models/<m>:generateContent``, ``POST .../cachedContents``,
``DELETE .../cachedContents/<id>``, ``POST /v1/chat/completions``) with bodies shaped like the
real APIs, and record every request so tests can inspect what left the process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fake_batch import BatchBehaviour, BatchRoutes


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str

    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}


@dataclass
class FakeAPI:
    """Behaviour of a fake server; tests set the fields, handlers read them.

    `statuses` is consumed one per answer request (generateContent / chat completions): an
    int status to return instead of an answer (e.g. 429, 500). `fail_from` makes every answer
    request from that (1-based) number on return 500. `malformed` returns a 200 whose body is
    not the API's shape. `cache_status` is the status ``cachedContents`` creation returns.
    """

    kind: str
    statuses: list[int] = field(default_factory=list)
    fail_from: int | None = None
    malformed: str | None = None  # "not-json" | "wrong-shape"
    cache_status: int = 200
    refuse_cached: bool = False  # answer requests naming cached content get 404 (expired)
    requests: list[Request] = field(default_factory=list)
    answer_requests: int = 0
    batch: BatchBehaviour = field(default_factory=BatchBehaviour)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def answers(self) -> list[Request]:
        """The answer requests that were sent (retries included)."""
        marker = ":generateContent" if self.kind == "gemini" else "/chat/completions"
        return [r for r in self.requests if marker in r.path]


def _last_question(text: str) -> str:
    """The query line of a Table II prompt (its last 'Question' line), for echo answers."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(("Question No.", "问题")):
            return ln.split(":", 1)[-1].split("：", 1)[-1].strip()
    return lines[-1] if lines else ""


def _gemini_text(body: dict) -> str:
    return "".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))


def gemini_response(body: dict) -> dict:
    """A GenerateContentResponse echoing the request's query (cached content counts 1000)."""
    text = _gemini_text(body)
    cached = 1000 if body.get("cachedContent") else 0
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": f"亲，关于“{_last_question(text)}”请放心"}],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": len(text) + cached,
            "candidatesTokenCount": 7,
            "cachedContentTokenCount": cached,
            "totalTokenCount": len(text) + cached + 7,
        },
        "modelVersion": "fake",
    }


def openai_response(body: dict, n: int) -> dict:
    """A chat completion echoing the request's query (64 tokens reported as cached)."""
    text = "".join(m["content"] for m in body["messages"])
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": f"Customer Service: 亲，关于“{_last_question(text)}”请放心",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": len(text),
            "completion_tokens": 7,
            "total_tokens": len(text) + 7,
            "prompt_tokens_details": {"cached_tokens": 64},
        },
    }


def _handler(api: FakeAPI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict | str, headers: dict | None = None) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            raw = data.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _record(self) -> Request:
            n = int(self.headers.get("Content-Length") or 0)
            self._raw = self.rfile.read(n)
            req = Request(
                self.command, self.path, dict(self.headers), self._raw.decode("utf-8", "replace")
            )
            with api.lock:
                api.requests.append(req)
            return req

        def do_DELETE(self):
            self._record()
            self._send(200, {})

        def _batch(self, req: Request, raw: bytes) -> bool:
            routes = BatchRoutes(api, self, gemini_response, openai_response)
            path = req.path.split("?")[0]
            if api.kind == "gemini":
                return routes.gemini(req.method, path, raw)
            return routes.openai(req.method, path, raw, req.headers.get("Content-Type", ""))

        def do_GET(self):
            req = self._record()
            if not self._batch(req, b""):
                self._send(404, {"error": {"code": 404, "message": f"no route {self.path}"}})

        def do_POST(self):
            req = self._record()
            if self._batch(req, self._raw):
                return
            if api.kind == "gemini" and "cachedContents" in self.path:
                return self._cached_content(req)
            if api.kind == "gemini" and ":generateContent" in self.path:
                return self._answer(req)
            if api.kind == "openai" and self.path.endswith("/chat/completions"):
                return self._answer(req)
            self._send(404, {"error": {"code": 404, "message": f"no route {self.path}"}})

        def _cached_content(self, req: Request) -> None:
            if api.cache_status != 200:
                msg = "Cached content is too small"
                err = {"code": api.cache_status, "message": msg, "status": "INVALID_ARGUMENT"}
                return self._send(api.cache_status, {"error": err})
            body = req.json()
            self._send(
                200,
                {
                    "name": "cachedContents/fake123",
                    "model": body.get("model"),
                    "displayName": body.get("displayName", ""),
                    "usageMetadata": {"totalTokenCount": len(_gemini_text(body))},
                    "expireTime": "2099-01-01T00:00:00Z",
                },
            )

        def _answer(self, req: Request) -> None:
            with api.lock:
                api.answer_requests += 1
                n = api.answer_requests
                status = api.statuses.pop(0) if api.statuses else 200
            if api.fail_from is not None and n >= api.fail_from:
                status = 500
            if api.kind == "gemini" and api.refuse_cached and "cachedContent" in req.json():
                status = 404
            if status != 200:
                return self._error(status)
            if api.malformed == "not-json":
                return self._send(200, "<html>upstream proxy error</html>")
            if api.malformed == "wrong-shape":
                return self._send(200, {"result": "ok"})
            body = req.json()
            out = gemini_response(body) if api.kind == "gemini" else openai_response(body, n)
            self._send(200, out)

        def _error(self, status: int) -> None:
            names = {
                404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL",
                503: "UNAVAILABLE",
            }
            if api.kind == "gemini":
                err = {"error": {"code": status, "message": "fake", "status": names.get(status)}}
                return self._send(status, err)
            # retry-after-ms keeps the openai SDK's backoff at 10 ms in tests.
            err = {"error": {"message": "fake", "type": "server_error", "code": None}}
            self._send(status, err, {"retry-after-ms": "10"})

    return Handler


@contextmanager
def fake_server(kind: str) -> Iterator[tuple[FakeAPI, str]]:
    """Run a fake `kind` ("gemini" | "openai") server; yields (behaviour, base URL)."""
    api = FakeAPI(kind)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield api, f"http://{host}:{port}" + ("/v1" if kind == "openai" else "")
    finally:
        server.shutdown()
        server.server_close()
