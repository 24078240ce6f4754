"""What one arm of the online loop keeps between rounds and runs: per-round records, the
pseudo-label buffer, the probe answers and scores, the threshold, and the adapter's weights."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ecc_utils.records import Example, atomic_write_text


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


@dataclass(frozen=True)
class ProbeResult:
    """The probe at one round, per probe query: the answers, Eq. (1) against the teacher's
    answers (the cloud's references) and against the dialogues' human replies, and the human
    replies' summed negative log-likelihood and token counts."""

    answers: list[str]
    teacher: list[float]
    human: list[float]
    nll: list[float]
    tokens: list[int]

    def perplexity(self) -> float:
        """The human replies' perplexity, pooled over the probe's tokens."""
        return float(np.exp(np.sum(self.nll) / max(1, int(np.sum(self.tokens)))))

    @classmethod
    def concat(cls, parts: Sequence[ProbeResult]) -> ProbeResult:
        """The probe queries of `parts` side by side (the study pools seeds so)."""
        return cls(*([x for p in parts for x in getattr(p, f.name)] for f in fields(cls)))


@dataclass(frozen=True)
class QueryDecision:
    """What an arm decided for one query of the stream: its round, the end model's answer
    (where the policy answered), the gate score and whether it went to the cloud."""

    round: int
    id: str
    query: str
    answer: str | None
    gate_score: float | None
    escalated: bool


# The state file's keys for the probe results, one list per round each (round 0 first).
_PROBE_KEYS = {"answers": "probe_answers", "teacher": "probe_scores",
               "human": "probe_human_scores", "nll": "probe_human_nll",
               "tokens": "probe_human_tokens"}  # fmt: skip


@dataclass
class LoopState:
    """What survives between rounds (and between runs) of one arm, as objects: the
    pseudo-labels (`Example`), one `RoundRecord` and one `ProbeResult` per round (round 0
    first), the escalated ids per round and every query's `QueryDecision`. Saved as JSON by
    `save`, read back by `load`."""

    arm: str
    buffer: list[Example] = field(default_factory=list)  # the teacher's pseudo-labels
    records: list[RoundRecord] = field(default_factory=list)
    escalated_ids: list[list[str]] = field(default_factory=list)
    decisions: list[QueryDecision] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    threshold: float | None = None  # fixed at round 1 (a gate), kept on resume
    run_key: str = ""  # what the state was computed from; another key starts afresh

    @property
    def rounds_done(self) -> int:
        return len(self.escalated_ids)

    # per round, the probe's per-query values (views of `probes`)
    @property
    def probe_answers(self) -> list[list[str]]:
        return [p.answers for p in self.probes]

    @property
    def probe_scores(self) -> list[list[float]]:
        return [p.teacher for p in self.probes]

    @property
    def probe_human_scores(self) -> list[list[float]]:
        return [p.human for p in self.probes]

    @property
    def probe_human_nll(self) -> list[list[float]]:
        return [p.nll for p in self.probes]

    @property
    def probe_human_tokens(self) -> list[list[int]]:
        return [p.tokens for p in self.probes]

    def to_dict(self) -> dict:
        """The JSON layout of the state file."""
        out: dict[str, Any] = {"arm": self.arm, "buffer": [x.to_dict() for x in self.buffer],
                               "records": [asdict(r) for r in self.records],
                               "escalated_ids": self.escalated_ids,
                               "decisions": [asdict(d) for d in self.decisions]}  # fmt: skip
        out |= {key: [getattr(p, f) for p in self.probes] for f, key in _PROBE_KEYS.items()}
        return out | {"threshold": self.threshold, "run_key": self.run_key}

    @classmethod
    def from_dict(cls, raw: dict) -> LoopState:
        """The state of `to_dict`'s layout; a KeyError where a key is missing."""
        probes = [ProbeResult(*row) for row in zip(*(raw[k] for k in _PROBE_KEYS.values()),
                                                    strict=True)]  # fmt: skip
        return cls(raw["arm"], [Example.from_dict(x) for x in raw["buffer"]],
                   [RoundRecord(**r) for r in raw["records"]], raw["escalated_ids"],
                   [QueryDecision(**d) for d in raw["decisions"]], probes, raw["threshold"],
                   raw["run_key"])  # fmt: skip

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: Path, arm: str, run_key: str = "") -> LoopState:
        """The saved state, or a fresh one when there is none, it belongs to another run or
        it was written by an older version of this class."""
        if path.is_file():
            raw = json.loads(path.read_text(encoding="utf-8"))
            if set(raw) == set(cls(arm).to_dict()):
                state = cls.from_dict(raw)
                if state.run_key == run_key and state.arm == arm:
                    return state
        return cls(arm, run_key=run_key)

    def round_records(self) -> list[RoundRecord]:
        return list(self.records)


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
