"""What one arm of the online loop keeps between rounds and runs: per-round records, the
pseudo-label buffer, the probe answers and scores, the threshold, and the adapter's weights."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ecc_utils.records import atomic_write_text


class EvolveError(RuntimeError):
    """The loop stopped; the message says where and what was kept."""


@dataclass
class RoundRecord:
    """One row of `evolution.csv`: one round of one arm (a gate or a control)."""

    arm: str
    round: int
    n_queries: int
    n_escalated: int
    escalated_fraction: float
    cloud_calls: int
    cloud_input_tokens: int
    cloud_output_tokens: int
    buffer_size: int
    train_time_s: float
    probe_mean_score: float  # Eq. (1) against the teacher's answers (the cloud's references)
    probe_mean_sim: float
    probe_human_score: float  # Eq. (1) with the dialogue's human reply in the cloud's place
    probe_human_perplexity: float  # of the human replies, pooled over the probe queries
    threshold: float | None = None  # the gate's escalation threshold (None: no gate score)
    update_steps: int = 0  # the local update's optimizer steps this round

    @classmethod
    def start(cls, arm: str, **probe: float) -> RoundRecord:
        """Round 0: the starting adapter's probe, before any escalation or update."""
        return cls(arm=arm, round=0, n_queries=0, n_escalated=0, escalated_fraction=0.0,
                   cloud_calls=0, cloud_input_tokens=0, cloud_output_tokens=0, buffer_size=0,
                   train_time_s=0.0, **probe)  # fmt: skip


@dataclass
class LoopState:
    """What survives between rounds (and between runs) of one arm."""

    arm: str
    buffer: list[dict] = field(default_factory=list)  # Example dicts (teacher pseudo-labels)
    records: list[dict] = field(default_factory=list)
    escalated_ids: list[list[str]] = field(default_factory=list)
    decisions: list[dict] = field(default_factory=list)  # per query: round, id, gate score
    probe_answers: list[list[str]] = field(default_factory=list)  # per round, incl. round 0
    probe_scores: list[list[float]] = field(default_factory=list)  # final score per probe query
    # The same answers scored against the human replies, and those replies' likelihood:
    probe_human_scores: list[list[float]] = field(default_factory=list)
    probe_human_nll: list[list[float]] = field(default_factory=list)  # summed, per query
    probe_human_tokens: list[list[int]] = field(default_factory=list)
    threshold: float | None = None  # fixed at round 1 (a gate), kept on resume
    run_key: str = ""  # what the state was computed from; another key starts afresh

    @property
    def rounds_done(self) -> int:
        return len(self.escalated_ids)

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self), ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: Path, arm: str, run_key: str = "") -> LoopState:
        """The saved state, or a fresh one when there is none, it belongs to another run or
        it was written by an older version of this class."""
        if path.is_file():
            raw = json.loads(path.read_text(encoding="utf-8"))
            if set(raw) == {f.name for f in fields(cls)}:
                state = cls(**raw)
                if state.run_key == run_key and state.arm == arm:
                    return state
        return cls(arm, run_key=run_key)

    def round_records(self) -> list[RoundRecord]:
        return [RoundRecord(**d) for d in self.records]


def save_adapter_weights(model: Any, path: Path) -> None:
    """Write the PEFT adapter of `model` to `path`, replacing it only once it is complete."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def load_adapter_weights(model: Any, path: Path) -> None:
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    set_peft_model_state_dict(model, load_peft_weights(str(path)))


def run_key(*parts: Any, files: Sequence[Path] = ()) -> str:
    """A short hash of settings and file contents, for `run_gate(run_key=...)`."""
    import hashlib

    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for f in sorted(Path(x) for x in files):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
