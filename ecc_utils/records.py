"""Typed records shared by every stage, and their JSONL form (the artifact contract).

A dialogue example is a context (earlier turns), the customer's query (the last customer
utterance) and the agent's response. Every `data/*.jsonl` file of the artifact contract
holds one `Example` per line.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Speaker = Literal["customer", "agent"]
SPEAKERS: tuple[str, ...] = ("customer", "agent")


@dataclass(frozen=True)
class Turn:
    """One utterance (several merged messages of one speaker count as one turn)."""

    speaker: Speaker
    text: str


@dataclass
class Example:
    """A (context, query, response) record.

    `context` holds the turns before `query`; `response` is the human agent's reply.
    `references` are further human replies where a corpus has them (JDDC dev: three);
    `label` is the paper's English row label for the six Table VI inputs, else None.
    """

    id: str
    source: str
    context: list[Turn]
    query: str
    response: str
    references: list[str] = field(default_factory=list)
    label: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Example:
        d = dict(d)
        d["context"] = [Turn(**t) for t in d.get("context", [])]
        return cls(**d)


@dataclass
class LabelRecord:
    """One labelled query: the query as sent (masked), the teacher's answer and its cost.

    Token counts and latency are those of the call that produced the answer; ``cache_hit``
    says whether this run took it from the cache instead of calling the backend. ``split``
    is the pool the query came from ("teacher_queries", "eval") once written to
    ``teacher/labels.jsonl``.
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
    split: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` so that a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict | Example]) -> int:
    """Atomically write rows (dicts or Examples) as UTF-8 JSON lines; returns the count."""
    lines = []
    for r in rows:
        d = r.to_dict() if isinstance(r, Example) else r
        lines.append(json.dumps(d, ensure_ascii=False, sort_keys=True))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file; a bad line is a ValueError naming file:line."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from None


def read_examples(path: str | os.PathLike) -> list[Example]:
    return [Example.from_dict(d) for d in iter_jsonl(path)]
