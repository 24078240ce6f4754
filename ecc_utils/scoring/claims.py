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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecc_utils.paper import METHOD_NAMES, ORIGINAL_LABEL, model_label
from ecc_utils.scoring.evaluation import METRICS, paired_statistic
from ecc_utils.scoring.uncertainty import bootstrap, paired_test, spearman

if TYPE_CHECKING:
    from ecc_utils.config import TrainConfig

CLAIM_METRICS = (
    "final score (Eq. 1)",
    "perplexity, human reply",
    "selector R10@1 (mean log-prob)",
    "degenerate answers",
    "ROUGE-L vs human replies",
)


@dataclass(frozen=True)
class Run:
    """A trained model as a claim names it: its method, its step and its batch size."""

    method: str
    step: int
    batch: int

    @property
    def samples(self) -> int:
        return self.step * self.batch


@dataclass(frozen=True)
class Claim:
    """ "`better` beats `other`" in the words of the paper (`text`); `key` names it stably
    across profiles ("lora>prefix", "lora:more", "prefix>original"); `runs` are the two
    trained models it compares (`other`'s None for the original model), which `name_problems`
    checks against the text."""

    text: str
    better: str
    other: str
    key: str = ""
    runs: tuple[Run | None, Run | None] = (None, None)


_EQUAL_SAMPLES = re.compile(r"at equal training samples \((\d+)\)")
_EQUAL_STEPS = re.compile(r"at equal steps \((\d+)[;)]")
_MORE = re.compile(r"more training samples \((\d+) vs (\d+)\)")
_SAMPLES = re.compile(r"\((\d+) training samples\)")


def name_problems(claims: Sequence[Claim]) -> list[str]:
    """Where a claim's name says something its two models contradict: "at equal training
    samples (N)" for models with other sample counts, "at equal steps (S)" for other steps,
    "more training samples (A vs B)" for other counts, "(N training samples)" for another
    count of the claimed-better model, or a name that says neither steps nor samples."""
    out = []
    for c in claims:
        a, b = c.runs
        bad = None
        if a is None:
            bad = "names no trained model"
        elif m := _EQUAL_SAMPLES.search(c.text):
            n = int(m.group(1))
            if b is None or a.samples != n or b.samples != n:
                bad = f"says equal training samples ({n}) but compares {_runs(a, b)}"
        elif m := _EQUAL_STEPS.search(c.text):
            s = int(m.group(1))
            if b is None or a.step != s or b.step != s:
                bad = f"says equal steps ({s}) but compares {_runs(a, b)}"
        elif m := _MORE.search(c.text):
            hi, lo = int(m.group(1)), int(m.group(2))
            if b is None or (a.samples, b.samples) != (hi, lo) or hi <= lo:
                bad = f"says more training samples ({hi} vs {lo}) but compares {_runs(a, b)}"
        elif m := _SAMPLES.search(c.text):
            if a.samples != int(m.group(1)):
                bad = f"says {m.group(1)} training samples but compares {_runs(a, b)}"
        else:
            bad = "says neither steps nor training samples"
        if bad:
            out.append(f"claim {c.text!r} {bad}")
    return out


def _runs(a: Run, b: Run | None) -> str:
    def one(r: Run | None) -> str:
        if r is None:
            return "the original model"
        return f"{r.method} {r.step} steps x batch {r.batch} = {r.samples} samples"

    return f"{one(a)} with {one(b)}"


def paper_claims(
    milestones: Mapping[str, Sequence[int]],
    methods: Sequence[str],
    batch_sizes: Mapping[str, int] | None = None,
) -> list[Claim]:
    """The claims this run can test, with its model labels, each named by what it compares.

    The paper's "same training iteration period" compares LoRA at its first milestone with
    each prefix method at the milestone that saw as many training samples (steps x batch,
    `batch_sizes` per method, default 1): "at equal training samples (N)"; failing that, at
    the same step ("at equal steps (S)"), else at its first milestone, named with both counts.
    Raises ValueError when a name disagrees with its models (`name_problems`)."""
    batch = {m: int((batch_sizes or {}).get(m, 1)) for m in methods}
    out: list[Claim] = []

    def run(m: str, step: int) -> Run:
        return Run(m, int(step), batch[m])

    if "lora" in methods:
        lora = milestones["lora"]
        first = run("lora", lora[0])
        for m in ("prefix", "ptuning_v2"):
            if m not in methods:
                continue
            runs = [run(m, s) for s in milestones[m]]
            same_n = [r for r in runs if r.samples == first.samples]
            same_s = [r for r in runs if r.step == first.step]
            if same_n:
                other = same_n[0]
                text = f"LoRA above {METHOD_NAMES[m]} at equal training samples ({first.samples})"
            elif same_s:
                other = same_s[0]
                text = (f"LoRA above {METHOD_NAMES[m]} at equal steps ({first.step}; "
                        f"{first.samples} vs {other.samples} training samples)")  # fmt: skip
            else:
                other = runs[0]
                text = (f"LoRA ({first.samples} training samples) above {METHOD_NAMES[m]} "
                        f"({other.samples} training samples)")  # fmt: skip
            out.append(Claim(text, model_label("lora", first.step), model_label(m, other.step),
                             f"lora>{m}", (first, other)))  # fmt: skip
        if len(lora) > 1:
            last = run("lora", lora[-1])
            out.append(Claim(
                f"LoRA improves with more training samples ({last.samples} vs {first.samples})",
                model_label("lora", last.step), model_label("lora", first.step), "lora:more",
                (last, first)))  # fmt: skip
    for m in methods:
        r = run(m, milestones[m][0])
        out.append(Claim(f"{METHOD_NAMES[m]} ({r.samples} training samples) above the "
                         "original model", model_label(m, r.step), ORIGINAL_LABEL,
                         f"{m}>original", (r, None)))  # fmt: skip
    if problems := name_problems(out):
        raise ValueError("; ".join(problems))
    return out


def claims_of(train: TrainConfig) -> list[Claim]:
    """`paper_claims` for profile section `train` (its milestones, methods and per-method
    batch sizes)."""
    batches = {m: train.for_method(m).batch_size for m in train.methods}
    return paper_claims(train.milestones, train.methods, batches)


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
            rows.append(comp.to_dict() | {"key": c.key})
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
