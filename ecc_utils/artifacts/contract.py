"""The typed records of the artifact contract that are read and written outside `Artifacts`
too: a method's training log (``runs/<method>/train_log.json``) and the rows of the teacher's
``labels.jsonl``. `ecc_utils.artifacts` re-exports every name."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ecc_utils.records import LabelRecord, atomic_write_text, iter_jsonl

TRAIN_LOG = "train_log.json"


@dataclass(frozen=True)
class TrainLog:
    """``runs/<method>/train_log.json``: what one training run did and how fast."""

    method: str
    label: str
    milestones: list[int]
    max_steps: int
    learning_rate: float
    batch_size: int
    seed: int
    trainable_params: int
    total_params: int
    n_pairs: int
    n_teacher_pairs: int
    steps_per_s: float
    tokens_per_s: float
    runtime_s: float
    resumed_from: int | None
    checkpoints: dict[str, str]  # str(step) -> checkpoint folder name
    # One row per logging step: step, loss, learning_rate, tokens_seen, tokens_per_s.
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "train log") -> TrainLog:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d and n != "history"]
        if missing:
            raise ValueError(f"{where}: not a training log (lacks {', '.join(missing)})")
        return cls(**{n: d[n] for n in names if n in d})


def label_row(r: LabelRecord, split: str) -> dict:
    return {
        "id": r.id,
        "split": split,
        "query": r.query,
        "answer": r.answer,
        "backend": r.backend,
        "model": r.model,
        "usage": {
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cached_tokens": r.cached_tokens,
        },
        "cached": r.cached_tokens > 0,
        "latency_s": r.latency_s,
    }


def label_from_row(row: dict, where: str) -> LabelRecord:
    missing = [k for k in ("id", "query", "answer") if k not in row]
    if missing:
        raise ValueError(f"{where}: teacher label lacks {', '.join(missing)}")
    usage = row.get("usage") or {}
    return LabelRecord(
        query=row["query"],
        answer=row["answer"] or "",
        backend=row.get("backend", ""),
        model=row.get("model", ""),
        input_tokens=int(usage.get("input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        cached_tokens=int(usage.get("cached_tokens", 0)),
        latency_s=float(row.get("latency_s", 0.0)),
        id=str(row["id"]),
        split=row.get("split"),
    )


def read_label_file(path: str | os.PathLike) -> list[LabelRecord]:
    """Every row of a ``labels.jsonl``; a row without id, query or answer is an error (file:line)."""
    return [label_from_row(row, f"{path}:{i}") for i, row in enumerate(iter_jsonl(path), 1)]


def read_train_log(out_dir: str | os.PathLike) -> TrainLog:
    """The `TrainLog` of a run folder (``<out_dir>/train_log.json``)."""
    path = Path(out_dir) / TRAIN_LOG
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: train this method first (notebook 03)")
    return TrainLog.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))


def write_train_log(out_dir: str | os.PathLike, log: TrainLog) -> Path:
    path = Path(out_dir) / TRAIN_LOG
    atomic_write_text(path, json.dumps(log.to_dict(), indent=1) + "\n")
    return path
