"""Numbers the seeded smoke pipeline records, pinned (recommenders' practice).

One entry per data source the smoke profile can use: "dir" (the real ECD/JDDC samples in
``ECC_DATA_DIR``, as CI runs it) and "synthetic" (no data folder). `tests/test_e2e.py` asserts
the artifacts of its run against these with ``pytest.approx``. A change of code that changes
them must say why in its commit. To regenerate, run the smoke pipeline once with the data
folder and once without, then ``python -m tests.smoke_results RUN_ROOT...`` prints this file
anew (the values of ``table6.csv``'s Mean row, ``data/stats.json``'s counts and rejections,
``score_summary.json``'s claims sentence and ``evolution.csv`` without its wall-clock
``train_time_s``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def record(root: str | Path) -> tuple[str, dict]:
    """(data source kind, the pinned numbers) of the smoke run under project root `root`."""
    import pandas as pd

    art = Path(root) / "artifacts" / "smoke"
    stats = json.loads((art / "data" / "stats.json").read_text(encoding="utf-8"))
    t6 = pd.read_csv(art / "table6.csv", index_col=0)
    summary = json.loads((art / "score_summary.json").read_text(encoding="utf-8"))
    return stats["source"]["kind"], {
        "table6_mean": [round(float(x), 6) for x in t6.loc["Mean"]],
        "counts": {k: v["by_source"] for k, v in stats["counts"].items()},
        "rejected": stats["rejected"],
        "claims": summary["claims"],
        "evolution": evolution_rows(art),
    }


def evolution_rows(art: Path) -> list[dict]:
    """``evolution.csv`` without its wall-clock ``train_time_s``, floats rounded to 6 digits,
    empty cells (the controls have no threshold) as None."""
    import math

    import pandas as pd

    ev = pd.read_csv(art / "evolution.csv").drop(columns=["train_time_s"])
    return [{k: (None if math.isnan(v) else round(v, 6)) if isinstance(v, float) else v
             for k, v in r.items()} for r in ev.to_dict("records")]  # fmt: skip


if __name__ == "__main__":
    source = Path(__file__).read_text(encoding="utf-8")
    pinned = dict(record(r) for r in sys.argv[1:])
    print(source[: source.rindex("\nPINNED") + 1] + "PINNED = " + repr(pinned))

PINNED = {
    "dir": {
        "table6_mean": [0.06814, 0.064806, 0.072692, 0.076592, 0.058587, 0.060015],
        "counts": {
            "train": {"ecd": 165, "jddc": 35},
            "teacher_queries": {"ecd": 24},
            "fewshot": {"ecd": 40},
            "eval": {"ecd": 12, "jddc_dev": 6},
        },
        "rejected": {
            "context_trimmed": 1058,
            "duplicate": 87,
            "empty_query": 2,
            "eval_leak_excluded": 109,
            "too_long_output": 1,
        },
        "claims": "LoRA above Prefix-Tuning at equal steps: contradicted by perplexity, human reply; inconclusive on 4 of 5 metrics. LoRA above P-Tuning v2 at equal steps: inconclusive on 5 of 5 metrics. LoRA improves with more steps: supported by perplexity, human reply; inconclusive on 4 of 5 metrics. Prefix-Tuning above the original model: supported by perplexity, human reply; inconclusive on 4 of 5 metrics. P-Tuning v2 above the original model: inconclusive on 5 of 5 metrics. LoRA above the original model: supported by perplexity, human reply; inconclusive on 4 of 5 metrics.",
        "evolution": [
            {
                "gate": "cloud",
                "round": 0,
                "n_queries": 0,
                "n_escalated": 0,
                "escalated_fraction": 0.0,
                "cloud_calls": 0,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 0,
                "probe_mean_score": 0.066256,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "cloud",
                "round": 1,
                "n_queries": 4,
                "n_escalated": 4,
                "escalated_fraction": 1.0,
                "cloud_calls": 4,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 4,
                "probe_mean_score": 0.061539,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "cloud",
                "round": 2,
                "n_queries": 4,
                "n_escalated": 4,
                "escalated_fraction": 1.0,
                "cloud_calls": 4,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 8,
                "probe_mean_score": 0.064264,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "match-only",
                "round": 0,
                "n_queries": 0,
                "n_escalated": 0,
                "escalated_fraction": 0.0,
                "cloud_calls": 0,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 0,
                "probe_mean_score": 0.066256,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "match-only",
                "round": 1,
                "n_queries": 4,
                "n_escalated": 0,
                "escalated_fraction": 0.0,
                "cloud_calls": 0,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 0,
                "probe_mean_score": 0.066256,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "match-only",
                "round": 2,
                "n_queries": 4,
                "n_escalated": 1,
                "escalated_fraction": 0.25,
                "cloud_calls": 1,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 1,
                "probe_mean_score": 0.054068,
                "probe_mean_sim": 0.0,
            },
        ],
    },
    "synthetic": {
        "table6_mean": [0.049011, 0.052056, 0.042969, 0.036116, 0.054513, 0.044048],
        "counts": {
            "train": {"synthetic": 193},
            "teacher_queries": {"synthetic": 24},
            "fewshot": {"synthetic": 40},
            "eval": {"synthetic": 18},
        },
        "rejected": {"duplicate": 11, "eval_leak_excluded": 28},
        "claims": "LoRA above Prefix-Tuning at equal steps: contradicted by final score (Eq. 1); inconclusive on 4 of 5 metrics. LoRA above P-Tuning v2 at equal steps: inconclusive on 5 of 5 metrics. LoRA improves with more steps: supported by perplexity, human reply; inconclusive on 4 of 5 metrics. Prefix-Tuning above the original model: supported by perplexity, human reply; inconclusive on 4 of 5 metrics. P-Tuning v2 above the original model: inconclusive on 5 of 5 metrics. LoRA above the original model: supported by perplexity, human reply; contradicted by final score (Eq. 1); inconclusive on 3 of 5 metrics.",
        "evolution": [
            {
                "gate": "cloud",
                "round": 0,
                "n_queries": 0,
                "n_escalated": 0,
                "escalated_fraction": 0.0,
                "cloud_calls": 0,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 0,
                "probe_mean_score": 0.026017,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "cloud",
                "round": 1,
                "n_queries": 4,
                "n_escalated": 4,
                "escalated_fraction": 1.0,
                "cloud_calls": 4,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 4,
                "probe_mean_score": 0.031465,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "cloud",
                "round": 2,
                "n_queries": 4,
                "n_escalated": 4,
                "escalated_fraction": 1.0,
                "cloud_calls": 4,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 8,
                "probe_mean_score": 0.042414,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "match-only",
                "round": 0,
                "n_queries": 0,
                "n_escalated": 0,
                "escalated_fraction": 0.0,
                "cloud_calls": 0,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 0,
                "probe_mean_score": 0.026017,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "match-only",
                "round": 1,
                "n_queries": 4,
                "n_escalated": 4,
                "escalated_fraction": 1.0,
                "cloud_calls": 4,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 4,
                "probe_mean_score": 0.031465,
                "probe_mean_sim": 0.0,
            },
            {
                "gate": "match-only",
                "round": 2,
                "n_queries": 4,
                "n_escalated": 1,
                "escalated_fraction": 0.25,
                "cloud_calls": 1,
                "cloud_input_tokens": 0,
                "cloud_output_tokens": 0,
                "buffer_size": 5,
                "probe_mean_score": 0.039724,
                "probe_mean_sim": 0.0,
            },
        ],
    },
}
