"""Table VI's layout from `scores.csv` (the paper's claims are decided in `claims`, by paired
tests over every input, not read off this six-row table)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ecc_utils.paper import MEAN_LABEL, TABLE6_LABELS, normalize_label


def table6_from_scores(
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
