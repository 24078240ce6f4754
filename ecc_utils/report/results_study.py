"""The results page's view of the robustness study and of the claims' evidence.

`Evidence` is what the page decides a claim on: the committed robustness study
(`ecc_utils.report.robustness`) when it ran for this code, else this run's own tests, called
single-run. `seed_table` gives each claim's verdict per seed beside the pooled test and the
status; `claims_figure` draws each claim's paired difference with its interval, coloured by
status; `loop_cost` the online loop's cloud calls per arm and round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecc_utils.report import robustness
from ecc_utils.report.reproducibility import read_spread, spread_file
from ecc_utils.scoring.claims import CLAIM_METRICS
from ecc_utils.scoring.uncertainty import difference_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ecc_utils.artifacts import Artifacts

# The claims' statuses, in the order of the figure's legend, with their colours.
STATUS_ORDER = ("reproduced", "seed-dependent", "inconclusive", "not reproduced")
STATUS_COLORS = ("#0072B2", "#E69F00", "#999999", "#D55E00")  # Okabe-Ito, colour-blind safe
SINGLE = {"supported": "reproduced", "contradicted": "not reproduced",
          "inconclusive": "inconclusive"}  # fmt: skip
FIGURE_METRICS = (CLAIM_METRICS[0], CLAIM_METRICS[1])  # Eq. (1) and human-reply perplexity
LOOP_METRIC = "probe gain (Eq. 1)"


@dataclass(frozen=True)
class Evidence:
    """The study as committed (None: none), its provenance, and what makes it hold for this
    code (`robustness.current_for`: it ran for it, or a build of it reproduced one of its
    seeds exactly; None: neither)."""

    study: pd.DataFrame | None
    meta: dict
    basis: dict | None = None
    # per metric, how far a build on other CPU features may lie from the study
    # (`robustness.spread_tolerance`; empty: not measured for this profile)
    tolerance: dict = field(default_factory=dict)

    @classmethod
    def load(cls, root: str | Path, profile: str) -> Evidence:
        got = robustness.load_study(root, profile)
        if got is None:
            return cls(None, {}, None)
        study, meta = got
        spread = spread_file(root, profile)
        tol = robustness.spread_tolerance(read_spread(spread)) if spread.is_file() else {}
        return cls(study, meta, robustness.current_for(meta, root, profile), tol)

    @property
    def cpu(self) -> str:
        """The CPU the study ran on, in words (its JSON's ``cpu``)."""
        c = self.meta.get("cpu") or {}
        if not c:
            return "a CPU it does not name"
        bf16 = "with" if c.get("avx512_bf16") or c.get("amx_bf16") else "without"
        return f"an {c.get('model', 'unnamed CPU')} {bf16} native bfloat16"

    @property
    def current(self) -> bool:
        return self.basis is not None

    @property
    def seeds(self) -> list[str]:
        if self.study is None:
            return []
        return [s for s in dict.fromkeys(self.study["seed"]) if s != "pooled"]

    def note(self) -> str:
        """What the page's verdicts rest on, in one or two sentences."""
        if self.study is None:
            return ("No robustness study is committed for this profile, so every verdict on "
                    "this page is single-run: one training run, one stream order. "
                    "`bench/robustness.py` runs the study.")  # fmt: skip
        m = self.meta
        where = (f"commit {m.get('commit')}, {m.get('date')}, seeds "
                 f"{', '.join(map(str, m.get('seeds', [])))}")  # fmt: skip
        b = self.basis
        if b is not None and b["how"] == "verified":
            return (f"The robustness study ({where}) ran for earlier code; this book's code "
                    f"reproduced its seed {b['seed']} to the last digit (commit {b['commit']}, "
                    f"{b['date']}{', ' + b['cpu'] if b.get('cpu') else ''}: every claim and "
                    "loop test equal), so each claim's status "
                    "below is decided across its seeds.")  # fmt: skip
        if b is not None:
            return (f"The robustness study ({where}) ran for the code of this book: each "
                    "claim's status below is decided across its seeds.")  # fmt: skip
        return (f"The committed robustness study ({where}) ran for other code than this "
                "book's, so every verdict on this page is single-run until it is run again "
                "(`bench/robustness.py`); its table below is shown as it was.")  # fmt: skip

    def build_note(self, art: str | Path, seed: int, teacher: str) -> str:
        """Whether this book's own build (artifacts `art`, run with `seed`) gave the study's
        numbers for that seed ("" when the study is not current or lacks the seed): to the last
        digit, or else how many of its differences lie within the spread that the
        Reproducibility page measured between CPU features (`tolerance`) and how many verdicts
        agree. Another CPU family (float32 where the study ran in bfloat16, other kernels) or
        other data gives other numbers from the same code."""
        if not self.current or self.study is None or str(seed) not in self.seeds:
            return ""
        mine = robustness.seed_rows(art, seed, teacher)
        if not robustness.verify_rows(mine, self.study, seed):
            return (f"This build's own numbers are the study's seed {seed} to the last "
                    f"digit; the study ran on {self.cpu}.")  # fmt: skip
        within, same, n = robustness.within_spread(mine, self.study, seed, self.tolerance)
        spread = (f"{within} of its {n} paired differences lie within the spread that the "
                  "Reproducibility page measured between CPU features, and " if self.tolerance
                  else "")  # fmt: skip
        if not self.tolerance:
            both = robustness.keyed(mine).merge(robustness.keyed(self.study[
                self.study["seed"].astype(str) == str(seed)]), on=robustness.ROW_KEY)  # fmt: skip
            same, n = int((both["verdict_x"] == both["verdict_y"]).sum()), len(both)
        return (f"This build's own numbers differ from the study's seed {seed}, which ran on "
                f"{self.cpu}: {spread}{same} of its {n} verdicts are the same as that seed's "
                "(another CPU family computes other numbers from the same code, in float32 "
                "where the study ran in bfloat16; so does other data).")  # fmt: skip

    def status(self, key: str, metric: str = CLAIM_METRICS[0], teacher: str = "") -> str | None:
        """The study's status of a claim (key as `Claim.key`, or ``gate>control`` for the
        loop with its `teacher`), or None when the study is not current or lacks it."""
        if not self.current or self.study is None:
            return None
        s = self.study
        hit = s[(s["seed"] == "pooled") & (s["key"] == key) & (s["metric"] == metric)
                & (s["teacher"] == teacher)]  # fmt: skip
        return str(hit["status"].iloc[0]) if len(hit) else None


def seed_table(ev: Evidence, teacher: str) -> pd.DataFrame:
    """Per claim on the paper's measure (Eq. (1)), and per online-loop comparison on its probe
    gain with the profile's `teacher`: each seed's verdict, the pooled difference over
    inputs x seeds with its 95 % interval, and the status."""
    if ev.study is None:
        return pd.DataFrame()
    s = ev.study
    keep = ((s["section"] == "claim") & (s["metric"] == CLAIM_METRICS[0])) | (
        (s["section"] == "loop") & (s["metric"] == LOOP_METRIC) & (s["teacher"] == teacher)
    )
    rows = []
    for (_, label), g in s[keep].groupby(["section", "label"], sort=False):
        pooled = g[g["seed"] == "pooled"].iloc[0]
        row = {"claim": label}
        row |= {f"seed {r['seed']}": r["verdict"] for _, r in g.iterrows() if r["seed"] != "pooled"}
        row |= {"pooled (inputs x seeds)": difference_text(pooled), "status": pooled["status"]}
        rows.append(row)
    return pd.DataFrame(rows).set_index("claim") if rows else pd.DataFrame()


def figure_rows(ev: Evidence, claims: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(rows to draw: label, metric, difference, low, high, status; what they are): the
    study's pooled tests when it is current, else this run's (`claims.csv`), single-run."""
    if ev.current and ev.study is not None:
        s = ev.study
        rows = s[(s["section"] == "claim") & (s["seed"] == "pooled")]
        rows = rows[rows["metric"].isin(FIGURE_METRICS)]
        what = f"pooled over {len(ev.seeds)} seeds x inputs"
    else:
        rows = claims[claims["metric"].isin(FIGURE_METRICS)].rename(columns={"claim": "label"})
        rows = rows.assign(status=rows["verdict"].map(SINGLE))
        what = "this run alone (single-run)"
    cols = ["label", "metric", "difference", "low", "high", "status"]
    return robustness.finite(rows[cols].reset_index(drop=True)), what


def claims_figure(rows: pd.DataFrame, what: str) -> Figure:
    """One panel per metric of `FIGURE_METRICS`: each claim's paired difference (claimed
    better minus other) with its 95 % interval, coloured by status; a dashed line at zero.
    For perplexity, lower is better, so a supported claim lies left of zero."""
    import seaborn as sns
    from matplotlib.lines import Line2D

    from ecc_utils.report.plots import _new_figure, use_style

    use_style()
    labels = list(dict.fromkeys(rows["label"]))
    metrics = [m for m in FIGURE_METRICS if m in set(rows["metric"])]
    palette = dict(zip(STATUS_ORDER, STATUS_COLORS, strict=True))
    fig = _new_figure((5.0 * len(metrics), 0.42 * len(labels) + 1.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    y = {label: i for i, label in enumerate(labels[::-1])}
    for ax, metric in zip(axes, metrics, strict=True):
        part = rows[rows["metric"] == metric]
        ys = part["label"].map(y).to_numpy(float)
        est = part["difference"].to_numpy(float)
        colors = [palette[s] for s in part["status"]]
        for yy, lo, hi, c in zip(ys, part["low"], part["high"], colors, strict=True):
            ax.hlines(yy, lo, hi, color=c, lw=2)
        sns.scatterplot(x=est, y=ys, hue=part["status"].to_numpy(), palette=palette,
                        ax=ax, s=40, zorder=3, legend=False)  # fmt: skip
        ax.axvline(0, color="#444444", ls="--", lw=1)
        better = "lower is better" if "perplexity" in metric else "higher is better"
        ax.set_title(f"{metric}\n(difference, {better})", fontsize=9)
        ax.set_yticks(list(y.values()), [_wrap(label) for label in y])
        ax.grid(True, axis="x", alpha=0.3)
    shown = [s for s in STATUS_ORDER if s in set(rows["status"])]
    handles = [Line2D([], [], color=palette[s], marker="o", lw=2, label=s) for s in shown]
    fig.suptitle(f"The paper's claims: paired differences with 95 % intervals, {what}",
                 fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=len(shown), fontsize=8, frameon=False)
    return fig


def _wrap(label: str, width: int = 44) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(label, width))


def loop_cost(art: Artifacts) -> tuple[pd.DataFrame, str]:
    """The online loop's cloud calls and escalations per arm and round, and the sentence with
    the match-only gate's saving (`evolve.cost`)."""
    from ecc_utils.evolve.cost import cost_sentence, cost_table

    if not art.evolution.is_file():
        return pd.DataFrame(), "The online loop did not run in this profile."
    cost = cost_table(art.read("evolution"))
    return cost, cost_sentence(cost)
