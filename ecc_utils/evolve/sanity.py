"""What the loop page checks before its verdicts mean anything: whether an update on perfect
labels (the oracle teacher's arms) helped, did nothing or hurt; every updating arm's probe
perplexity round by round; and what the paired tests could detect at all (their minimum
detectable effect at 80 % power, and the probe size an effect the controls leave plausible
would need)."""

from __future__ import annotations

from collections.abc import Mapping
from statistics import NormalDist

import numpy as np
import pandas as pd

from ecc_utils.evolve.report import HUMAN_GAIN_METRIC, PERPLEXITY_METRIC, _row
from ecc_utils.evolve.state import LoopState
from ecc_utils.scoring.uncertainty import LEVEL, difference_text

POWER = 0.8
# How much a power of 80 % asks beyond significance, in standard errors (2.80 at 95 %).
_Z = NormalDist().inv_cdf(0.5 + LEVEL / 2) + NormalDist().inv_cdf(POWER)


def perplexity_table(states: Mapping[str, LoopState]) -> pd.DataFrame:
    """The probe's human-reply perplexity of each arm (rows, by the names given) at each round
    (columns), and the worst round's ratio to round 0."""
    rows = {}
    for name, s in states.items():
        ppl = [r.probe_human_perplexity for r in s.records]
        rows[name] = {f"round {r.round}": p for r, p in zip(s.records, ppl, strict=True)}
        rows[name]["worst / start"] = max(ppl) / ppl[0] if ppl else float("nan")
    return pd.DataFrame.from_dict(rows, orient="index")


def oracle_sentence(controls: pd.DataFrame) -> str:
    """Whether updating on perfect labels helped, did nothing or hurt, from the oracle arms'
    tests against no update (`report.compare_controls` of the oracle's first gate): judged on
    the human replies' perplexity and Eq. (1) against them."""
    if controls.empty:
        return "The oracle arms did not run (evolve.oracle_arms is off), so this run cannot say."
    gate = controls["better"].iloc[0]
    p = _row(controls, gate, "no-update", PERPLEXITY_METRIC)
    h = _row(controls, gate, "no-update", HUMAN_GAIN_METRIC)
    if p is None or h is None:
        return "The oracle arms have no test against no update, so this run cannot say."
    verdicts = {p["verdict"], h["verdict"]}
    if "contradicted" in verdicts:
        word = "hurt"
    elif "supported" in verdicts:
        word = "helped"
    else:
        word = "made no difference this run can detect"
    return (
        f"Updating on perfect labels (the human reply as the cloud's answer) {word}: after "
        f"round {int(p['round'])} the {gate} gate with the oracle teacher changed the probe's "
        f"human-reply perplexity by {difference_text(p, 2)} ({p['verdict']}) and Eq. (1) "
        f"against the human replies by {difference_text(h)} ({h['verdict']}) relative to no "
        f"update, paired over {int(p['n'])} probe queries."
    )


def detectable(controls: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per teacher (the keys) and comparison of a gate against no update: the minimum
    detectable effect at 80 % power of its paired test over the probe, from the test's own
    standard error (its 95 % interval's width / 3.92: mostly the no-update control's sampling
    spread over probe queries for Eq. (1); the updating arm's for the perplexity, which no
    update leaves unchanged), the largest effect on the claimed side that the interval leaves
    plausible, and the probe size an effect of that size would need at the same spread."""
    rows = []
    for teacher, table in controls.items():
        for _, r in table[table["other"] == "no-update"].iterrows():
            se = (r["high"] - r["low"]) / (2 * NormalDist().inv_cdf(0.5 + LEVEL / 2))
            mde = _Z * se
            plausible = r["high"] if r["higher_is_better"] else -r["low"]
            need = int(np.ceil(r["n"] * (mde / plausible) ** 2)) if plausible > 0 else None
            rows.append({"teacher": teacher, "comparison": r["claim"], "metric": r["metric"],
                         "n probe": int(r["n"]), "difference": r["difference"],
                         "minimum detectable effect": mde,
                         "largest plausible effect": plausible,
                         "probe queries needed": need})  # fmt: skip
    return pd.DataFrame(rows)


def detectable_sentence(table: pd.DataFrame, available: int, answers_per_query: int) -> str:
    """What the probe can detect on the human replies' perplexity, and the probe size that the
    largest improvement the interval leaves plausible would need; `available`: the held-out
    inputs the probe can be drawn from, `answers_per_query`: how often the loop answers and
    scores each probe query (arms x rounds)."""
    rows = table[table["metric"] == PERPLEXITY_METRIC]
    if rows.empty:
        return ""
    r = rows.iloc[0]
    head = (
        f"Over {r['n probe']} probe queries the paired test of the {r['teacher']} teacher's "
        f"first gate against no update detects, at 80 % power, a change of the human-reply "
        f"perplexity of {r['minimum detectable effect']:.2f}."
    )
    if pd.isna(r["probe queries needed"]):  # None, or NaN in a column that also holds counts
        return head + " Its interval leaves no improvement plausible: no probe size would help."
    need = int(r["probe queries needed"])
    plausible = f"{r['largest plausible effect']:.2f}"
    if need <= r["n probe"]:
        return (
            head
            + f" That covers the largest improvement its interval leaves plausible ({plausible})."
        )
    return head + (
        f" The largest improvement its interval leaves plausible, {plausible}, would need about "
        f"{need} probe queries: the evaluation set holds {available} held-out inputs for the "
        f"probe and the stream together, and the loop answers and scores each probe query "
        f"{answers_per_query} times (arms x rounds), so {need} would cost "
        f"{need * answers_per_query} answers where this probe costs "
        f"{int(r['n probe']) * answers_per_query}, beyond the loop page's share of the book's "
        "time; an effect of that size stays undetected here."
    )
