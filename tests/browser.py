"""A headless Chromium driven over the DevTools protocol, for the browser tests of the book and
of JupyterLab: every request a page makes, its console errors and uncaught exceptions,
JavaScript evaluation and screenshots. Needs only the `chromium` binary (Debian's package; the
Makefile's ``browser`` target installs it) and the `websockets` package.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@dataclass
class PageReport:
    url: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # requests that got no response

    def foreign_requests(self, allowed_hosts: tuple[str, ...] = ()) -> list[str]:
        """Requests to any host other than local files, inline data and `allowed_hosts`."""
        out = []
        for u in self.requests:
            p = urlparse(u)
            if p.scheme in ("file", "data", "blob", "about", "chrome-extension"):
                continue
            if p.hostname not in allowed_hosts:
                out.append(u)
        return out


class Browser:
    """``with Browser() as b: report = b.visit(url)``; one tab, reused for every visit."""

    def __init__(self, binary: str | None = None, width: int = 1280, height: int = 900):
        self.binary = binary or chromium_binary()
        if self.binary is None:
            raise RuntimeError(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)})")
        self.size = (width, height)
        self._id = 0

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        self._profile = tempfile.TemporaryDirectory(
            prefix="ecc-chromium-", ignore_cleanup_errors=True
        )
        w, h = self.size
        self._proc = subprocess.Popen(
            [self.binary, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--remote-debugging-port=0",
             f"--user-data-dir={self._profile.name}", f"--window-size={w},{h}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            tabs = json.load(r)
        page = next(t for t in tabs if t.get("type") == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=20)
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        return self

    def _devtools_port(self, timeout: float = 30.0) -> int:
        t0 = time.monotonic()
        assert self._proc.stderr is not None
        while time.monotonic() - t0 < timeout:
            line = self._proc.stderr.readline()
            if "DevTools listening on ws://" in line:
                return urlparse(line.split("listening on ", 1)[1].strip()).port
            if not line and self._proc.poll() is not None:
                break
        raise RuntimeError(f"{self.binary} did not start its DevTools endpoint")

    def __exit__(self, *exc: object) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._profile.cleanup()

    # --- the protocol -------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None) -> int:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params or {}}))
        return self._id

    def _events(self, timeout: float):
        """Messages until `timeout` seconds pass without one."""
        while True:
            try:
                yield json.loads(self._ws.recv(timeout=timeout))
            except TimeoutError:
                return

    def call(self, method: str, params: dict | None = None, timeout: float = 60.0) -> dict:
        """Send a command and return its result; events that arrive meanwhile are recorded."""
        mid = self._send(method, params)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._record(msg)
        raise TimeoutError(f"{method}: no answer in {timeout} s")

    def _record(self, msg: dict) -> None:
        report = getattr(self, "_report", None)
        if report is None:
            return
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            report.requests.append(p["request"]["url"])
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            report.failed.append(p.get("errorText", ""))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            report.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                  for a in p.get("args", [])))  # fmt: skip
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            report.exceptions.append(d.get("exception", {}).get("description") or d.get("text", ""))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            report.console_errors.append(f"{p['entry'].get('source')}: {p['entry'].get('text')}")
        elif method == "Page.loadEventFired":
            report._loaded = True  # type: ignore[attr-defined]

    # --- what the tests use ---------------------------------------------------------------

    def visit(self, url: str, settle: float = 1.0, timeout: float = 60.0) -> PageReport:
        """Load `url`, wait for its load event and then until the network is quiet for
        `settle` seconds; return what the page requested and reported."""
        self._report = PageReport(url)
        self._report._loaded = False  # type: ignore[attr-defined]
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not self._report._loaded and time.monotonic() < deadline:  # type: ignore[attr-defined]
            for msg in self._events(timeout=0.5):
                self._record(msg)
                if self._report._loaded:  # type: ignore[attr-defined]
                    break
        for msg in self._events(timeout=settle):
            self._record(msg)
        return self._report

    def evaluate(self, expression: str, await_promise: bool = False, timeout: float = 60.0):
        """The value of a JavaScript expression in the current page."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": await_promise}, timeout)  # fmt: skip
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60.0, every: float = 0.5):
        """Poll a JavaScript expression until it is truthy; return its value (or the last)."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            for msg in self._events(timeout=every):
                self._record(msg)
        return value

    def screenshot(self, path: str | Path, full_page: bool = True) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            m = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": m["width"], "height": m["height"],
                                "scale": 1})  # fmt: skip
        data = self.call("Page.captureScreenshot", params)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
