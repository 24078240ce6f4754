"""What each arm of the online loop cost in cloud calls, beside what it gained.

The cloud gate sends every query to the cloud (the paper scores each answer against the
cloud's), the match-only gate only the queries it escalates, random escalation as many as the
first gate escalated, no update none. `cost_table` counts them per arm and round from
`evolution.csv` (a call answered from the teacher cache still counts: a deployment would send
it); `cost_sentence` states the match-only gate's saving in calls.
"""

from __future__ import annotations

import pandas as pd

ARM_WORDS = {"cloud": "the cloud gate", "match-only": "the match-only gate",
             "random": "random escalation", "no-update": "no update"}  # fmt: skip


def cost_table(evolution: pd.DataFrame) -> pd.DataFrame:
    """Per arm (rows, in the table's order): cloud calls and escalations in each round, their
    totals, and the queries seen; from the rows of `evolution.csv` after round 0."""
    later = evolution[evolution["round"] > 0]
    arms = list(dict.fromkeys(later["arm"]))
    calls = later.pivot(index="arm", columns="round", values="cloud_calls").loc[arms]
    calls.columns = [f"calls, round {k}" for k in calls.columns]
    g = later.groupby("arm", sort=False)
    out = calls.assign(
        **{
            "cloud calls": g["cloud_calls"].sum(),
            "escalated": g["n_escalated"].sum(),
            "queries": g["n_queries"].sum(),
        }
    )
    out.index.name = "arm"
    return out.astype(int)


def cost_sentence(cost: pd.DataFrame) -> str:
    """The calls each arm sent to the cloud and, with both gates, the match-only gate's saving
    in calls (and as a share of the cloud gate's)."""
    if cost.empty:
        return "No arm of the loop ran."
    rounds = sum(c.startswith("calls, round") for c in cost.columns)
    parts = [
        f"{ARM_WORDS.get(arm, arm)} {int(r['cloud calls'])} ({int(r['escalated'])} escalated)"
        for arm, r in cost.iterrows()
    ]
    n = int(cost["queries"].iloc[0])
    text = f"Cloud calls over {rounds} rounds ({n} queries): {'; '.join(parts)}."
    if {"cloud", "match-only"} <= set(cost.index):
        c, m = int(cost.loc["cloud", "cloud calls"]), int(cost.loc["match-only", "cloud calls"])
        if c:
            text += (f" The match-only gate saved {c - m} of the cloud gate's {c} calls "
                     f"({(c - m) / c:.0%}).")  # fmt: skip
    return text
