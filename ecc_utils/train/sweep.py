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

from ecc_utils.artifacts import project_file

if TYPE_CHECKING:
    from ecc_utils.config import Profile


def sweep_file(params_dir: str | Path, profile: str) -> Path:
    """``params/sweeps/<profile>.csv`` (`bench/sweep_train.py` writes it) beside the profiles
    in `params_dir`."""
    return project_file("sweep", Path(params_dir).parent, profile)


MAX_DEGENERATE = 0.05  # a setting is acceptable when at most this share of answers degenerates
REQUIRED = ("method", "learning_rate", "batch_size", "steps", "samples", "ppl_human",
            "ppl_ratio", "degenerate", "r10_1")  # fmt: skip


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


KEY = ("method", "learning_rate", "batch_size", "samples", "prefix_init")


def merge_sweeps(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """`old` with the rows of `new` added; a setting measured in both (same method, learning
    rate, batch size, samples and prefix start) keeps `new`'s row, and the original model keeps
    only its newest row (measured with the newest guard). Several invocations of the sweep make
    one table this way (``bench/sweep_train.py --merge``)."""

    def keys(t: pd.DataFrame) -> pd.Series:
        cols = [t[c] if c in t else pd.Series([None] * len(t), index=t.index) for c in KEY]
        frame = pd.concat(cols, axis=1, keys=KEY).astype(object)
        frame = frame.where(frame.notna(), "")
        frame["learning_rate"] = [f"{x:.6g}" if x != "" else "" for x in frame["learning_rate"]]
        frame["batch_size"] = [f"{int(x)}" if x != "" else "" for x in frame["batch_size"]]
        frame["samples"] = [f"{int(x)}" for x in frame["samples"].replace("", 0)]
        frame.loc[t["method"] == "original"] = "original"
        return frame.astype(str).agg("|".join, axis=1)

    kept = old[~keys(old).isin(set(keys(new)))]
    table = pd.concat([kept, new], ignore_index=True)
    original = table["method"] == "original"
    return pd.concat([table[original].tail(1), table[~original]], ignore_index=True)


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
