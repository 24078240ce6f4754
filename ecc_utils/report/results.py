"""The book's landing page: each claim of the paper beside this run's value, its interval and
its status, read from the artifacts that the pages wrote (nothing here is typed in).

Statuses: "reproduced" (the paired test supports the claim on the paper's own measure, Eq. (1)),
"not reproduced" (it contradicts it), "inconclusive" (the interval straddles zero) and "not
reproducible offline" (the claim needs a model this profile does not run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ecc_utils import paper
from ecc_utils.artifacts import Artifacts
from ecc_utils.cloud.factory import DEFAULT_MODELS
from ecc_utils.evolve.report import GAIN_METRIC, HUMAN_GAIN_METRIC, PERPLEXITY_METRIC
from ecc_utils.scoring.claims import CLAIM_METRICS, claim_status, claims_of
from ecc_utils.scoring.uncertainty import difference_text, interval_text

if TYPE_CHECKING:
    from ecc_utils.config import Profile
    from ecc_utils.report.results_study import Evidence

STATUS = {"supported": "reproduced", "contradicted": "not reproduced"}
# The loop's measures in the study: the probe gain (the paper's Eq. (1) against the cloud's
# answers), and against the human replies (Eq. (1), perplexity) for the oracle teacher.
LOOP_HUMAN_METRICS = {HUMAN_GAIN_METRIC: "Eq. (1) vs the human replies",
                      PERPLEXITY_METRIC: "human-reply perplexity"}  # fmt: skip
SHORT = {
    "perplexity, human reply": "perplexity",
    "selector R10@1 (mean log-prob)": "selector",
    "degenerate answers": "degenerate share",
    "ROUGE-L vs human replies": "ROUGE-L",
}


def _paper_means() -> pd.Series:
    return paper.published_table6(with_mean=True).loc[paper.MEAN_LABEL]


def _paper_evidence(better: str, other: str, ours: list[str]) -> str:
    """The paper's Table VI means of the two models this claim compares (by position)."""
    pub = _paper_means()
    pairs = paper.paired_columns(ours, list(pub.index))
    if better in pairs and other in pairs:
        return (
            f"Table VI means: {pairs[better]} {pub[pairs[better]]:.3f}, "
            f"{pairs[other]} {pub[pairs[other]]:.3f}"
        )
    return "Table VI"


def _other_metrics(claims: pd.DataFrame, claim: str) -> str:
    rows = claims[(claims["claim"] == claim) & (claims["metric"] != CLAIM_METRICS[0])]
    return "; ".join(f"{SHORT.get(r.metric, r.metric)}: {r.verdict}" for r in rows.itertuples())


def _interval_status(low: float, high: float) -> str:
    return "reproduced" if low > 0 else "not reproduced" if high < 0 else "inconclusive"


def _across(evidence: Evidence | None, key: str | None, teacher: str = "") -> str:
    """A claim's status across the study's seeds, or why there is none."""
    if evidence is None or not evidence.current:
        return "single-run (no study for this code)"
    got = evidence.status(key, teacher=teacher) if key else None
    return got or "not in the study"


def _loop_evidence(art: Artifacts) -> tuple[str, str, str | None] | None:
    """(value, verdict, study key) for the online loop: the first gate's probe gain over the
    no-update control at the last round (it cancels sampling noise), with the oracle teacher's
    test on the human replies beside it where the oracle arms ran, else its gain over round 0
    (no study key)."""
    if art.evolution_controls.is_file():
        c = art.read("evolution_controls")
        if len(c):
            c = c[(c["other"] == "no-update") & (c["metric"] == c["metric"].iloc[0])]
        if len(c):
            r = c.iloc[0]
            text = f"probe gain over no update after round {r['round']}, {r['better']} gate"
            return (f"{text}: {difference_text(r)}" + _oracle_evidence(art), r["verdict"],
                    f"{r['better']}>no-update")  # fmt: skip
    if art.evolution_gain.is_file():
        gain = art.read("evolution_gain")
        gates = gain[gain["kind"] == "gate"]
        if len(gates):
            r = gates[gates["arm"] == gates["arm"].iloc[0]].iloc[-1]
            text = f"probe gain over round 0, {r['arm']} gate: {difference_text(r)}"
            return text, r["verdict"], None
    return None


def _oracle_evidence(art: Artifacts) -> str:
    """ "; with the oracle teacher, ..." for the loop's row: the oracle's first gate against no
    update on the human replies' perplexity ("" where the oracle arms did not run)."""
    if not art.evolution_oracle_controls.is_file():
        return ""
    c = art.read("evolution_oracle_controls")
    c = c[(c["other"] == "no-update") & (c["metric"] == PERPLEXITY_METRIC)]
    if c.empty:
        return ""
    r = c.iloc[0]
    return (f"; with the oracle teacher (perfect labels), human-reply perplexity change "
            f"{difference_text(r, 2)} ({r['verdict']})")  # fmt: skip


def _loop_across(evidence: Evidence | None, key: str | None, teacher: str) -> str:
    """The loop's status across the study's seeds: the profile's teacher on the page's measure
    (the probe gain in Eq. (1)), the oracle on the human replies (Eq. (1), perplexity)."""
    if evidence is None or not evidence.current:
        return "single-run (no study for this code)"
    if key is None:
        return "not in the study"
    parts = [
        f"{teacher} teacher: {evidence.status(key, GAIN_METRIC, teacher) or 'not in the study'}"
    ]
    oracle = [f"{name}: {got}" for m, name in LOOP_HUMAN_METRICS.items()
              if (got := evidence.status(key, m, "oracle"))]  # fmt: skip
    parts.append("oracle teacher: " + ("; ".join(oracle) if oracle else "not in the study"))
    return " | ".join(parts)


