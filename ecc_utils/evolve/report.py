"""What the online loop's page reports, computed from the arms' states: the per-round table,
each round's probe gain with its interval, the paired tests against the controls, and the
sentence that says what they show.

The probe gain of an arm at round k is the mean over the probe queries of (final score at round
k minus final score at round 0), with a seeded 95 % bootstrap interval over the probe queries.
At round 0 every arm answers with the same adapter and seed, so the gains of two arms at a
round are paired on the same queries and seeds; the test "gate above control" bootstraps the
difference of their gains at the last round (`scoring.uncertainty.paired_test`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ecc_utils.config import GATES
from ecc_utils.evolve.state import LoopState
from ecc_utils.scoring.uncertainty import mean_interval, paired_test, verdict

GAIN_METRIC = "probe gain (Eq. 1)"
CONTROL_NAMES = {"no-update": "no update", "random": "random escalation of as many queries"}
CONTROL_COLUMNS = ("claim", "metric", "better", "other", "higher_is_better", "verdict",
                   "difference", "low", "high", "n", "round")  # fmt: skip


def evolution_table(states: Mapping[str, LoopState]) -> pd.DataFrame:
    """The rows of `evolution.csv`, one per (arm, round), arms in the order given."""
    return pd.DataFrame([r for s in states.values() for r in s.records])


def thresholds(states: Mapping[str, LoopState]) -> dict[str, float | None]:
    """The escalation threshold each gate used (fixed at its first round)."""
    return {arm: s.threshold for arm, s in states.items() if arm in GATES}


def escalation_table(states: Mapping[str, LoopState]) -> pd.DataFrame:
    """Per gate: its threshold, the spread of its first-round gate scores (so the page shows
    why a gate escalates nothing, when it does) and the fraction escalated in each round."""
    rows = []
    for arm, s in states.items():
        if arm not in GATES:
            continue
        first = np.array([d["gate_score"] for d in s.decisions if d["round"] == 1], dtype=float)
        row = {"gate": arm, "threshold": s.threshold}
        if first.size:
            row |= {"round-1 score, min": first.min(), "median": float(np.median(first)),
                    "max": first.max()}  # fmt: skip
        for k, ids in enumerate(s.escalated_ids, 1):
            n = sum(1 for d in s.decisions if d["round"] == k)
            row[f"escalated, round {k}"] = len(ids) / n if n else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("gate") if rows else pd.DataFrame()


def _gains(state: LoopState, k: int) -> np.ndarray:
    """Per probe query: final score at round `k` minus at round 0."""
    return np.asarray(state.probe_scores[k]) - np.asarray(state.probe_scores[0])


def probe_gain(states: Mapping[str, LoopState], seed: int = 0) -> pd.DataFrame:
    """`evolution_gain.csv`: per arm and round, the probe's mean final score and its gain over
    round 0 (paired over the probe queries) with a 95 % interval and a verdict."""
    rows = []
    for arm, s in states.items():
        for k, scores in enumerate(s.probe_scores):
            gain = mean_interval(_gains(s, k), seed=seed)
            rows.append({"arm": arm, "kind": "gate" if arm in GATES else "control", "round": k,
                         "probe_mean_score": float(np.mean(scores)), "difference": gain.estimate,
                         "low": gain.low, "high": gain.high, "n": gain.n,
                         "verdict": verdict(gain)})  # fmt: skip
    return pd.DataFrame(rows)


def compare_controls(states: Mapping[str, LoopState], seed: int = 0) -> pd.DataFrame:
    """`evolution_controls.csv`: paired tests at the last round, "gate above control": every
    gate against no update, and the first gate (whose counts `random` matched) against random
    escalation. Columns of `Comparison.to_dict` plus the round."""
    gates = [a for a in states if a in GATES]
    pairs = [(g, "no-update") for g in gates if "no-update" in states]
    if gates and "random" in states:
        pairs.append((gates[0], "random"))
    rows = []
    for gate, control in pairs:
        a, b = states[gate], states[control]
        k = min(a.rounds_done, b.rounds_done)
        if len(a.probe_scores[0]) != len(b.probe_scores[0]):
            raise ValueError(f"{gate} and {control}: probe sets of different sizes")
        ga, gb = _gains(a, k), _gains(b, k)
        c = paired_test(
            lambda i, g=ga: float(g[i].mean()),
            lambda i, g=gb: float(g[i].mean()),
            len(ga),
            seed=seed,
            labels=(f"{gate} gate above {CONTROL_NAMES[control]}", GAIN_METRIC, gate, control),
        )
        rows.append(c.to_dict() | {"round": k})
    return pd.DataFrame(rows, columns=list(CONTROL_COLUMNS))


def _row(controls: pd.DataFrame, gate: str, control: str) -> pd.Series | None:
    hit = controls[(controls["better"] == gate) & (controls["other"] == control)]
    return hit.iloc[0] if len(hit) else None


def _diff(r: pd.Series) -> str:
    return f"{r['difference']:+.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def controls_sentence(controls: pd.DataFrame) -> str:
    """Whether escalating the low-scoring queries (the first gate of `compare_controls`, the
    one `random` is matched to) beats the controls, in words built from its table."""
    if controls.empty:
        return "No control arm ran (evolve.controls is empty), so this run cannot tell."
    gate = controls["better"].iloc[0]  # the first gate: the one `random` is matched to
    nu, rnd = _row(controls, gate, "no-update"), _row(controls, gate, "random")
    parts = [f"that of {CONTROL_NAMES[c]} by {_diff(r)} ({r['verdict']})"
             for c, r in (("no-update", nu), ("random", rnd)) if r is not None]  # fmt: skip
    first = nu if nu is not None else rnd
    head = (
        f"After round {int(first['round'])}, the {gate} gate's probe gain differs from "
        f"{' and '.join(parts)}, paired over {int(first['n'])} probe queries with 95 % "
        "intervals."
    )
    v_nu = nu["verdict"] if nu is not None else None
    v_rnd = rnd["verdict"] if rnd is not None else None
    if v_rnd == "supported" and v_nu == "supported":
        tail = "So escalating the low-scoring queries is what helps in this run."
    elif v_rnd == "supported":
        tail = (
            "Escalating the low-scoring queries beats choosing as many at random, but the "
            "gain over no update is not established."
        )
    elif v_nu == "supported":
        tail = (
            "So updating on cloud answers helps, but this run cannot tell whether choosing "
            "the low-scoring queries is what helps"
            + (": random choice did better." if v_rnd == "contradicted" else ".")
        )
    elif "contradicted" in (v_nu, v_rnd):
        tail = "So in this run the gate's updates did worse than a control on the probe set."
    else:
        tail = (
            "So the evidence is inconclusive: this run cannot tell whether escalating the "
            "low-scoring queries helps."
        )
    return f"{head} {tail}"
