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
from dataclasses import asdict

import numpy as np
import pandas as pd

from ecc_utils.config import GATES
from ecc_utils.evolve.state import LoopState
from ecc_utils.scoring.uncertainty import (
    bootstrap,
    difference_text,
    mean_interval,
    paired_test,
    verdict,
)

GAIN_METRIC = "probe gain (Eq. 1)"
# The same probe answers judged against the dialogues' human replies: training on teacher
# answers raises GAIN_METRIC by construction, not these.
HUMAN_GAIN_METRIC = "probe gain (Eq. 1 vs human reply)"
PERPLEXITY_METRIC = "probe perplexity change (human reply)"
LOOP_METRICS = (GAIN_METRIC, HUMAN_GAIN_METRIC, PERPLEXITY_METRIC)
CONTROL_NAMES = {"no-update": "no update", "random": "random escalation of as many queries"}
CONTROL_COLUMNS = ("claim", "metric", "better", "other", "higher_is_better", "verdict",
                   "difference", "low", "high", "n", "round")  # fmt: skip


def evolution_table(states: Mapping[str, LoopState]) -> pd.DataFrame:
    """The rows of `evolution.csv`, one per (arm, round), arms in the order given."""
    return pd.DataFrame([asdict(r) for s in states.values() for r in s.records])


def arm_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per arm (rows in the table's order), over the rounds after the start: cloud calls,
    escalated and processed queries, seconds of local training, and the probe's mean Eq. (1)
    score at the start and at the last round. `table` is `evolution_table`'s."""
    later = table[table["round"] > 0]
    totals = later.groupby("arm", sort=False).agg(
        cloud_calls=("cloud_calls", "sum"), escalated=("n_escalated", "sum"),
        queries=("n_queries", "sum"), train_time_s=("train_time_s", "sum"),
    )  # fmt: skip
    by_round = table.sort_values("round", kind="stable").groupby("arm")["probe_mean_score"]
    totals["probe score, start"] = table[table["round"] == 0].set_index("arm")["probe_mean_score"]
    totals["probe score, end"] = by_round.last()
    return totals


def escalated_shares(totals: pd.DataFrame) -> dict[str, float]:
    """Per arm of `arm_totals`: the share of its queries it escalated."""
    return (totals["escalated"] / totals["queries"]).to_dict()


def evolution_summary(
    totals: pd.DataFrame, rule: str, states: Mapping[str, LoopState], teacher: Mapping
) -> dict:
    """`evolution_summary.json`: the escalation rule, each gate's threshold, the teacher's
    calls and cost (`teacher.summary()`) and each arm's `arm_totals`."""
    return {"rule": rule, "thresholds": thresholds(states), "teacher": dict(teacher),
            "arms": totals.reset_index().to_dict("records")}  # fmt: skip


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
        first = np.array([d.gate_score for d in s.decisions if d.round == 1], dtype=float)
        row = {"gate": arm, "threshold": s.threshold}
        if first.size:
            row |= {"round-1 score, min": first.min(), "median": float(np.median(first)),
                    "max": first.max()}  # fmt: skip
        for k, ids in enumerate(s.escalated_ids, 1):
            n = sum(1 for d in s.decisions if d.round == k)
            row[f"escalated, round {k}"] = len(ids) / n if n else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("gate") if rows else pd.DataFrame()


def _gains(state: LoopState, k: int) -> np.ndarray:
    """Per probe query: final score at round `k` minus at round 0."""
    return np.asarray(state.probe_scores[k]) - np.asarray(state.probe_scores[0])


def _has_human(state: LoopState) -> bool:
    """Whether every round's probe was also scored against the human replies."""
    return bool(state.probes) and all(len(p.human) == len(p.teacher) > 0 for p in state.probes)


def _statistic(state: LoopState, k: int, metric: str):
    """idx -> the arm's change from round 0 to round `k` on `metric`, over probe queries idx
    (perplexity pooled over the queries' tokens, as on page 04)."""
    if metric == GAIN_METRIC:
        g = _gains(state, k)
        return lambda i: float(g[i].mean())
    if metric == HUMAN_GAIN_METRIC:
        h = np.asarray(state.probe_human_scores[k]) - np.asarray(state.probe_human_scores[0])
        return lambda i: float(h[i].mean())
    nll = [np.asarray(state.probe_human_nll[r], dtype=float) for r in (0, k)]
    tok = [np.asarray(state.probe_human_tokens[r], dtype=float) for r in (0, k)]

    def change(i):
        ppl = [np.exp(n[i].sum() / t[i].sum()) for n, t in zip(nll, tok, strict=True)]
        return float(ppl[1] - ppl[0])

    return change


def probe_gain(states: Mapping[str, LoopState], seed: int = 0) -> pd.DataFrame:
    """`evolution_gain.csv`: per arm and round, the probe's mean final score and its gain over
    round 0 (paired over the probe queries) with a 95 % interval and a verdict; where the arm
    scored the human replies too, the same for Eq. (1) against them (``human_*``) and the
    change of their perplexity (``ppl_*``, lower is better)."""
    rows = []
    for arm, s in states.items():
        n = len(s.probe_scores[0]) if s.probe_scores else 0
        for k, scores in enumerate(s.probe_scores):
            gain = mean_interval(_gains(s, k), seed=seed)
            row = {"arm": arm, "kind": "gate" if arm in GATES else "control", "round": k,
                   "probe_mean_score": float(np.mean(scores)), "difference": gain.estimate,
                   "low": gain.low, "high": gain.high, "n": gain.n,
                   "verdict": verdict(gain)}  # fmt: skip
            if _has_human(s):
                h = bootstrap(n, _statistic(s, k, HUMAN_GAIN_METRIC), seed=seed)
                p = bootstrap(n, _statistic(s, k, PERPLEXITY_METRIC), seed=seed)
                row |= {"human_difference": h.estimate, "human_low": h.low,
                        "human_high": h.high, "human_verdict": verdict(h),
                        "ppl_difference": p.estimate, "ppl_low": p.low, "ppl_high": p.high,
                        "ppl_verdict": verdict(p, higher_is_better=False)}  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)


