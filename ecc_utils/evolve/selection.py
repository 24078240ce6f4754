"""Choosing the local update's settings: the selection table that `bench/sweep_update.py` writes
(``params/sweeps/<profile>_update.csv``) and the loop page shows, and the rule that picks.

Each setting runs the cloud gate for the profile's rounds with the oracle teacher (the human
reply as the cloud's answer: perfect labels) on the validation split, apart from the loop's
probe and stream: its first ``rounds x queries_per_round`` pairs are the stream, the rest the
probe. Per setting and round the table holds the probe's human-reply perplexity, its ratio to
round 0 with a paired 95 % bootstrap interval over the probe pairs, and the change of Eq. (1)
against the human replies. An update on perfect labels must do no harm, so the rule is: among
the settings whose perplexity is in no round significantly above its start (no ratio whose
whole interval lies above 1), the lowest at the last round (then the higher Eq. (1)); if every
setting harms, the one whose worst round rises least.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ecc_utils.artifacts import project_file
from ecc_utils.scoring.uncertainty import bootstrap

if TYPE_CHECKING:
    from ecc_utils.config import EvolveConfig, Profile, TrainConfig
    from ecc_utils.evolve.state import LoopState

# The settings of section `evolve` a selection varies, in the table's column order.
UPDATE_KEYS = ("update_lr_scale", "update_schedule", "update_warmup_ratio", "update_on",
               "update_epochs", "steps_per_round", "replay_ratio", "replay_size")  # fmt: skip


# The update the loop used before the selection: the method's peak rate, constant, for 10 steps
# on the whole buffer plus as many pairs of a fixed pool of 8 (it wrecked the end model).
PREVIOUS_UPDATE = {"update_lr_scale": 1.0, "update_schedule": "constant",
                   "update_warmup_ratio": 0.0, "update_on": "buffer", "update_epochs": 1.0,
                   "steps_per_round": 10, "replay_ratio": 1.0, "replay_size": 8}  # fmt: skip


def selection_file(params_dir: str | Path, profile: str) -> Path:
    """``params/sweeps/<profile>_update.csv`` beside the profiles in `params_dir`."""
    return project_file("update_sweep", Path(params_dir).parent, profile)


def setting_of(ev: EvolveConfig) -> dict:
    """The update settings of `ev` (section `evolve`), by `UPDATE_KEYS`."""
    return {k: getattr(ev, k) for k in UPDATE_KEYS}


def setting_label(setting: Mapping) -> str:
    """A short name for a setting: its rate, schedule, what it trains on and for how long."""
    steps = setting.get("steps_per_round")
    length = (f"{int(steps)} steps" if _given(steps)
              else f"{setting['update_epochs']:g} pass{'es' if setting['update_epochs'] != 1 else ''}")  # fmt: skip
    pool = setting.get("replay_size")
    replay = f"replay {setting['replay_ratio']:g}x of " + (
        f"{int(pool)} pairs" if _given(pool) else "the training split"
    )
    warm = setting.get("update_warmup_ratio") or 0
    return (f"rate x{setting['update_lr_scale']:g} {setting['update_schedule']}"
            + (f" (warm-up {warm:g})" if warm else "")
            + f", {setting['update_on']} labels, {length}, {replay}")  # fmt: skip


def _given(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v))


def selection_rows(state: LoopState, setting: Mapping, seed: int = 0) -> list[dict]:
    """One row per round of the selection arm `state` (round 0 first): the setting, the probe's
    human-reply perplexity and its paired ratio to round 0, Eq. (1) against the human replies
    and its change from round 0, each with a seeded 95 % bootstrap interval over the probe."""
    nll = [np.asarray(x, dtype=float) for x in state.probe_human_nll]
    tok = [np.asarray(x, dtype=float) for x in state.probe_human_tokens]
    human = [np.asarray(x, dtype=float) for x in state.probe_human_scores]
    n = len(nll[0])
    rows = []
    for k, record in enumerate(state.records):

        def ratio(i, k=k):
            return float(np.exp(nll[k][i].sum() / tok[k][i].sum()
                                - nll[0][i].sum() / tok[0][i].sum()))  # fmt: skip

        r = bootstrap(n, ratio, seed=seed)
        g = bootstrap(n, lambda i, k=k: float((human[k][i] - human[0][i]).mean()), seed=seed)
        rows.append(dict(setting) | {
            "setting": setting_label(setting), "round": k, "update_steps": record.update_steps,
            "buffer_size": record.buffer_size, "ppl_human": record.probe_human_perplexity,
            "ppl_ratio": r.estimate, "ppl_ratio_low": r.low, "ppl_ratio_high": r.high,
            "human_score": record.probe_human_score, "human_gain": g.estimate,
            "human_gain_low": g.low, "human_gain_high": g.high, "n_probe": n,
        })  # fmt: skip
    return rows


def pick(table: pd.DataFrame) -> pd.Series:
    """The chosen setting's last-round row (see the module): no significant harm in any round
    first, then the lowest last-round perplexity ratio, then the higher Eq. (1) gain against
    the human replies."""
    later = table[table["round"] > 0]
    by = later.groupby("setting", sort=False)
    worst, harm = by["ppl_ratio"].max(), by["ppl_ratio_low"].max()
    last = later[later["round"] == later["round"].max()].set_index("setting")
    last = last.assign(worst=worst, harmless=harm <= 1.0)
    order = last.sort_values(
        ["harmless", "ppl_ratio", "human_gain"], ascending=[False, True, False]
    )
    if not order["harmless"].iloc[0]:
        order = last.sort_values(["worst", "human_gain"], ascending=[True, False])
    return order.iloc[0].rename(order.index[0])


def agreement(table: pd.DataFrame, cfg: Profile) -> pd.DataFrame:
    """The chosen setting beside the profile's own, key by key, and whether they agree."""
    chosen = pick(table)
    mine = setting_of(cfg.evolve)
    rows = []
    for k in UPDATE_KEYS:
        a, b = chosen[k], mine[k]
        same = (not _given(a) and b is None) or (_given(a) and b is not None and
                                                 (a == b or str(a) == str(b)))  # fmt: skip
        rows.append({"setting": k, "chosen": a if _given(a) else None, "profile": b,
                     "agrees": bool(same)})  # fmt: skip
    return pd.DataFrame(rows).set_index("setting")


