"""Table VI's layout from `scores.csv`, and the paper's ordering claim read off its mean row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecc_utils.paper import MEAN_LABEL, TABLE6_LABELS, model_label, normalize_label


def table6(
    scores: pd.DataFrame,
    model_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] = TABLE6_LABELS,
    label_col: str = "label",
    model_col: str = "model",
    value_col: str = "final_score",
    mean: bool = True,
) -> pd.DataFrame:
    """Table VI's layout: rows = the inputs (paper order) + "Mean", columns = model labels.

    `scores` has one row per (input label, model label) with `value_col`; rows whose label
    is not in `row_labels` are ignored (other evaluation queries). Columns follow
    `model_labels` (e.g. `paper.model_labels(cfg.train.milestones, cfg.train.methods)`),
    else their first appearance. A missing (input, model) cell or a duplicated one is a
    ValueError naming it. "Mean" is the mean of the rows above it.
    """
    for col in (label_col, model_col, value_col):
        if col not in scores.columns:
            raise ValueError(f"scores: no column {col!r} (columns: {list(scores.columns)})")
    df = scores[[label_col, model_col, value_col]].copy()
    df[label_col] = df[label_col].map(lambda x: normalize_label(x) if isinstance(x, str) else x)
    rows = [normalize_label(r) for r in row_labels]
    df = df[df[label_col].isin(rows)]
    dup = df.duplicated([label_col, model_col])
    if dup.any():
        d = df[dup].iloc[0]
        raise ValueError(
            f"scores: several rows for input {d[label_col]!r} and model {d[model_col]!r}; "
            "give one score per (input, model) or average them first"
        )
    cols = list(model_labels) if model_labels is not None else list(dict.fromkeys(df[model_col]))
    table = df.pivot(index=label_col, columns=model_col, values=value_col)
    table = table.reindex(index=rows, columns=cols)
    missing = table.isna()
    if missing.to_numpy().any():
        r, c = np.argwhere(missing.to_numpy())[0]
        raise ValueError(
            f"scores: no {value_col} for input {rows[r]!r} and model {cols[c]!r} "
            f"({int(missing.to_numpy().sum())} cells missing); score every model on every input"
        )
    table = table.astype(float)
    if mean:
        table.loc[MEAN_LABEL] = table.loc[rows].mean(axis=0)
    table.index.name = "User Input"
    table.columns.name = None
    return table


@dataclass(frozen=True)
class Ordering:
    """Whether a Table VI of ours shows the paper's ordering, and the sentence that says so."""

    lora_above_prefix: bool | None  # LoRA beats both prefix methods at their common milestone
    lora_improves: bool | None  # LoRA's mean at its last milestone is above its first
    sentence: str


def paper_ordering(table: pd.DataFrame, milestones: dict, methods: Sequence[str]) -> Ordering:
    """Check the paper's claim on the "Mean" row of `table` (the layout of `table6`).

    The claim (Section IV-C): at the same number of steps LoRA scores above Prefix-Tuning and
    P-Tuning v2, and LoRA improves with more steps (last milestone above the first: the
    paper's own means dip at 5000 steps, 0.531 -> 0.482 -> 0.581). A part that this run cannot test (a method
    left out, a single LoRA milestone) is None and the sentence says so.
    """
    mean = table.loc[MEAN_LABEL]
    parts, above, improves = [], None, None
    if "lora" in methods:
        lora_first = milestones["lora"][0]
        others = [m for m in ("prefix", "ptuning_v2") if m in methods]
        if others:
            lora = mean[model_label("lora", lora_first)]
            vs = {m: mean[model_label(m, milestones[m][0])] for m in others}
            above = all(lora > v for v in vs.values())
            detail = ", ".join(f"{model_label(m, milestones[m][0])} {v:.3f}" for m, v in vs.items())
            parts.append(
                f"LoRA at {lora_first} steps ({lora:.3f}) "
                f"{'scores above' if above else 'does not score above'} the prefix methods "
                f"({detail})"
            )
        steps = milestones["lora"]
        if len(steps) > 1:
            series = [mean[model_label("lora", s)] for s in steps]
            improves = bool(series[-1] > series[0])
            trend = " -> ".join(f"{v:.3f}" for v in series)
            parts.append(
                f"LoRA {'improves' if improves else 'does not improve'} from its first to its "
                f"last milestone ({trend})"
            )
    if not parts:
        return Ordering(None, None, "This run cannot test the paper's ordering (no LoRA run).")
    shows = above is not False and improves is not False
    verdict = "shows" if shows else "does not show"
    return Ordering(
        above,
        improves,
        f"This run {verdict} the paper's ordering: " + "; ".join(parts) + ".",
    )