def glance(art: Artifacts, cfg: Profile, evidence: Evidence | None = None) -> pd.DataFrame:
    """One row per claim: the claim, the paper's evidence, this run's value with its 95 %
    interval, its status in this run, its status across the robustness study's seeds
    (`evidence`; "single-run" when no study ran for this code), and (for the model
    comparisons) the verdicts of the other metrics."""
    claims = art.read("claims")
    labels = paper.model_labels(cfg.train.milestones, cfg.train.methods)
    rows = []
    for c in claims_of(cfg.train):
        if c.key in ("prefix>original", "ptuning_v2>original"):
            continue  # the paper's Table VI does not show these; they stay on the scoring page
        r = claims[(claims["claim"] == c.text) & (claims["metric"] == CLAIM_METRICS[0])].iloc[0]
        rows.append({
            "claim": f"{c.text} ({c.better} vs {c.other})",
            "paper": _paper_evidence(c.better, c.other, labels),
            "this run": f"Eq. (1) difference {difference_text(r)}",
            "status": claim_status(claims, c.text),
            "across seeds": _across(evidence, c.key),
            "other metrics": _other_metrics(claims, c.text),
        })  # fmt: skip
    agree = art.read("agreement").iloc[0]
    rows.append({
        "claim": "The automated evaluation agrees with the manual review",
        "paper": "stated in Section IV-C (from Table V)",
        "this run": f"Spearman, models by Eq. (1) vs by ROUGE-L: {interval_text(agree, 2)}",
        "status": _interval_status(agree["low"], agree["high"]),
        "across seeds": "not in the study",
        "other metrics": "",
    })  # fmt: skip
    loop = _loop_evidence(art)
    if loop is not None:
        rows.append({
            "claim": "Online evolutive learning improves the end model",
            "paper": "described in Section III, no experiment reported",
            "this run": loop[0],
            "status": STATUS.get(loop[1], "inconclusive"),
            "across seeds": _loop_across(evidence, loop[2], cfg.teacher.backend),
            "other metrics": "",
        })  # fmt: skip
    t = cfg.teacher
    rows.append({
        "claim": "The cloud model labels queries in e-commerce style (Table III)",
        "paper": "Gemini 1.5 Pro with a 500-shot prompt",
        "this run": f"teacher: {t.backend} ({t.model or DEFAULT_MODELS.get(t.backend, '')})",
        "status": "not reproducible offline" if t.backend == "knn" else "see the cloud-labels page",
        "across seeds": "",
        "other metrics": "",
    })  # fmt: skip
    return pd.DataFrame(rows)


def _json(path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def table6_means(art: Artifacts) -> pd.DataFrame:
    """Table VI's mean row, ours beside the paper's model at the same position."""
    ours = art.read("table6").loc[paper.MEAN_LABEL]
    pub = _paper_means()
    pairs = paper.paired_columns(list(ours.index), list(pub.index))
    return pd.DataFrame(
        {
            "ours (6 inputs)": ours,
            "paper model": [pairs.get(c, "") for c in ours.index],
            "paper": [pub.get(pairs.get(c), float("nan")) for c in ours.index],
        }
    )


def scorer_summary(art: Artifacts, cfg: Profile) -> pd.DataFrame:
    """The profile's two scorers beside chance and the length-only baseline."""
    v = art.read("validity")
    chosen = {"embedder": cfg.scoring.embedder, "matcher": cfg.scoring.matcher}
    keep = [
        (v["role"] == "baseline") | ((v["role"] == role) & (v.index == name))
        for role, name in chosen.items()
    ]
    rows = v[keep[0] | keep[1]]
    cols = [c for c in v.columns if c.endswith("@1")] + [
        "ECD win rate",
        "separation",
        "low",
        "high",
    ]
    return rows[["role", *cols]]


def key_numbers(art: Artifacts, cfg: Profile) -> dict[str, str]:
    """The numbers the landing page's prose quotes, as text with their intervals."""
    metrics = art.read("metrics")
    summary = _json(art.score_summary)
    first = paper.ORIGINAL_LABEL
    method, step = cfg.loop_start()
    last = paper.model_label(method, step)

    def value(model: str, metric: str, digits: int = 3) -> str:
        row = metrics[(metrics["model"] == model) & (metrics["metric"] == metric)].iloc[0]
        return interval_text(row, digits)

    n = metrics[metrics["metric"] == "final score (Eq. 1)"]["n"].iloc[0]
    groups = metrics[metrics["metric"].str.startswith("selector")]["n"].iloc[0]
    return {
        "n_eval": str(int(n)),
        "n_groups": str(int(groups)),
        "profile": cfg.name,
        "last_model": last,
        "claims": summary.get("claims", ""),
        "ppl_original": value(first, "perplexity, human reply", 1),
        "ppl_last": value(last, "perplexity, human reply", 1),
        "degenerate_last": value(last, "degenerate answers", 2),
        "final_original": value(first, "final score (Eq. 1)"),
        "final_last": value(last, "final score (Eq. 1)"),
        "margin_last": value(last, "selector R10@1 margin over length", 2),
    }