def compare_controls(states: Mapping[str, LoopState], seed: int = 0) -> pd.DataFrame:
    """`evolution_controls.csv`: paired tests at the last round, "gate above control": every
    gate against no update, and the first gate (whose counts `random` matched) against random
    escalation; on the probe gain against the teacher's answers (`GAIN_METRIC`, first) and,
    where both arms scored them, against the human replies (Eq. (1) and perplexity).
    Columns of `Comparison.to_dict` plus the round."""
    gates = [a for a in states if a in GATES]
    pairs = [(g, "no-update") for g in gates if "no-update" in states]
    if gates and "random" in states:
        pairs.append((gates[0], "random"))
    rows = []
    for metric in LOOP_METRICS:
        for gate, control in pairs:
            a, b = states[gate], states[control]
            if metric != GAIN_METRIC and not (_has_human(a) and _has_human(b)):
                continue
            k = min(a.rounds_done, b.rounds_done)
            if len(a.probe_scores[0]) != len(b.probe_scores[0]):
                raise ValueError(f"{gate} and {control}: probe sets of different sizes")
            c = paired_test(
                _statistic(a, k, metric),
                _statistic(b, k, metric),
                len(a.probe_scores[0]),
                higher_is_better=metric != PERPLEXITY_METRIC,
                seed=seed,
                labels=(f"{gate} gate above {CONTROL_NAMES[control]}", metric, gate, control),
            )
            rows.append(c.to_dict() | {"round": k})
    return pd.DataFrame(rows, columns=list(CONTROL_COLUMNS))


