"""The append-only cache in front of every backend: one self-describing JSON line per answer."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path


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

    def entries(self) -> list[dict]:
        """Every line's entry (the last line of a key wins)."""
        return list(self._entries.values())

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
