"""The paper's claims, decided by paired tests on the same inputs, and its validity claim.

Section IV-C claims that "under the same training iteration period, the LoRA method shows
better performance than Prefix-Tuning and P-Tuning v2", that LoRA keeps improving with more
steps (its 15000-step column is its best), and, through Table VI, that fine-tuning lifts the
end model above the original. Each claim is tested on several metrics (`CLAIM_METRICS`); each
test is a joint bootstrap of the difference over the same inputs (`uncertainty.paired_test`).
The paper also claims its automated score is "consistent with the manual review":
`agreement` measures how the Eq. (1) means rank the models against human-reference metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecc_utils.paper import METHOD_NAMES, ORIGINAL_LABEL, model_label
from ecc_utils.scoring.evaluation import METRICS, paired_statistic
from ecc_utils.scoring.uncertainty import bootstrap, paired_test, spearman

CLAIM_METRICS = (
    "final score (Eq. 1)",
    "perplexity, human reply",
    "selector R10@1 (mean log-prob)",
    "degenerate answers",
    "ROUGE-L vs human replies",
)


@dataclass(frozen=True)
class Claim:
    """ "`better` beats `other`" in the words of the paper (`text`)."""

    text: str
    better: str
    other: str


def paper_claims(milestones: Mapping[str, Sequence[int]], methods: Sequence[str]) -> list[Claim]:
    """The claims this run can test, with its model labels. "Equal steps" compares LoRA at its
    first milestone with each prefix method at the same step (else at its first milestone)."""
    out: list[Claim] = []
    if "lora" in methods:
        lora = milestones["lora"]
        for m in ("prefix", "ptuning_v2"):
            if m in methods:
                step = lora[0] if lora[0] in milestones[m] else milestones[m][0]
                out.append(Claim(f"LoRA above {METHOD_NAMES[m]} at equal steps",
                                 model_label("lora", lora[0]), model_label(m, step)))  # fmt: skip
        if len(lora) > 1:
            out.append(Claim("LoRA improves with more steps", model_label("lora", lora[-1]),
                             model_label("lora", lora[0])))  # fmt: skip
    for m in methods:
        out.append(Claim(f"{METHOD_NAMES[m]} above the original model",
                         model_label(m, milestones[m][0]), ORIGINAL_LABEL))  # fmt: skip
    return out


def decide_claims(
    claims: Sequence[Claim],
    tables: Mapping[str, pd.DataFrame],
    metrics: Sequence[str] = CLAIM_METRICS,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (claim, metric): the difference (claimed-better minus other, in the
    metric's units) with its 95 % interval and the verdict."""
    rows = []
    for c in claims:
        for name in metrics:
            metric = METRICS[name]
            sa, sb, n = paired_statistic(tables, metric, c.better, c.other)
            comp = paired_test(sa, sb, n, higher_is_better=metric.higher_is_better, seed=seed,
                               labels=(c.text, name, c.better, c.other))  # fmt: skip
            rows.append(comp.to_dict())
    return pd.DataFrame(rows)


def summary_sentence(results: pd.DataFrame) -> str:
    """One sentence per claim, built from the verdicts of its tests (never from point
    estimates): which metrics support it, which contradict it, how many are inconclusive."""
    parts = []
    for claim, g in results.groupby("claim", sort=False):
        sup = g.loc[g["verdict"] == "supported", "metric"].tolist()
        con = g.loc[g["verdict"] == "contradicted", "metric"].tolist()
        inc = int((g["verdict"] == "inconclusive").sum())
        words = []
        if sup:
            words.append("supported by " + ", ".join(sup))
        if con:
            words.append("contradicted by " + ", ".join(con))
        if inc:
            words.append(f"inconclusive on {inc} of {len(g)} metrics")
        parts.append(f"{claim}: {'; '.join(words)}.")
    return " ".join(parts)


def claim_status(results: pd.DataFrame, claim: str, metric: str = CLAIM_METRICS[0]) -> str:
    """The landing page's word for a claim, from its test on the paper's own measure:
    reproduced / not reproduced / inconclusive."""
    row = results[(results["claim"] == claim) & (results["metric"] == metric)]
    if row.empty:
        return "not tested in this run"
    v = row.iloc[0]["verdict"]
    return {"supported": "reproduced", "contradicted": "not reproduced"}.get(v, "inconclusive")


def agreement(
    tables: Mapping[str, pd.DataFrame], models: Sequence[str], seed: int = 0
) -> pd.DataFrame:
    """How the automated score agrees with human-reference metrics, with 95 % intervals.

    Across models: Spearman's correlation of the models' mean final scores with their mean
    ROUGE-L, mean BLEU-4 and (negated) perplexity of the human replies. Per answer: Spearman's
    correlation of the final score with ROUGE-L over every (model, input). Intervals resample
    the inputs (all models' rows of an input together)."""
    df = tables["input"]
    ids = list(dict.fromkeys(df["id"]))
    pos = {i: k for k, i in enumerate(ids)}
    cube = {col: np.full((len(models), len(ids)), np.nan) for col in
            ("final_score", "rouge_l", "bleu4", "nll_human", "tokens_human")}  # fmt: skip
    for m, model in enumerate(models):
        rows = df[df["model"] == model]
        for col, arr in cube.items():
            arr[m, [pos[i] for i in rows["id"]]] = rows[col].to_numpy(float)

    def across(other: str):
        def stat(idx):
            final = cube["final_score"][:, idx].mean(axis=1)
            if other == "perplexity":
                value = -(cube["nll_human"][:, idx].sum(1) / cube["tokens_human"][:, idx].sum(1))
            else:
                value = cube[other][:, idx].mean(axis=1)
            return spearman(final, value)

        return stat

    def per_answer(idx):
        return spearman(cube["final_score"][:, idx].ravel(), cube["rouge_l"][:, idx].ravel())

    rows = []
    for label, stat in (
        ("models ranked by Eq. (1) vs by ROUGE-L", across("rouge_l")),
        ("models ranked by Eq. (1) vs by BLEU-4", across("bleu4")),
        ("models ranked by Eq. (1) vs by perplexity (lower is better)", across("perplexity")),
        ("answers: final score vs ROUGE-L", per_answer),
    ):
        iv = bootstrap(len(ids), stat, seed=seed)
        rows.append({"comparison": label, **iv.to_dict()})
    return pd.DataFrame(rows)
