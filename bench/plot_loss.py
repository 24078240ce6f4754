"""Both training loss curves of a `bench_train.py` run, one panel per method, against the
samples seen (a running mean over `--window` samples, since a batch-1 loss is one pair's).

    python bench/plot_loss.py bench/results/train_cpu_fair_loss.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--window", type=int, default=16, help="samples per running mean")
    a = ap.parse_args()
    df = pd.read_csv(a.csv)
    methods = list(dict.fromkeys(df["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(4 * len(methods), 3.2), sharey=True,
                             squeeze=False)  # fmt: skip
    axes = axes[0]
    for ax, m in zip(axes, methods, strict=True):
        for path, part in df[df["method"] == m].groupby("path"):
            batch = max(1, int(part["samples_seen"].iloc[0]))
            smooth = part["loss"].rolling(max(1, a.window // batch), min_periods=1).mean()
            ax.plot(part["samples_seen"], smooth, label=f"{path} (batch {batch})")
        ax.set_title(m)
        ax.set_xlabel("training samples seen")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"training loss (running mean, {a.window} samples)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    out = Path(a.csv).with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
