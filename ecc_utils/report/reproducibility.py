"""What a reader on another machine should expect from a profile's book: its headline numbers
from two full runs on one machine, one with the CPU's default features and one with them
narrowed (a CPU without AVX512-BF16: oneDNN capped at AVX512_CORE, torch's kernels at AVX2),
side by side. `bench/cpu_spread.py` measures; the Reproducibility page shows the committed file.

Headline numbers: each model's held-out perplexity of the human replies and mean Eq. (1)
score, the Table VI means, and the verdict of every paired test (the paper's claims on each
metric, the online loop's gains).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecc_utils import artifacts as A

__all__ = [
    "RESULTS",
    "compare",
    "drift_table",
    "headline",
    "key_numbers",
    "read_spread",
    "spread_file",
    "spread_meta_file",
    "summarise",
    "this_build",
    "vocab_file",
    "vocab_numbers",
]

RESULTS = Path(A.CPU_DRIFT_GLOB).parent  # bench/results/
_METRICS = {"perplexity, human reply": "perplexity", "final score (Eq. 1)": "mean Eq. (1) score"}


def spread_file(root: str | Path, profile: str) -> Path:
    """``bench/results/cpu_spread_<profile>.csv`` under the project root `root`."""
    return A.project_file("spread", root, profile)


def spread_meta_file(root: str | Path, profile: str) -> Path:
    """The spread's provenance (``bench/results/cpu_spread_<profile>.json``)."""
    return A.project_file("spread_meta", root, profile)


