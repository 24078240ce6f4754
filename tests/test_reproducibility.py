"""The spread between CPU features (`ecc_utils.report.reproducibility`): headline numbers read from a
run, two runs compared, the committed measurement, and the page that shows it."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from ecc_utils.report import reproducibility as rep
from tests.conftest import ROOT


@pytest.mark.slow
def test_the_smoke_runs_with_default_and_narrowed_features_agree(smoke_run, smoke_run_narrowed):
    """The test suite's two smoke runs: every verdict the same; Table VI and the Eq. (1) means
    to the 6 decimals they are pinned with; the held-out perplexity (not pinned) moves in its
    8th significant digit (measured: 4.6e-8 relative, claim differences in perplexity units by
    2.4e-5), so the tolerances below are a hundred times what was measured."""
    root, _, _ = smoke_run
    a = rep.headline(root / "artifacts" / "smoke")
    b = rep.headline(smoke_run_narrowed / "artifacts" / "smoke")
    assert set(a["kind"]) >= {"perplexity", "mean Eq. (1) score", "Table VI mean",
                              "claim verdict", "online loop verdict"}  # fmt: skip
    spread = rep.compare(a, b)
    assert len(spread) == len(a) == len(b)
    assert spread["same_verdict"].dropna().all()
    by = spread.groupby("kind")
    assert by.get_group("Table VI mean")["abs_diff"].max() <= 1e-6
    assert by.get_group("mean Eq. (1) score")["abs_diff"].max() <= 1e-6
    assert by.get_group("perplexity")["rel_diff"].max() <= 5e-6
    assert by.get_group("claim verdict")["abs_diff"].max() <= 2.5e-3
    summary = rep.summarise(spread).set_index("kind")
    assert summary.loc["claim verdict", "verdicts changed"] == 0


def _run(kind_values: dict[str, float], verdict: str) -> pd.DataFrame:
    rows = [{"kind": "perplexity", "item": m, "value": v, "verdict": None}
            for m, v in kind_values.items()]  # fmt: skip
    rows.append({"kind": "claim verdict", "item": "LoRA above x: ppl", "value": 1.0,
                 "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows)


def test_compare_and_summarise_measure_each_difference() -> None:
    spread = rep.compare(_run({"A": 10.0, "B": 20.0}, "supported"),
                         _run({"A": 11.0, "B": 20.0}, "inconclusive"))  # fmt: skip
    by = spread.set_index("item")
    assert by.loc["A", "abs_diff"] == pytest.approx(1.0)
    assert by.loc["A", "rel_diff"] == pytest.approx(0.1)
    assert by.loc["LoRA above x: ppl", "same_verdict"] == False  # noqa: E712
    assert pd.isna(by.loc["A", "same_verdict"])  # a number, not a test
    summary = rep.summarise(spread).set_index("kind")
    assert summary.loc["perplexity", "largest relative difference"] == pytest.approx(0.1)
    assert summary.loc["claim verdict", "verdicts changed"] == 1
    numbers = rep.key_numbers(spread, {"commit": "abc", "profile": "quick", "runs": {}})
    assert numbers["spread_ppl"] == "0.1" and numbers["spread_verdicts"] == "1 of 1"


def test_the_committed_measurement_reads_and_names_its_provenance() -> None:
    """The committed smoke measurement (the test suite's own two runs, default and narrowed):
    the numbers the smoke profile pins are equal, and so is every verdict; the held-out
    perplexity, which is not pinned, moves in its 8th significant digit."""
    path = rep.spread_file(ROOT, "smoke")
    spread = rep.read_spread(path)
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert {"commit", "date", "narrowed_variables", "runs"} <= set(meta)
    assert set(meta["runs"]) == {"default", "narrowed"}
    assert meta["runs"]["narrowed"]["cpu"]["variables"] == meta["narrowed_variables"]
    assert meta["runs"]["default"]["cpu"]["variables"] == {}
    assert {"perplexity", "claim verdict", "Table VI mean"} <= set(spread["kind"])
    assert spread["same_verdict"].dropna().all()
    by = rep.summarise(spread).set_index("kind")
    assert by.loc["Table VI mean", "largest abs difference"] == 0
    assert by.loc["perplexity", "largest relative difference"] < 1e-6
    with pytest.raises(FileNotFoundError, match="bench/cpu_spread.py"):
        rep.read_spread(path.with_name("cpu_spread_nothing.csv"))


def test_the_page_is_planned_only_where_the_spread_was_measured(tmp_path) -> None:
    from ecc_utils.build.plan import build_plan
    from ecc_utils.config import load_profile

    cfg = load_profile(ROOT / "params" / "quick.yaml")
    shutil.copytree(ROOT / "params", tmp_path / "params")
    results = tmp_path / rep.RESULTS
    results.mkdir(parents=True)
    for p in (ROOT / rep.RESULTS).glob("cpu_spread_*"):
        if not p.name.startswith("cpu_spread_quick"):
            shutil.copy(p, results)
    assert "10_reproducibility" not in [s.key for s in build_plan(cfg, tmp_path / "params")]
    smoke = rep.spread_file(ROOT, "smoke")
    for suffix in (".csv", ".json"):
        shutil.copy(smoke.with_suffix(suffix), results / f"cpu_spread_quick{suffix}")
    (results / "cpu_drift_x.csv").write_text("tag,check,value\nx,cpu,y\n", encoding="utf-8")
    step = build_plan(cfg, tmp_path / "params")[-1]
    assert step.key == "10_reproducibility"
    assert any(e.endswith("cpu_drift_x.csv") for e in step.external)
    assert not any("vocab_" in e for e in step.external)
    shutil.copy(rep.vocab_file(ROOT, "quick"), results)
    step = build_plan(cfg, tmp_path / "params")[-1]
    assert any(e.endswith("vocab_quick.csv") for e in step.external)
    assert "claims.csv" in step.inputs  # the page compares this build's verdicts


def test_the_drift_table_has_a_column_per_machine_and_setting() -> None:
    table = rep.drift_table(ROOT / rep.RESULTS)
    assert {"epyc", "h200-host"} <= set(table.columns)
    numerics = table.loc["retrieval numerics.pairwise_dots"]
    assert numerics.nunique() == 1  # the same bits on every machine and setting
    assert table.loc["retrieval float32 (Q @ M.T)"].nunique() > 1


def test_this_build_lists_only_the_verdicts_that_moved(monkeypatch) -> None:
    measured = rep.compare(_run({"A": 10.0}, "supported"), _run({"A": 10.5}, "supported"))
    monkeypatch.setattr(rep, "headline", lambda art: _run({"A": 12.0}, "supported"))
    assert rep.this_build(measured, "unused").empty  # numbers moved, the verdict did not
    monkeypatch.setattr(rep, "headline", lambda art: _run({"A": 10.0}, "inconclusive"))
    moved = rep.this_build(measured, "unused")
    assert list(moved["item"]) == ["LoRA above x: ppl"]
    assert list(moved[["verdict_default", "verdict_this_build"]].iloc[0]) == [
        "supported",
        "inconclusive",
    ]


def test_the_trimmed_head_measurement_reads_and_only_lowers_perplexity() -> None:
    """`bench/results/vocab_quick.csv` (`bench/bench_vocab.py`): a trimmed head renormalises over
    the kept tokens, so every model's held-out perplexity falls and the paired NLL difference
    lies below zero; the page's glue values come from the table."""
    table = pd.read_csv(rep.vocab_file(ROOT, "quick"))
    assert list(table["model"])[0] == "Original Model" and len(table) == 2
    assert (table["perplexity_trimmed"] < table["perplexity_full"]).all()
    assert (table["nll_high"] < 0).all() and (table["nll_low"] <= table["nll_difference"]).all()
    assert (table["kept_tokens"] < table["full_tokens"]).all()
    numbers = rep.vocab_numbers(table)
    assert numbers["vocab_kept"] == f"{int(table['kept_tokens'][0]):,}"
    assert numbers["vocab_adapter"].startswith("runs/lora/checkpoint-")
    assert numbers["vocab_original_ppl_trimmed"] == f"{table['perplexity_trimmed'][0]:.2f}"
    assert set(rep.vocab_numbers(pd.DataFrame())) == set(numbers)  # no file: n/a, same keys
    assert set(rep.vocab_numbers(pd.DataFrame()).values()) == {"n/a"}


def test_benchmarks_name_the_cpu_generation_and_its_bfloat16():
    """`bench/common.cpu_identity`: the benchmark CSVs' device column tells CPU families apart
    (two AMD EPYCs, with and without AVX512-BF16, share a model name) and says whether the
    quick profile computed in bfloat16 there."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from common import cpu_identity

    milan = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n"
    assert cpu_identity(
        milan + "flags\t\t: fpu sse2 avx avx2 fma\n\nprocessor: 1\nflags: amx_bf16\n"
    ) == ("AMD EPYC (family 25 model 1), AVX2, no native bf16")
    genoa = milan.replace(": 1\n", ": 17\n") + "flags: avx2 avx512f avx512_bf16\n"
    assert cpu_identity(genoa) == "AMD EPYC (family 25 model 17), AVX512, AVX512-BF16"
    xeon = "cpu family: 6\nmodel: 143\nmodel name: Intel(R) Xeon(R)\nflags: avx512f amx_bf16\n"
    assert cpu_identity(xeon) == "Intel(R) Xeon(R) (family 6 model 143), AVX512, AMX"