def _row(
    controls: pd.DataFrame, gate: str, control: str, metric: str = GAIN_METRIC
) -> pd.Series | None:
    hit = controls[(controls["better"] == gate) & (controls["other"] == control)
                   & (controls["metric"] == metric)]  # fmt: skip
    return hit.iloc[0] if len(hit) else None


def controls_sentence(controls: pd.DataFrame) -> str:
    """Whether escalating the low-scoring queries (the first gate of `compare_controls`, the
    one `random` is matched to) beats the controls, in words built from its table."""
    if controls.empty:
        return "No control arm ran (evolve.controls is empty), so this run cannot tell."
    gate = controls["better"].iloc[0]  # the first gate: the one `random` is matched to
    nu, rnd = _row(controls, gate, "no-update"), _row(controls, gate, "random")
    parts = [f"that of {CONTROL_NAMES[c]} by {difference_text(r)} ({r['verdict']})"
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


def human_sentence(controls: pd.DataFrame) -> str:
    """What the same tests say against the dialogues' human replies (Eq. (1) with the human
    reply as reference, and the replies' perplexity), for the first gate; "" when not
    measured."""
    if controls.empty or HUMAN_GAIN_METRIC not in set(controls["metric"]):
        return ""
    gate = controls["better"].iloc[0]
    parts = []
    for control in ("no-update", "random"):
        h = _row(controls, gate, control, HUMAN_GAIN_METRIC)
        p = _row(controls, gate, control, PERPLEXITY_METRIC)
        if h is not None and p is not None:
            parts.append(
                f"over {CONTROL_NAMES[control]} its Eq. (1) gain is {difference_text(h)} "
                f"({h['verdict']}) and its change of perplexity {difference_text(p, 2)} ({p['verdict']})"
            )
    if not parts:
        return ""
    return (f"Judged against the human replies instead of the teacher's answers, "
            f"{'; '.join(parts)}.")  # fmt: skip


def study_loop_table(study: pd.DataFrame) -> pd.DataFrame:
    """The loop's rows of the robustness study's CSV (`ecc_utils.report.robustness`), one per
    (teacher, comparison, metric): each seed's verdict, the pooled difference over probe
    queries x seeds with its 95 % interval, and the status."""
    loop = study[study["section"] == "loop"]
    rows = []
    for (teacher, label, metric), g in loop.groupby(["teacher", "label", "metric"], sort=False):
        seeds = g[g["seed"].astype(str) != "pooled"]
        pooled = g[g["seed"].astype(str) == "pooled"].iloc[0]
        row = {"teacher": teacher, "comparison": label, "metric": metric}
        row |= {f"seed {s}": v for s, v in zip(seeds["seed"], seeds["verdict"], strict=True)}
        digits = 2 if metric == PERPLEXITY_METRIC else 3
        row |= {"pooled": difference_text(pooled, digits), "status": pooled["status"]}
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index(["teacher", "comparison", "metric"])


def teachers_sentence(study: pd.DataFrame, gate: str = "cloud") -> str:
    """Whether escalating `gate`'s low-scoring queries beats random escalation with each
    teacher of the study, judged against the human replies (pooled over seeds)."""
    loop = study[(study["section"] == "loop") & (study["seed"].astype(str) == "pooled")]
    hit = loop[(loop["key"] == f"{gate}>random") & (loop["metric"] == HUMAN_GAIN_METRIC)]
    if hit.empty:
        return "The robustness study has no run of the loop with the oracle teacher."
    n_seeds = study.loc[study["seed"].astype(str) != "pooled", "seed"].nunique()
    parts = [f"with the {r['teacher']} teacher {difference_text(r)} ({r['status']})"
             for _, r in hit.iterrows()]  # fmt: skip
    return (
        f"Over {n_seeds} seeds, the {gate} gate's gain over random escalation of as many "
        f"queries, on Eq. (1) against the human replies and pooled over probe queries x "
        f"seeds, is {' and '.join(parts)}."
    )
