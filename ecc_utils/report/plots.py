"""Every figure of the book, in one style: Fig. 3 (scores per input, per model) and friends
(corpus histograms of the data page, the online loop's curves).

Figures take tables (pandas DataFrames in Table VI's layout: rows = inputs, columns = model
labels, an optional "Mean" row) and return matplotlib Figures; `save_figure` writes them.
Labels in figures are English, so no CJK font is needed; `use_style` picks one if installed.
Figures are closed in pyplot on creation, so a notebook shows one only when asked, once.
The statistical figures (score distributions, intervals, the heatmap) are drawn with seaborn;
`use_style` sets seaborn's theme and the book's rcParams once for all of them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ecc_utils.paper import MEAN_LABEL, PUBLISHED_STATS, paired_columns

OURS_COLOR = "#1f77b4"
PAPER_COLOR = "#b0b0b0"
MEAN_COLOR = "#0b3d66"
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "AR PL UMing CN",
)


def cjk_font() -> str | None:
    """The name of an installed CJK-capable font, or None."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((n for n in _CJK_FONTS if n in names), None)


def use_style() -> None:
    """Apply the book's figure style (rcParams) to every figure drawn afterwards."""
    font = cjk_font()
    sns.set_theme(context="paper", style="ticks", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "axes.grid.axis": "y",
            "grid.alpha": 0.3,
            "legend.frameon": False,
            "svg.fonttype": "none",  # text stays text in SVG
            "font.family": ["sans-serif"],
            "font.sans-serif": ([font] if font else []) + ["DejaVu Sans"],
        }
    )


def _new_figure(figsize: tuple[float, float]) -> Figure:
    # Made through pyplot so that Jupyter's inline backend is set up, then closed so that
    # the cell end does not show it a second time (displaying `fig` still works).
    fig = plt.figure(figsize=figsize)
    plt.close(fig)
    return fig


def _body(table: pd.DataFrame) -> pd.DataFrame:
    """The per-input rows (without "Mean"), as floats."""
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("table: expected a non-empty DataFrame in Table VI's layout")
    return table.drop(index=[MEAN_LABEL], errors="ignore").astype(float)


@dataclass(frozen=True)
class _Fig3Panels:
    """What each panel of Fig. 3 draws from: our per-input scores (`body`), the paper's
    (`pbody`, matched by `pairs`) and the whole evaluation set's means with intervals."""

    body: pd.DataFrame
    pbody: pd.DataFrame | None
    pairs: dict[str, str]
    means: pd.DataFrame | None

    def draw(self, ax: Any, k: int, col: str) -> None:
        """Panel `k` for model column `col`: our bars, the paper's beside them, our mean as a
        dashed line, and the whole set's mean with its interval as a last bar."""
        x = np.arange(1, len(self.body) + 1)
        width = 0.38 if self.pairs else 0.6
        shift = width / 2 if self.pairs else 0.0
        ax.bar(x - shift, self.body[col].to_numpy(), width, color=OURS_COLOR, label="ours")
        if col in self.pairs and self.pbody is not None:
            pv = self.pbody[self.pairs[col]].to_numpy()[: len(x)]
            ax.bar(x[: len(pv)] + shift, pv, width, color=PAPER_COLOR, hatch="//",
                   edgecolor="white", label="paper (Table VI)")  # fmt: skip
        ax.axhline(self.body[col].mean(), color=OURS_COLOR, ls="--", lw=0.8, label="our mean")
        ticks, labels = list(x), [str(i) for i in x]
        if self.means is not None and col in self.means.index:
            m = self.means.loc[col]
            err = [[m["estimate"] - m["low"]], [m["high"] - m["estimate"]]]
            ax.bar([len(x) + 1.2], [m["estimate"]], width, color=MEAN_COLOR, yerr=err,
                   capsize=3, label="mean of all inputs, 95% interval")  # fmt: skip
            ticks.append(len(x) + 1.2)
            labels.append(f"all\n{int(m['n'])}")
        head = f"({chr(ord('a') + k)}) {col}"
        if col in self.pairs and self.pairs[col] != col:
            head += f"\nvs paper: {self.pairs[col]}"
        ax.set_title(head)
        ax.set_xticks(ticks, labels)
        ax.set_ylim(0, 1)


