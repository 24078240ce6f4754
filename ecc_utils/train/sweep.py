"""The training-settings sweep (``bench/sweep_train.py``): where its table lives, how the
best setting per method is picked, and whether a profile uses it.

The sweep is run by hand (it trains every setting; tens of minutes on a CPU); its table is
committed as ``params/sweeps/<profile>.csv`` beside the profile it chose settings for, and the
book's training-settings page reads it from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from ecc_utils.config import Profile

SWEEPS = "sweeps"  # folder under params/
MAX_DEGENERATE = 0.05  # a setting is acceptable when at most this share of answers degenerates
REQUIRED = ("method", "learning_rate", "batch_size", "steps", "samples", "ppl_human",
            "ppl_ratio", "degenerate", "r10_1")  # fmt: skip


def sweep_file(params_dir: str | Path, profile: str) -> Path:
    """``params/sweeps/<profile>.csv``."""
    return Path(params_dir) / SWEEPS / f"{profile}.csv"


def read_sweep(path: str | Path) -> pd.DataFrame:
    """The sweep's table; a clear error when it is missing or lacks a column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no sweep table; run bench/sweep_train.py for this profile (see its header)"
        )
    table = pd.read_csv(path)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing; rerun bench/sweep_train.py")
    return table


def best_settings(table: pd.DataFrame, guarded: bool = True) -> pd.DataFrame:
    """Per method, the setting that is best at the sweep's full budget of samples: first those
    with at most `MAX_DEGENERATE` degenerate answers (with the repetition guard when
    `guarded` and it was measured), then the lowest perplexity of the human replies."""
    trained = table[table["method"] != "original"]
    if trained.empty:
        raise ValueError("the sweep table has no trained setting")
    full = trained[trained["samples"] == trained["samples"].max()].copy()
    degenerate = full["degenerate"]
    if guarded and "degenerate_guard" in full:
        degenerate = full["degenerate_guard"].fillna(degenerate)
    full["acceptable"] = degenerate <= MAX_DEGENERATE
    full = full.sort_values(["method", "acceptable", "ppl_human"], ascending=[True, False, True])
    return full.groupby("method", sort=False).head(1).reset_index(drop=True)


def profile_agreement(best: pd.DataFrame, cfg: Profile) -> pd.DataFrame:
    """The sweep's pick beside the profile's setting, per method the profile trains."""
    rows = []
    for method in cfg.train.methods:
        t = cfg.train.for_method(method)
        pick = best[best["method"] == method]
        lr = float(pick["learning_rate"].iloc[0]) if len(pick) else float("nan")
        bs = int(pick["batch_size"].iloc[0]) if len(pick) else 0
        rows.append({"method": method, "sweep learning rate": lr, "profile learning rate":
                     t.learning_rate, "sweep batch size": bs, "profile batch size": t.batch_size,
                     "profile uses the pick": bool(len(pick)) and abs(lr - t.learning_rate)
                     <= 1e-12 and bs == t.batch_size})  # fmt: skip
    return pd.DataFrame(rows)