def read_selection(path: str | Path) -> pd.DataFrame:
    """The committed selection table; a clear error names the script that writes it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no selection of the loop's update settings; run bench/sweep_update.py"
        )
    table = pd.read_csv(path)
    missing = [c for c in (*UPDATE_KEYS, "setting", "round", "ppl_ratio") if c not in table]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing (written by bench/sweep_update.py)")
    return table


def selection_view(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the loop page shows it: one row per setting (the pick marked), the probe's
    human-reply perplexity at each round, the worst round's ratio to round 0 with its interval,
    and the last round's change of Eq. (1) against the human replies."""
    chosen = pick(table).name
    last = table["round"].max()
    rows = []
    for name, g in table.groupby("setting", sort=False):
        g = g.set_index("round")
        later = g.drop(index=0)
        worst = later.loc[later["ppl_ratio"].idxmax()]
        end = g.loc[last]
        row = {"setting": name + (" (the pick)" if name == chosen else "")}
        row |= {f"perplexity, round {k}": g.loc[k, "ppl_human"] for k in g.index}
        row |= {"worst ratio to round 0": f"{worst['ppl_ratio']:.3f} [{worst['ppl_ratio_low']:.3f}, "
                                          f"{worst['ppl_ratio_high']:.3f}]",
                "Eq. (1) vs human, change": f"{end['human_gain']:+.3f} [{end['human_gain_low']:.3f}, "
                                            f"{end['human_gain_high']:.3f}]"}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def update_rule(ev: EvolveConfig, train: TrainConfig) -> str:
    """The profile's local update in words (section `evolve`, under the starting method's
    section `train`)."""
    rate = train.learning_rate * ev.update_lr_scale
    shape = {"constant": "constant", "linear": "decayed linearly to zero",
             "cosine": "decayed to zero on a cosine"}[ev.update_schedule]  # fmt: skip
    warm = (
        f" after a warm-up of {ev.update_warmup_ratio:.0%} of its steps"
        if ev.update_warmup_ratio
        else ""
    )
    labels = (
        "the round's new pseudo-labels" if ev.update_on == "new" else "every pseudo-label so far"
    )
    pool = ("the whole training split" if ev.replay_size is None
            else f"a fixed pool of {ev.replay_size} training pairs")  # fmt: skip
    length = (f"{ev.steps_per_round} steps of {train.batch_size}" if ev.steps_per_round is not None
              else f"{ev.update_epochs:g} pass{'es' if ev.update_epochs != 1 else ''} at batch "
                   f"size {train.batch_size}")  # fmt: skip
    return (f"a peak rate of {rate:.3g} ({ev.update_lr_scale:g} times the method's training rate "
            f"of {train.learning_rate:g}), {shape}{warm}, on {labels} and "
            f"{ev.replay_ratio:g} replayed pair{'s' if ev.replay_ratio != 1 else ''} per label "
            f"drawn from {pool}, for {length}.")  # fmt: skip


def previous_sentence(table: pd.DataFrame) -> str:
    """What the update the loop used before the selection (`PREVIOUS_UPDATE`) did in `table`,
    in a sentence ("" when the table does not hold it)."""
    previous = setting_label(PREVIOUS_UPDATE)
    rows = table[(table["setting"] == previous) & (table["round"] > 0)]
    if rows.empty:
        return ""
    first = rows[rows["round"] == rows["round"].min()].iloc[0]
    return (f"The update an earlier version of this page used ({previous}) took the held-out "
            f"human-reply perplexity from {first['ppl_human'] / first['ppl_ratio']:.2f} to "
            f"{first['ppl_human']:.2f} after one round, {first['ppl_ratio']:.1f} times its start "
            f"[{first['ppl_ratio_low']:.1f}, {first['ppl_ratio_high']:.1f}], with perfect labels.")  # fmt: skip