def fig3(
    table: pd.DataFrame,
    paper_table: pd.DataFrame | None = None,
    title: str | None = None,
    means: pd.DataFrame | None = None,
) -> Figure:
    """Fig. 3: one panel per model column, (a) original ... (f) LoRA at the last milestone.

    Each panel shows the final score (Eq. 1) per input (bars 1..n, in Table VI's row
    order) on a shared y-axis. With `paper_table` (e.g. `paper.published_table6()`) the paper's
    published values stand beside ours (grey bars), matched by method and milestone order.
    The dashed line is our mean over the inputs. With `means` (index = model, columns
    estimate, low, high, n) a last bar shows the mean over the whole evaluation set with its
    95 % interval as an error bar.
    """
    use_style()
    body = _body(table)
    cols = list(body.columns)
    pairs = paired_columns(cols, list(paper_table.columns)) if paper_table is not None else {}
    pbody = _body(paper_table) if paper_table is not None else None
    ncols = min(3, len(cols))
    nrows = math.ceil(len(cols) / ncols)
    fig = _new_figure(figsize=(3.3 * ncols, 2.6 * nrows))
    axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False)
    panels = _Fig3Panels(body, pbody, pairs, means)
    for k, ax in enumerate(axes.flat):
        if k >= len(cols):
            ax.set_visible(False)
            continue
        panels.draw(ax, k, cols[k])
        if k % ncols == 0:
            ax.set_ylabel("final score")
        if k >= len(cols) - ncols:
            ax.set_xlabel("input")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), bbox_to_anchor=(0.5, 0))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1] + "\u2026"