def headline(art: str | Path) -> pd.DataFrame:
    """The headline numbers of one run's artifact folder: columns kind, item, value (numbers)
    and verdict (paired tests)."""
    art = Path(art)
    rows = []
    metrics = pd.read_csv(art / A.rel("metrics"))
    for metric, kind in _METRICS.items():
        for r in metrics[metrics["metric"] == metric].itertuples():
            rows.append({"kind": kind, "item": r.model, "value": float(r.estimate)})
    table6 = pd.read_csv(art / A.rel("table6"), index_col=0)
    for model, value in table6.loc["Mean"].items():
        rows.append({"kind": "Table VI mean", "item": model, "value": float(value)})
    for r in pd.read_csv(art / A.rel("claims")).itertuples():
        rows.append({"kind": "claim verdict", "item": f"{r.claim}: {r.metric}",
                     "value": float(r.difference), "verdict": r.verdict})  # fmt: skip
    gain = art / A.rel("evolution_gain")
    if gain.is_file():
        for r in pd.read_csv(gain).itertuples():
            if r.round > 0:
                rows.append({"kind": "online loop verdict", "item": f"{r.arm} ({r.kind}), round "
                             f"{r.round}", "value": float(r.difference), "verdict": r.verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=["kind", "item", "value", "verdict"])


def compare(default: pd.DataFrame, narrowed: pd.DataFrame) -> pd.DataFrame:
    """Both runs' headline rows side by side (those measured in both), with the absolute and
    relative difference of each number and whether each verdict is the same."""
    both = default.merge(narrowed, on=["kind", "item"], how="inner",
                         suffixes=("_default", "_narrowed"))  # fmt: skip
    both["abs_diff"] = (both["value_narrowed"] - both["value_default"]).abs()
    both["rel_diff"] = both["abs_diff"] / both["value_default"].abs()
    tested = both["verdict_default"].notna() | both["verdict_narrowed"].notna()
    same = both["verdict_default"] == both["verdict_narrowed"]
    both["same_verdict"] = same.where(tested)
    return both


def summarise(spread: pd.DataFrame) -> pd.DataFrame:
    """Per kind of headline number: how many, the largest absolute and relative difference, and
    for verdicts how many changed."""
    rows = []
    for kind, part in spread.groupby("kind", sort=False):
        tested = part["same_verdict"].notna()
        rows.append({"kind": kind, "n": len(part),
                     "largest abs difference": part["abs_diff"].max(),
                     "largest relative difference": part["rel_diff"].max(),
                     "verdicts changed": int((part.loc[tested, "same_verdict"] == False).sum())  # noqa: E712
                     if tested.any() else None})  # fmt: skip
    return pd.DataFrame(rows)


def read_spread(path: str | Path) -> pd.DataFrame:
    """The committed comparison; a clear error when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no measurement of the spread between CPU features; run "
            "bench/cpu_spread.py (it builds the profile twice, about an hour on two cores)"
        )
    spread = pd.read_csv(path)
    spread["same_verdict"] = spread["same_verdict"].map({True: True, False: False, "True": True,
                                                         "False": False})  # fmt: skip
    return spread


def key_numbers(spread: pd.DataFrame, meta: dict) -> dict[str, str]:
    """The numbers the Reproducibility page glues into its prose, formatted."""
    by = summarise(spread).set_index("kind")

    def largest(kind: str, column: str, fmt: str) -> str:
        return format(by.loc[kind, column], fmt) if kind in by.index else "n/a"

    tested = spread["same_verdict"].notna()
    changed = int((spread.loc[tested, "same_verdict"] == False).sum())  # noqa: E712
    runs = meta.get("runs", {})
    minutes = {tag: f"{r.get('wall_time_s', 0) / 60:.0f} min" for tag, r in runs.items()}
    return {
        "spread_ppl": largest("perplexity", "largest relative difference", ".2g"),
        "spread_eq1": largest("mean Eq. (1) score", "largest abs difference", ".2g"),
        "spread_t6": largest("Table VI mean", "largest abs difference", ".2g"),
        "spread_verdicts": f"{changed} of {int(tested.sum())}",
        "spread_profile": str(meta.get("profile", "?")),
        "spread_variables": " ".join(
            f"{k}={v}" for k, v in meta.get("narrowed_variables", {}).items()
        )
        or "none",
        "spread_commit": str(meta.get("commit", "?")),
        "spread_date": str(meta.get("date", "?")),
        "spread_cpu": str(runs.get("default", {}).get("cpu", {}).get("model", "?")),
        "spread_default_time": minutes.get("default", "?"),
        "spread_narrowed_time": minutes.get("narrowed", "?"),
    }


def drift_table(results: str | Path) -> pd.DataFrame:
    """`bench/cpu_drift.py`'s fingerprints, one column per machine and setting, one row per check
    (equal entries in a row: bit-equal results)."""
    files = sorted(Path(results).glob("cpu_drift_*.csv"))
    if not files:
        return pd.DataFrame()
    rows = pd.concat([pd.read_csv(f, dtype=str) for f in files])
    order = list(dict.fromkeys(rows["check"]))
    return rows.pivot(index="check", columns="tag", values="value").reindex(order)


def this_build(spread: pd.DataFrame, art: str | Path) -> pd.DataFrame:
    """This build's headline numbers beside the measured default run's (the spread's), for the
    verdicts: the rows whose verdict differs, with both values. Empty when they all agree."""
    default = spread[["kind", "item", "value_default", "verdict_default"]].rename(
        columns={"value_default": "value", "verdict_default": "verdict"}
    )
    both = compare(default, headline(art))
    both = both.rename(columns=lambda c: c.replace("_narrowed", "_this_build"))
    return both[both["same_verdict"] == False]  # noqa: E712


def vocab_file(root: str | Path, profile: str) -> Path:
    """``bench/results/vocab_<profile>.csv`` (`bench/bench_vocab.py`: full against trimmed head)."""
    return A.project_file("vocab_bench", root, profile)


def vocab_numbers(table: pd.DataFrame) -> dict[str, str]:
    """Glue values for the Reproducibility page's section on the trimmed head, from
    `bench/bench_vocab.py`'s table (one row per model: the original, then an adapter)."""
    if table.empty:
        keys = ["kept", "full", "held_out_only", "inputs", "dtype", "adapter"] + [
            f"{m}_{k}" for m in ("original", "adapter")
            for k in ("ppl_full", "ppl_trimmed", "nll", "generate", "likelihood")
        ]  # fmt: skip
        return {f"vocab_{k}": "n/a" for k in keys}
    first = table.iloc[0]
    out = {
        "vocab_kept": f"{int(first['kept_tokens']):,}",
        "vocab_full": f"{int(first['full_tokens']):,}",
        "vocab_held_out_only": f"{int(first['held_out_only_tokens']):,}",
        "vocab_inputs": str(int(first["inputs"])),
        "vocab_dtype": str(first["dtype"]).removeprefix("torch."),
        "vocab_adapter": str(table.iloc[-1]["model"]).removeprefix("adapter ").split("/", 2)[-1],
    }
    for i, r in enumerate(table.itertuples()):
        key = "original" if i == 0 else "adapter"
        out |= {
            f"vocab_{key}_ppl_full": f"{r.perplexity_full:.2f}",
            f"vocab_{key}_ppl_trimmed": f"{r.perplexity_trimmed:.2f}",
            f"vocab_{key}_nll": f"{r.nll_difference:+.4f} [{r.nll_low:+.4f}, {r.nll_high:+.4f}]",
            f"vocab_{key}_generate": f"{r.generate_ratio:.2f}",
            f"vocab_{key}_likelihood": f"{r.likelihood_ratio:.2f}",
        }
    return out
