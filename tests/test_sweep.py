"""ecc_utils.train.sweep: the pick rule and how several sweep invocations make one table."""

from __future__ import annotations

import pandas as pd
import pytest

from ecc_utils.train.sweep import best_settings, merge_sweeps, read_sweep


def row(method, lr=None, bs=None, samples=256, ppl=100.0, degenerate=0.0, guard=None, **kw):
    return {"method": method, "learning_rate": lr, "batch_size": bs, "steps": 0 if lr is None
            else samples // bs, "samples": samples, "ppl_human": ppl, "ppl_ratio": ppl / 186,
            "degenerate": degenerate, "degenerate_guard": guard, "r10_1": 0.3, **kw}  # fmt: skip


def test_the_pick_is_acceptable_first_then_lowest_perplexity():
    table = pd.DataFrame([
        row("original", ppl=186),
        row("lora", 1e-3, 4, ppl=98, degenerate=0.3, guard=0.03),  # the guard rescues it
        row("lora", 2e-3, 4, ppl=90, degenerate=0.2, guard=0.2),  # lower ppl, but loops
        row("lora", 2e-3, 4, samples=128, ppl=80),  # half budget: never the pick
        row("prefix", 2e-3, 1, ppl=110, degenerate=0.1, guard=0.09),
        row("prefix", 2e-3, 4, ppl=112, degenerate=0.1, guard=0.12),
    ])  # fmt: skip
    best = best_settings(table).set_index("method")
    assert best.loc["lora", "learning_rate"] == 1e-3  # acceptable beats lower perplexity
    assert best.loc["prefix", "batch_size"] == 1  # none acceptable: the lowest perplexity
    plain = best_settings(table, guarded=False).set_index("method")
    assert plain.loc["lora", "learning_rate"] == 2e-3  # without the guard neither is acceptable


def test_merging_replaces_a_setting_measured_again_and_keeps_the_newest_original():
    old = pd.DataFrame([
        row("original", ppl=186, guard=0.03, guard_name="pen1.0"),
        row("prefix", 2e-3, 4, ppl=113, guard=0.09, guard_name="pen1.3"),
        row("prefix", 2e-3, 4, samples=128, ppl=119),
        row("lora", 1e-3, 4, ppl=98),
        row("ptuning_v2", None, None, samples=0, ppl=160, prefix_init="text"),
    ])  # fmt: skip
    new = pd.DataFrame([
        row("original", ppl=186, guard=0.0, guard_name="pen1.2"),
        row("prefix", 0.002, 4, ppl=113, guard=0.06, guard_name="pen1.2"),
        row("prefix", 2e-3, 1, ppl=110),
    ])  # fmt: skip
    merged = merge_sweeps(old, new)
    assert list(merged["method"]).count("original") == 1
    assert merged.iloc[0]["guard_name"] == "pen1.2"
    prefix = merged[(merged["method"] == "prefix") & (merged["samples"] == 256)]
    assert sorted(prefix["batch_size"]) == [1, 4]
    assert prefix[prefix["batch_size"] == 4]["guard_name"].tolist() == ["pen1.2"]
    assert len(merged) == 6  # original, 2 prefix at 256, prefix at 128, lora, the init row
    assert merged["prefix_init"].eq("text").sum() == 1


def test_a_table_without_a_required_column_is_refused(tmp_path):
    path = tmp_path / "quick.csv"
    pd.DataFrame([row("lora", 1e-3, 4)]).drop(columns="ppl_ratio").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"quick.csv: columns \['ppl_ratio'\] missing"):
        read_sweep(path)
    with pytest.raises(FileNotFoundError, match="bench/sweep_train.py"):
        read_sweep(tmp_path / "none.csv")