def table_heatmap(
    table: pd.DataFrame, title: str | None = None, vmin: float = 0.0, vmax: float = 1.0
) -> Figure:
    """A heatmap of the whole table (rows incl. "Mean"), each cell annotated with its value."""
    use_style()
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("table: expected a non-empty DataFrame in Table VI's layout")
    values = table.astype(float)
    fig = _new_figure(figsize=(1.3 * values.shape[1] + 3.0, 0.45 * values.shape[0] + 1.6))
    ax = fig.subplots()
    ylabels = [
        _short(str(r)) if str(r) == MEAN_LABEL else f"{i + 1}. {_short(str(r))}"
        for i, r in enumerate(table.index)
    ]
    sns.heatmap(values.set_axis(ylabels), ax=ax, cmap="viridis", vmin=vmin, vmax=vmax,
                annot=True, fmt=".3f", annot_kws={"fontsize": 8},
                cbar_kws={"fraction": 0.04, "pad": 0.02, "label": "final score"})  # fmt: skip
    ax.set_xticklabels([str(c) for c in table.columns], rotation=30, ha="right")
    ax.set_ylabel("")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(
    fig: Figure, directory: str | os.PathLike, stem: str, formats: Sequence[str] = ("png", "svg")
) -> list[Path]:
    """Write `fig` as <directory>/<stem>.<fmt> for each format (atomically); returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = directory / f"{stem}.{fmt}"
        tmp = directory / f".{stem}.tmp.{fmt}"
        fig.savefig(tmp, format=fmt)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def save_fig3(fig: Figure, art: str | os.PathLike) -> list[Path]:
    """Write `fig3.png` and `fig3.svg` into the artifacts folder `art`."""
    return save_figure(fig, art, "fig3")


def evolution(table: pd.DataFrame) -> Figure:
    """The online loop of notebook 06: probe score, cloud calls and escalated fraction per
    round, one line per arm (gates and controls).

    `table` has the columns of `evolution.csv` (arm, round, probe_mean_score, cloud_calls,
    escalated_fraction).
    """
    fig = _new_figure((10, 3.2))
    axes = fig.subplots(1, 3)
    for arm, g in table.groupby("arm", sort=False):
        g = g.sort_values("round")
        axes[0].plot(g["round"], g["probe_mean_score"], marker="o", label=arm)
        later = g[g["round"] > 0]
        axes[1].plot(later["round"], later["cloud_calls"], marker="s", label=arm)
        axes[2].plot(later["round"], later["escalated_fraction"], marker="^", label=arm)
    titles = (
        "Probe score (mean Eq. 1)",
        "Cloud calls per round",
        "Fraction escalated",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("round")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(title="arm")
    fig.tight_layout()
    return fig


def _per_round(fig: Figure, ax, ylabel: str) -> Figure:
    """Finish a one-panel figure of the loop's arms over rounds: whole rounds on the x axis,
    `ylabel`, the arms' legend."""
    ax.set_xlabel("round")
    ax.set_ylabel(ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(title="arm", fontsize=8)
    fig.tight_layout()
    return fig


def perplexity_rounds(table: pd.DataFrame, limit: float = 1.25) -> Figure:
    """Each arm's probe human-reply perplexity per round (`evolve.perplexity_table`: arms as
    rows, ``round k`` columns), with the starting value and `limit` times it as guides: an
    update that harms the end model climbs past them."""
    fig = _new_figure((6.5, 3.4))
    ax = fig.subplots()
    cols = [c for c in table.columns if c.startswith("round ")]
    rounds = [int(c.split()[1]) for c in cols]
    for arm, row in table[cols].iterrows():
        ax.plot(rounds, row.to_numpy(float), marker="o", label=arm,
                linestyle="--" if "no-update" in str(arm) else "-")  # fmt: skip
    start = float(table[cols[0]].iloc[0])
    ax.axhline(start, color="0.5", linewidth=0.8)
    ax.axhline(limit * start, color="0.5", linewidth=0.8, linestyle=":")
    ax.annotate(f"{limit:g} x start", (rounds[-1], limit * start), fontsize=8, color="0.4",
                ha="right", va="bottom")  # fmt: skip
    ax.set_title("Probe perplexity of the human replies")
    return _per_round(fig, ax, "human-reply perplexity")


def evolution_gain(gain: pd.DataFrame) -> Figure:
    """Each arm's probe gain over round 0 per round, with its 95 % interval as error bars
    (arms side by side at each round; controls dashed). `gain` has the columns of
    `evolution_gain.csv` (arm, kind, round, difference, low, high)."""
    fig = _new_figure((6.5, 3.4))
    ax = fig.subplots()
    arms = list(dict.fromkeys(gain["arm"]))
    width = 0.4 / max(1, len(arms))
    for j, arm in enumerate(arms):
        g = gain[gain["arm"] == arm].sort_values("round")
        x = g["round"].to_numpy(float) + (j - (len(arms) - 1) / 2) * width
        est = g["difference"].to_numpy(float)
        err = np.vstack([est - g["low"].to_numpy(float), g["high"].to_numpy(float) - est])
        ls = "--" if "kind" in g and (g["kind"] == "control").all() else "-"
        ax.errorbar(x, est, yerr=err, fmt="o", ls=ls, capsize=3, ms=4, lw=1, label=arm)
    ax.axhline(0.0, color=PAPER_COLOR, lw=1)
    return _per_round(fig, ax, "probe gain over round 0 (Eq. 1)")


def plot_histograms(
    stats: dict, key: str, *, cumulative: bool = False, logx: bool = False, ax=None
) -> Figure:
    """Plot the ``key`` histograms ("turns_per_session" or "tokens_per_utterance") of each
    corpus in ``stats`` (from `data.write_splits`), with the published mean where there is
    one. ``cumulative`` draws the fraction at or below each value (readable for long-tailed
    lengths), ``logx`` a log x axis."""
    use_style()
    if ax is None:
        fig = _new_figure((7, 3.5))
        ax = fig.subplots()
    else:
        fig = ax.figure
    published = {
        ("ecd_train", "turns_per_session"): PUBLISHED_STATS["ecd_turns_per_session"],
        ("synthetic_train", "turns_per_session"): PUBLISHED_STATS["ecd_turns_per_session"],
        ("jddc", "turns_per_session"): PUBLISHED_STATS["jddc_utterances_per_session"],
    }
    for name, hists in stats.get("histograms", {}).items():
        h = hists.get(key)
        if not h:
            continue
        xs = [int(k) for k in h]
        total = sum(h.values())
        ys = [v / total for v in h.values()]
        if cumulative:
            ys = [sum(ys[: i + 1]) for i in range(len(ys))]
            (line,) = ax.step(xs, ys, where="post", label=name)
        else:
            (line,) = ax.plot(xs, ys, marker=".", label=name)
        ref = published.get((name, key))
        if ref is not None:
            ax.axvline(ref, color=line.get_color(), ls="--", lw=1, label=f"{name}, published mean")
    ax.set_xlabel(key.replace("_", " "))
    ax.set_ylabel("fraction at or below" if cumulative else "fraction")
    if logx:
        ax.set_xscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def intervals(
    table: pd.DataFrame, metrics: Sequence[str], ncols: int = 3, refs: dict | None = None
) -> Figure:
    """One panel per metric: each model's estimate with its 95 % interval.

    `table` is long (columns model, metric, estimate, low, high), as from
    `scoring.metric_intervals`; `refs` maps a metric to {label: value} drawn as vertical
    lines (e.g. chance, the length-only baseline).
    """
    use_style()
    nrows = math.ceil(len(metrics) / ncols)
    models = list(dict.fromkeys(table["model"]))
    fig = _new_figure((4.0 * ncols, 0.32 * len(models) * nrows + 1.2 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    y = np.arange(len(models))[::-1]
    for k, ax in enumerate(axes.flat):
        if k >= len(metrics):
            ax.set_visible(False)
            continue
        rows = table[table["metric"] == metrics[k]].set_index("model").reindex(models)
        est = rows["estimate"].to_numpy(float)
        err = np.vstack([est - rows["low"].to_numpy(float), rows["high"].to_numpy(float) - est])
        ax.errorbar(est, y, xerr=err, fmt="none", ecolor=OURS_COLOR, capsize=3, lw=1)
        sns.scatterplot(x=est, y=y, ax=ax, color=OURS_COLOR, s=22, zorder=3)
        for i, (label, value) in enumerate((refs or {}).get(metrics[k], {}).items()):
            ax.axvline(value, color=PAPER_COLOR, ls=("--", ":", "-.")[i % 3], lw=1, label=label)
        if (refs or {}).get(metrics[k]):
            ax.legend(fontsize=7, loc="best")
        ax.set_title(metrics[k])
        ax.set_yticks(y, models)
        ax.grid(True, axis="x", alpha=0.3)
        ax.grid(False, axis="y")
    fig.tight_layout()
    return fig


def sweep(table: pd.DataFrame, batch_size: int) -> Figure:
    """The training-settings sweep at one batch size: per method (columns), the perplexity
    of the human replies relative to the original model's (paired ratio, 95 % interval) and
    the share of degenerate answers, against the learning rate, at each budget of samples."""
    use_style()
    t = table[(table["method"] != "original") & (table["batch_size"] == batch_size)]
    methods = list(dict.fromkeys(t["method"]))
    fig = _new_figure((4.0 * max(len(methods), 1), 6.0))
    axes = fig.subplots(2, max(len(methods), 1), squeeze=False, sharex="col")
    for j, method in enumerate(methods):
        m = t[t["method"] == method]
        for k, (samples, g) in enumerate(m.groupby("samples")):
            g = g.sort_values("learning_rate")
            lr = g["learning_rate"].to_numpy(float)
            est = g["ppl_ratio"].to_numpy(float)
            err = np.vstack([est - g["ppl_ratio_low"], g["ppl_ratio_high"] - est])
            shade = plt.cm.Blues(0.5 + 0.4 * k / max(m["samples"].nunique() - 1, 1))
            axes[0, j].errorbar(lr, est, yerr=err, fmt="o-", capsize=3, color=shade,
                                label=f"{samples} samples")  # fmt: skip
            axes[1, j].plot(lr, g["degenerate"], "o-", color=shade, label=f"{samples} samples")
            if g["degenerate_guard"].notna().any():
                axes[1, j].plot(lr, g["degenerate_guard"], "s--", color=shade,
                                label=f"{samples} samples, with the guard")  # fmt: skip
        axes[0, j].axhline(1.0, color=PAPER_COLOR, lw=1)
        axes[0, j].set_title(method)
        axes[1, j].axhline(0.05, color=PAPER_COLOR, lw=1, ls=":")
        axes[1, j].set_xlabel("learning rate")
        for ax in axes[:, j]:
            ax.set_xscale("log")
    axes[0, 0].set_ylabel("perplexity / original's")
    axes[1, 0].set_ylabel("degenerate answers")
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def score_distributions(scores: pd.DataFrame, column: str = "final_score") -> Figure:
    """The distribution of `column` of ``scores.csv`` per model (a box for the quartiles, the
    inputs as points), the models in their table order."""
    use_style()
    if column not in scores:
        raise ValueError(f"scores has no column {column!r} (columns: {', '.join(scores)})")
    models = list(dict.fromkeys(scores["model"]))
    fig = _new_figure((7.5, 0.45 * len(models) + 1.2))
    ax = fig.subplots()
    sns.boxplot(data=scores, x=column, y="model", order=models, ax=ax, color="#dbe9f6",
                fliersize=0, width=0.6)  # fmt: skip
    sns.stripplot(data=scores, x=column, y="model", order=models, ax=ax, color=OURS_COLOR,
                  size=2.5, alpha=0.6, jitter=0.2)  # fmt: skip
    ax.set_xlabel(column.replace("_", " "))
    ax.set_ylabel("")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
