"""End to end: the smoke profile through every notebook into a temporary project copy.

The run writes only under the temporary folder; the assertions read the artifacts the notebooks
wrote (JSON/CSV), the manifest, and the book's HTML.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKE_KEY
from tests.smoke_results import PINNED, cpu_vendor, evolution_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_every_step_ran_and_is_recorded(smoke_run):
    root, out, _ = smoke_run
    manifest = json.loads((root / "artifacts" / "smoke" / "manifest.json").read_text())
    from ecc_utils.build.pipeline import build_plan
    from ecc_utils.config import load_profile

    plan = build_plan(load_profile(root / "params" / "smoke.yaml"))
    for step in plan:
        rec = manifest["steps"][step.key]
        assert rec["status"] == "ok" and rec["wall_time_s"] > 0, step.key
        assert set(rec["fingerprint"]) == {
            "notebook",
            "parameters",
            "ecc_utils",
            "modules",
            "inputs",
            "external",
        }
        # each module the notebook imports, by name (what --dry-run reports as changed)
        assert all(m.startswith("ecc_utils") for m in rec["fingerprint"]["modules"])
        assert (root / "book" / "generated" / "smoke" / f"{step.key}.ipynb").is_file()
        for o in step.outputs:
            assert (root / "artifacts" / "smoke" / o).exists(), (step.key, o)
        assert f"{step.key}: done in" in out
    assert "total wall time" in out


def test_second_run_executes_no_notebook(smoke_run):
    root, _, second = smoke_run
    assert "notebooks: 0 executed" in second
    assert "book: up to date" in second  # same sources: the HTML is kept
    manifest = json.loads((root / "artifacts" / "smoke" / "manifest.json").read_text())
    assert manifest["last_run"]["executed"] == 0


def test_book_pages_exist_and_link_every_executed_notebook(smoke_run):
    root, _, _ = smoke_run
    html = root / "_build" / "html"
    index = html / "index.html"
    assert index.is_file()
    for page in ("method", "deviations", "generated/smoke/paper_scale"):
        assert (html / f"{page}.html").is_file(), page
    executed = sorted((root / "book" / "generated" / "smoke").glob("*.ipynb"))
    assert executed
    # The landing page is the results notebook; its contents list links every page.
    landing = (html / "generated" / "smoke" / "08_results.html").read_text(encoding="utf-8")
    assert "Results at a glance" in landing and "url=generated/smoke/08_results.html" in (
        index.read_text(encoding="utf-8")
    )
    for nb in executed:
        page = html / "generated" / "smoke" / f"{nb.stem}.html"
        assert page.is_file(), page
        if nb.stem != "08_results":
            assert f"{nb.stem}.html" in landing, f"no link to {nb.stem}"


def test_no_cell_shows_the_path_an_artifact_was_written_to(smoke_run):
    """`Artifacts.write` returns the file's path; a cell that ends with it would show
    ``PosixPath('../artifacts/...')`` in the book, which says nothing to a reader."""
    root, _, _ = smoke_run
    shown = []
    for nb in sorted((root / "book" / "generated" / "smoke").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                text = "".join(out.get("data", {}).get("text/plain", ""))
                if text.startswith("PosixPath("):
                    shown.append(f"{nb.stem} cell {i}: {text}")
    assert not shown


def test_environment_artifact(smoke_run):
    root, _, _ = smoke_run
    env = json.loads((root / "artifacts" / "smoke" / "environment.json").read_text())
    assert env["profile"]["name"] == "smoke"
    assert env["packages"]["torch"].startswith("2.13")
    assert all(isinstance(v, bool) for v in env["api_keys_present"].values())


def test_data_stage_statistics(smoke_run):
    root, _, _ = smoke_run
    from ecc_utils.config import load_profile
    from ecc_utils.records import read_examples

    cfg = load_profile(root / "params" / "smoke.yaml")
    art = root / "artifacts" / "smoke" / "data"
    stats = json.loads((art / "stats.json").read_text(encoding="utf-8"))
    assert stats["source"]["kind"] in ("dir", "ecd_sample", "synthetic")
    counts = stats["counts"]
    assert counts["eval"]["total"] == cfg.data.n_eval
    assert counts["fewshot"]["total"] == cfg.data.n_fewshot
    assert counts["teacher_queries"]["total"] == cfg.data.n_teacher_queries
    assert 0 < counts["train"]["total"] <= cfg.data.n_train
    for split, c in counts.items():
        assert len(read_examples(art / f"{split}.jsonl")) == c["total"], split
    labels = [e.label for e in read_examples(art / "eval.jsonl")][:6]
    assert labels[0] == "Hello" and labels[2] == "520401029636" and None not in labels
    assert stats["tokens_per_utterance"]["train"] > 0


def test_teacher_second_run_makes_no_calls(smoke_run):
    root, _, _ = smoke_run
    summary = root / "artifacts" / "smoke" / "teacher" / "summary.json"
    labels = root / "artifacts" / "smoke" / "teacher" / "labels.jsonl"
    first, first_labels = json.loads(summary.read_text(encoding="utf-8")), labels.read_bytes()
    assert first["n_labels"] > 0 and first["calls"] + first["cache_hits"] == first["n_labels"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", GEMINI_API_KEY=FAKE_KEY)
    cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(root), "--profile", "smoke"]
    r = subprocess.run(
        [*cmd, "--force", "--only", "02_cloud_labels", "--no-book"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    again = json.loads(summary.read_text(encoding="utf-8"))
    assert again["calls"] == 0 and again["cache_hits"] == again["n_labels"] == first["n_labels"]
    assert labels.read_bytes() == first_labels  # so nothing downstream re-runs


def test_no_secret_in_any_artifact_or_executed_notebook(smoke_run):
    root, out, second = smoke_run
    assert FAKE_KEY not in out + second
    places = [root / "artifacts", root / "book" / "generated", root / "_build" / "html"]
    files = [f for p in places for f in p.rglob("*") if f.is_file()]
    assert len(files) > 10
    for f in files:
        assert FAKE_KEY.encode() not in f.read_bytes(), f


def test_training_pages_and_logs_for_every_method(smoke_run):
    root, _, _ = smoke_run
    from ecc_utils.config import load_profile

    cfg = load_profile(root / "params" / "smoke.yaml")
    for m in cfg.train.methods:
        log = json.loads((root / "artifacts" / "smoke" / "runs" / m / "train_log.json").read_text())
        assert log["milestones"] == list(cfg.train.milestones[m])
        for s in cfg.train.milestones[m]:
            ckpt = root / "artifacts" / "smoke" / "runs" / m / f"checkpoint-{s}"
            assert (ckpt / "adapter_config.json").is_file(), ckpt
        assert (root / "_build" / "html" / "generated" / "smoke" / f"03_train-{m}.html").is_file()


def test_table6_has_the_papers_rows_and_columns(smoke_run):
    import pandas as pd

    from ecc_utils import paper, scoring
    from ecc_utils.config import load_profile

    root, _, _ = smoke_run
    cfg = load_profile(root / "params" / "smoke.yaml")
    art = root / "artifacts" / "smoke"
    table = pd.read_csv(art / "table6.csv", index_col=0)
    assert list(table.index) == [*paper.TABLE6_LABELS, paper.MEAN_LABEL]
    assert list(table.columns) == paper.model_labels(cfg.train.milestones, cfg.train.methods)
    assert table.columns[0] == "Original Model" and table.columns[-1].startswith("LoRA")
    assert ((table >= 0) & (table <= 1)).all().all()
    scores = pd.read_csv(art / "scores.csv")
    assert len(scores) == cfg.data.n_eval * len(table.columns)
    assert {"sim_raw", "match_raw", "sim", "match", "cloud_match", "final_score"} <= set(scores)
    summary = json.loads((art / "score_summary.json").read_text(encoding="utf-8"))
    # The sentence is built from the verdicts of the paired tests it sits beside.
    claims = pd.read_csv(art / "claims.csv")
    assert summary["claims"] == scoring.summary_sentence(claims)
    assert set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive"}
    assert len(claims) == len(scoring.CLAIM_METRICS) * len(scoring.claims_of(cfg.train))
    metrics = pd.read_csv(art / "metrics.csv")
    assert set(metrics["metric"]) == set(scoring.METRICS)
    assert set(metrics["model"]) == set(table.columns)
    assert ((metrics["low"] <= metrics["estimate"] + 1e-9)
            & (metrics["estimate"] <= metrics["high"] + 1e-9)).all()  # fmt: skip
    per_input = pd.read_csv(art / "per_input.csv")
    assert len(per_input) == cfg.data.n_eval * len(table.columns)
    n_groups = len((art / "data" / "candidates.jsonl").read_text().splitlines())
    assert len(pd.read_csv(art / "per_group.csv")) == n_groups * len(table.columns)
    validity = pd.read_csv(art / "validity.csv", index_col=0)
    assert {"embedder", "matcher", "baseline"} <= set(validity["role"])
    assert "end-model (original)" in validity.index
    agreement = pd.read_csv(art / "agreement.csv")
    assert len(agreement) == 4 and agreement["estimate"].between(-1, 1).all()
    glance = pd.read_csv(art / "glance.csv")
    assert glance["status"].isin(["reproduced", "not reproduced", "inconclusive",
                                  "not reproducible offline"]).all()  # fmt: skip
    for name in ("fig3.png", "fig3.svg", "figures/intrinsic_metrics.png", "evolution_gain.csv"):
        assert (art / name).stat().st_size > 0, name
    # The scoring page shows the figures that 05 drew from its tables, the files themselves.
    html_dir = root / "_build" / "html"
    page = (html_dir / "generated" / "smoke" / "04_score.html").read_text(encoding="utf-8")
    for stem in ("intrinsic_metrics", "score_distributions"):
        assert f'src="../../_images/{stem}.png"' in page, stem
        drawn = (art / "figures" / f"{stem}.png").read_bytes()
        assert (html_dir / "_images" / f"{stem}.png").read_bytes() == drawn, stem


def test_evolution_covers_both_gates(smoke_run):
    import pandas as pd

    from ecc_utils.config import load_profile

    root, _, _ = smoke_run
    cfg = load_profile(root / "params" / "smoke.yaml")
    art = root / "artifacts" / "smoke"
    table = pd.read_csv(art / "evolution.csv")
    ev = cfg.evolve
    assert list(dict.fromkeys(table["arm"])) == [*ev.gates, *ev.controls]
    for _, g in table.groupby("arm"):
        assert g["round"].tolist() == list(range(ev.rounds + 1))
    later = table[table["round"] > 0].set_index(["arm", "round"])
    assert (later.loc["cloud", "cloud_calls"] == ev.queries_per_round).all()  # the paper's gate
    match_only = later.loc["match-only"]
    assert (match_only["cloud_calls"] == match_only["n_escalated"]).all()
    assert (match_only["n_escalated"] > 0).any()  # the percentile rule escalates something
    assert later.loc[("cloud", 1), "escalated_fraction"] < 0.5  # a minority at round 1
    assert list(later.loc["random", "n_escalated"]) == list(later.loc["cloud", "n_escalated"])
    assert (later.loc["no-update", "cloud_calls"] == 0).all()
    gain = pd.read_csv(art / "evolution_gain.csv")
    assert len(gain) == len(table) and (gain["low"] <= gain["high"]).all()
    controls = pd.read_csv(art / "evolution_controls.csv")
    assert set(controls["other"]) == set(ev.controls)
    assert (table["probe_human_perplexity"] > 1).all() and table["probe_human_score"].notna().all()
    assert set(controls["metric"]) == {"probe gain (Eq. 1)", "probe gain (Eq. 1 vs human reply)",
                                       "probe perplexity change (human reply)"}  # fmt: skip
    oracle = pd.read_csv(art / "evolution_oracle_controls.csv")  # smoke runs the oracle arms
    pairs = set(zip(oracle["better"], oracle["other"], strict=True))
    assert {("cloud", "random"), ("cloud", "no-update")} <= pairs
    page = root / "_build" / "html" / "generated" / "smoke" / "06_online_evolution.html"
    html = page.read_text(encoding="utf-8")
    assert "match-only" in html and "saved" in html and "against the human replies" in html
    # the sanity check, the update in words and what the probe can detect, glued from the run
    assert "Updating on perfect labels (the human reply as the cloud" in html
    assert "a peak rate of 0.0001 (0.1 times the method" in html
    assert "detects, at 80 % power, a change of the human-reply perplexity of" in html
    assert (art / "figures" / "evolution_perplexity.png").stat().st_size > 0
    for stem in ("evolution", "evolution_perplexity", "evolution_gain"):  # drawn by their step
        assert f'src="../../_images/{stem}.png"' in html, stem
    results = root / "_build" / "html" / "generated" / "smoke" / "08_results.html"
    html = results.read_text(encoding="utf-8")
    assert "What the online loop cost" in html and "single-run" in html  # no smoke study
    assert (art / "figures" / "claims.png").stat().st_size > 0


def test_a_study_of_two_seeds_pools_them_and_the_pages_read_it(smoke_run, tmp_path):
    """`robustness.study_table` on the smoke run taken as two seeds: every seed's rows, pooled
    rows over inputs x seeds with statuses from their verdicts; the loop page's and the
    results page's views of it, once committed for the current code and once for other code."""
    import pandas as pd

    from ecc_utils import evolve
    from ecc_utils.config import load_profile
    from ecc_utils.report import results_study
    from ecc_utils.report import robustness as R
    from ecc_utils.scoring import claims_of
    from tests.conftest import copy_code

    root, _, _ = smoke_run
    cfg = load_profile(root / "params" / "smoke.yaml")
    art = root / "artifacts" / "smoke"
    study = R.study_table({0: art, 1: art}, claims_of(cfg.train), cfg.teacher.backend)
    seeds = study[study["seed"] != "pooled"]
    pooled = study[study["seed"] == "pooled"]
    claims = pd.read_csv(art / "claims.csv")
    assert len(seeds[seeds["section"] == "claim"]) == 2 * len(claims)
    assert len(pooled[pooled["section"] == "claim"]) == len(claims)
    assert (pooled.loc[pooled["section"] == "claim", "n"].to_numpy() == 2 * claims["n"]).all()
    assert set(pooled.loc[pooled["section"] == "loop", "teacher"]) == {"knn", "oracle"}
    for _, r in pooled.iterrows():
        same = seeds[(seeds["key"] == r["key"]) & (seeds["metric"] == r["metric"])
                     & (seeds["teacher"] == r["teacher"])]  # fmt: skip
        assert len(same) == 2 and r["status"] == R.status(same["verdict"].tolist(), r["verdict"])
    view = evolve.study_loop_table(study)
    assert {"seed 0", "seed 1", "pooled", "status"} <= set(view.columns)
    assert list(view.index.names) == ["teacher", "comparison", "metric"]
    assert "with the oracle teacher" in evolve.teachers_sentence(study)
    # committed for the code of this tree: the results page decides across seeds
    project = copy_code(tmp_path / "project", params=root / "params")
    out = R.study_file(project, "smoke")
    out.parent.mkdir(parents=True)
    study.to_csv(out, index=False)
    meta = {"commit": "abc1234", "date": "2026-12-05", "seeds": [0, 1],
            "fingerprint": R.code_fingerprint(project, "smoke")}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    ev = results_study.Evidence.load(project, "smoke")
    assert ev.current and ev.seeds == ["0", "1"] and "ran for the code" in ev.note()
    table = results_study.seed_table(ev, cfg.teacher.backend)
    assert table.index.name == "claim"  # the full names, not a row number
    assert list(table.columns) == ["seed 0", "seed 1", "pooled (inputs x seeds)", "status"]
    assert len(table) == len(claims_of(cfg.train)) + 3  # + the loop's three comparisons
    key = claims_of(cfg.train)[0].key
    assert ev.status(key) == pooled[(pooled["key"] == key) & (pooled["metric"] ==
                                     "final score (Eq. 1)")]["status"].iloc[0]  # fmt: skip
    rows, what = results_study.figure_rows(ev, claims)
    assert "pooled over 2 seeds" in what and set(rows["status"]) <= set(R_STATUSES)
    fig = results_study.claims_figure(rows, what)
    assert len(fig.get_axes()) == 2
    # other code: single-run, and the figure falls back to this run's tests
    meta["fingerprint"] = "0" * 16
    out.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    ev = results_study.Evidence.load(project, "smoke")
    assert not ev.current and "single-run" in ev.note() and ev.status(key) is None
    assert "single-run" in results_study.figure_rows(ev, claims)[1]
    # other code that reproduced seed 0 exactly (bench/robustness.py --verify): current again
    assert R.verify_seed(art, study, 0, cfg.teacher.backend) == []
    meta["verified"] = [{"fingerprint": R.code_fingerprint(project, "smoke"), "commit": "def5678",
                         "date": "2026-12-06", "seed": 0}]  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    ev = results_study.Evidence.load(project, "smoke")
    assert ev.current and ev.status(key) is not None
    assert "reproduced its seed 0 to the last digit (commit def5678" in ev.note()
    # this build against the study's seed 0: equal here; on another CPU, the verdicts that agree
    assert "are the study's seed 0 to the last digit" in ev.build_note(art, 0, cfg.teacher.backend)
    assert ev.build_note(art, 7, cfg.teacher.backend) == ""  # a seed the study lacks
    other = study.copy()
    first = other.index[(other["seed"] == "0") & (other["section"] == "claim")][0]
    other.loc[first, "difference"] += 1e-3
    other.loc[first, "verdict"] = "other"
    ev = results_study.Evidence(other, meta, ev.basis)
    n = len(R.seed_rows(art, 0, cfg.teacher.backend))
    assert "differ from the study's seed 0" in ev.build_note(art, 0, cfg.teacher.backend)
    assert f"{n - 1} of its {n} verdicts" in ev.build_note(art, 0, cfg.teacher.backend)
    assert results_study.Evidence(other, meta, None).build_note(art, 0, "knn") == ""


R_STATUSES = ("reproduced", "seed-dependent", "inconclusive", "not reproduced")


def _pinned(root: Path) -> dict:
    vendor = cpu_vendor()
    if vendor not in PINNED:
        pytest.skip(f"no smoke numbers are pinned for {vendor} CPUs (tests/smoke_results.py "
                    f"has {', '.join(PINNED)}): record them with python -m tests.smoke_results")  # fmt: skip
    stats = json.loads((root / "artifacts" / "smoke" / "data" / "stats.json").read_text())
    return PINNED[vendor][stats["source"]["kind"]]


# Numbers are written rounded to 6 decimals (tests/smoke_results.py), so 1e-6 is one unit in the
# last place: the tolerance for a rounding that falls the other way, nothing more.
ABS = 1e-6
# Perplexities of a few hundred, summed in float32: narrowed kernels (Intel Xeon, NARROWED)
# moved them by at most 3.8e-5 (1e-7 relative), more than a 6th-decimal unit; ten times that.
RELATIVE = {"probe_human_perplexity": 1e-6}


def assert_pinned(root: Path) -> None:
    """The smoke run under `root` recorded the numbers of tests/smoke_results.py."""
    import pandas as pd

    art = root / "artifacts" / "smoke"
    want = _pinned(root)
    table = pd.read_csv(art / "table6.csv", index_col=0)
    assert list(table.loc["Mean"]) == pytest.approx(want["table6_mean"], abs=ABS)
    stats = json.loads((art / "data" / "stats.json").read_text(encoding="utf-8"))
    assert {k: v["by_source"] for k, v in stats["counts"].items()} == want["counts"]
    assert stats["rejected"] == want["rejected"]
    summary = json.loads((art / "score_summary.json").read_text(encoding="utf-8"))
    assert summary["claims"] == want["claims"]
    if "evolution" not in want:  # not recorded on this vendor's CPUs for the current loop
        return
    rows = evolution_rows(art)
    assert len(rows) == len(want["evolution"])
    for got, exp in zip(rows, want["evolution"], strict=True):
        fixed = {k: v for k, v in exp.items() if k not in RELATIVE}
        assert {k: got[k] for k in fixed} == pytest.approx(fixed, abs=ABS)  # pinned columns
        for k in RELATIVE.keys() & exp.keys():
            assert got[k] == pytest.approx(exp[k], rel=RELATIVE[k]), k


def test_recorded_numbers_are_the_pinned_ones(smoke_run):
    """The smoke pipeline is seeded: its Table VI means, pool sizes, claims sentence and
    online-loop rounds are the numbers recorded in tests/smoke_results.py. Counts, sizes,
    verdicts and the claims sentence are exact; a number within one unit of its 6th decimal.
    The profile computes in float32 throughout (no bfloat16, whatever the CPU offers) and its
    retrieval and cosines in rounded float64 (`ecc_utils.numerics`), so the kernels of another
    processor change no decision; `test_recorded_numbers_hold_with_cpu_features_narrowed` checks
    that on this machine."""
    root, _, _ = smoke_run
    assert_pinned(root)


def test_recorded_numbers_hold_with_cpu_features_narrowed(smoke_run_narrowed):
    """Another machine, emulated on this one: the same pinned numbers, with the same tolerance,
    from a run whose arithmetic uses other kernels (`NARROWED` in tests/conftest.py: oneDNN
    capped at AVX512_CORE, torch's kernels at AVX2, MKL's compatible code path, numpy without
    AVX512, one thread). Measured drift of every pinned number against the default run: 0 (also
    with torch's kernels at their baseline and OpenBLAS's Haswell kernel, tried by hand). Each of
    these settings changes the bits of the kernels it governs (bench/cpu_drift.py)."""
    assert_pinned(smoke_run_narrowed)


def test_book_hides_parameters_titles_methods_and_names_no_absolute_path(smoke_run):
    root, _, _ = smoke_run
    html = root / "_build" / "html" / "generated" / "smoke"
    lora = (html / "03_train-lora.html").read_text(encoding="utf-8")
    assert "<title>Fine-tuning the end model: LoRA" in lora
    for page in html.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'params_file = "' not in text, page.name  # parameters cells are hidden
        for folder in {str(root), os.environ.get("ECC_DATA_DIR") or str(root), str(Path.home())}:
            assert folder not in text, (page.name, folder)


def test_the_scoring_profile_times_every_phase_of_the_page(smoke_run, tmp_path):
    # bench/profile_score.py runs page 04's own calls on the built artifacts; every model's
    # answers, likelihoods and selection scores get a row, and the phases add up to its run.
    root, _, _ = smoke_run
    cmd = [sys.executable, str(ROOT / "bench" / "profile_score.py"), "--profile", "smoke",
           "--artifacts", str(root / "artifacts" / "smoke"), "--tag", "test", "--out",
           str(tmp_path)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=root,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"))  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    import pandas as pd

    rows = pd.read_csv(tmp_path / "profile_score_smoke_test.csv")
    per_model = rows[rows["model"].notna()]
    models = json.loads((root / "artifacts" / "smoke" / "manifest.json").read_text())
    assert models["steps"]["04_score"]["wall_time_s"] == rows["page_wall_time_s"].iloc[0]
    for phase in ("answer (profile's sampling)", "likelihood of the human and teacher replies",
                  "selection scores of the candidate groups"):  # fmt: skip
        assert per_model.loc[per_model["phase"] == phase, "model"].nunique() == rows["models"][0]
    # Each share is rounded to 4 decimals, so their sum may pass 1 by half a unit a row.
    bound = 1 + 0.5e-4 * len(rows)
    assert (rows["seconds"] >= 0).all() and 0.5 < rows["share"].sum() <= bound


def test_editing_a_module_reruns_only_the_steps_that_import_it(smoke_run):
    """Runs last: with a copy of the package on PYTHONPATH, editing the plotting module makes
    the figure pages stale (``--dry-run`` lists them; the edit undone, nothing), editing the
    training code re-runs training (up to the scoring page, which stays up to date) and makes
    the loop page stale."""
    root, _, _ = smoke_run
    import ecc_utils

    pkg = root / "ecc_utils"
    shutil.copytree(Path(ecc_utils.__file__).parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(root), "--profile", "smoke",
           "--no-book"]  # fmt: skip

    out: list[str] = []

    def executed(*extra: str) -> list[str]:
        r = subprocess.run([*cmd, *extra], capture_output=True, text=True, env=env, cwd=root)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        out[:] = r.stdout.splitlines()
        # "[i/n] key: running ..." (the loop's line adds what it resumes from)
        return [line.split("] ")[1].split(":")[0] for line in r.stdout.splitlines()
                if ": running ..." in line]  # fmt: skip

    def dry_run() -> list[str]:
        r = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, env=env, cwd=root)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        out[:] = r.stdout.splitlines()
        # "would run: key (last run 1.2 s): why"
        return [line.split(": ", 1)[1].split(" (")[0] for line in out
                if line.startswith("would run: ")]  # fmt: skip

    assert dry_run() == [] and executed() == []  # the copy is the same code: nothing to do
    plots = (pkg / "report" / "plots.py").read_text()
    (pkg / "report" / "plots.py").write_text(plots + "\n# edited\n")
    # The figure steps (05 draws the scoring page's, 06_online_evolution_figures the loop's)
    # and the pages that draw their own: 01's histograms, 08's claims. No scoring, no loop
    # (what --dry-run lists is what a run would execute first: every step that imports it).
    assert dry_run() == ["01_data", "05_figures", "06_online_evolution_figures", "08_results"]
    assert all(line.endswith("ecc_utils changed: ecc_utils.report.plots") for line in out[:-1])
    assert out[-1].startswith("4 steps; their last runs took ")
    (pkg / "report" / "plots.py").write_text(plots)
    assert dry_run() == []
    trainer = pkg / "train" / "trainer.py"
    trainer.write_text(trainer.read_text() + "\n# edited\n")
    ran = executed("--until", "04_score")  # the pages after scoring: --dry-run below
    assert [k for k in ran if k.startswith("03_train")] == ["03_train-prefix",
                                                            "03_train-ptuning_v2",
                                                            "03_train-lora"]  # fmt: skip
    # The adapters were trained again, not resumed from those of the old trainer (at its
    # last milestone the trainer would train nothing) ...
    removed = [line for line in out if "other inputs, settings or code" in line]
    methods = ("prefix", "ptuning_v2", "lora")
    assert {m for m in methods for line in removed if f"runs/{m}:" in line} == set(methods)
    # ... The scoring page reads only the adapters, which a seeded re-run writes again byte
    # for byte, so it stays up to date; the online loop imports the trainer: stale.
    assert "04_score" not in ran
    assert "06_online_evolution" in dry_run() and "04_score" not in dry_run()
    # 02 imports the scoring package for its reference table, which imports the prompt
    # format from ecc_utils.train: it re-runs too (and rewrites the same labels).
    assert not {"00_environment", "01_data"} & set(ran)


def test_the_training_sweep_runs_on_the_smoke_model_and_feeds_its_page(smoke_run):
    root, _, _ = smoke_run
    repo = Path(__file__).resolve().parents[1]
    out = root / "params" / "sweeps" / "smoke.csv"
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, str(repo / "bench" / "sweep_train.py"), "--profile", "smoke",
           "--samples", "4", "--lr", "lora=1e-3,1e-2", "--lr", "ptuning_v2=1e-2",
           "--batch-sizes", "2", "--then-batch-sizes", "1", "--n-eval", "6", "--n-gen", "4",
           "--n-groups", "3", "--init-check", "--out", str(out)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    import pandas as pd

    from ecc_utils.train.sweep import best_settings, read_sweep

    table = read_sweep(out)
    trained = table[(table["method"] != "original") & (table["steps"] > 0)]
    # lora: 2 rates x batch 2 (steps 1 and 2) + the best rate at batch 1 (steps 2 and 4)
    assert sorted(trained[trained["method"] == "lora"]["steps"]) == [1, 1, 2, 2, 2, 4]
    assert set(trained["samples"]) == {2, 4}
    assert table["ppl_human"].gt(0).all() and table["degenerate"].between(0, 1).all()
    init = table[table["steps"] == 0].dropna(subset=["prefix_init"])
    assert set(zip(init["method"], init["prefix_init"], strict=True)) == {
        ("prefix", "random"), ("ptuning_v2", "random"), ("ptuning_v2", "text")}  # fmt: skip
    assert set(best_settings(table)["method"]) == {"lora", "ptuning_v2"}
    assert isinstance(table, pd.DataFrame)
    page = [sys.executable, "-m", "ecc_utils.build", "--root", str(root), "--profile", "smoke",
            "--only", "09_training_settings", "--no-book"]  # fmt: skip
    done = subprocess.run(page, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    nb = json.loads((root / "book/generated/smoke/09_training_settings.ipynb").read_text())
    text = json.dumps(nb["cells"], ensure_ascii=False)
    assert "does NOT use the sweep's pick" in text  # smoke's settings are not the picks


# --- in a real browser ----------------------------------------------------------------------


def _test_artifacts() -> Path:
    """Where the browser tests leave their screenshots (git-ignored under _build/)."""
    from tests.conftest import ROOT

    d = Path(os.environ.get("ECC_TEST_ARTIFACTS", ROOT / "_build" / "test-artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _browser():
    from tests.browser import Browser, chromium_binary

    assert chromium_binary(), "no Chromium: `make browser` installs Debian's chromium package"
    return Browser


# The number of formulas MathJax rendered on the page, once its start-up promise settles.
MATHJAX_DONE = (
    "window.MathJax && MathJax.startup && MathJax.startup.promise ? MathJax.startup.promise"
    ".then(() => document.querySelectorAll('mjx-container').length) : -1"
)


def test_the_book_works_offline_in_a_browser(smoke_run):
    """Every page loads from the local files only, without a console error, and every
    formula is typeset by the MathJax the book serves itself."""
    root, _, _ = smoke_run
    html = root / "_build" / "html"
    skip = {"_static", "_sources", "_images"}
    pages = sorted(p for p in html.rglob("*.html") if not skip & set(p.relative_to(html).parts))
    problems, formulas = [], 0
    with _browser()() as b:
        for page in pages:
            rel = page.relative_to(html)
            report = b.visit(page.as_uri())
            problems += [f"{rel}: request to {u}" for u in report.foreign_requests()]
            problems += [f"{rel}: console: {e}" for e in report.console_errors + report.exceptions]
            n_math = b.evaluate("document.querySelectorAll('.math').length")
            if n_math:
                typeset = b.evaluate(MATHJAX_DONE, await_promise=True)
                errors = b.evaluate("document.querySelectorAll('mjx-merror').length")
                if typeset < n_math or errors:
                    problems.append(
                        f"{rel}: {typeset} of {n_math} formulas typeset, {errors} errors"
                    )
                formulas += n_math
        b.visit((html / "generated" / "smoke" / "08_results.html").as_uri())
        b.screenshot(_test_artifacts() / "book_landing.png")
    assert len(pages) > 10 and formulas > 0
    assert not problems, "\n".join(problems[:40])


def test_the_playground_runs_in_jupyterlab(smoke_run):
    """JupyterLab with the project's kernel runs the playground notebook; its widget area
    renders with the model picker, the message box, the Ask button and the three sliders."""
    pytest.importorskip("jupyterlab")
    pytest.importorskip("ipywidgets")
    import secrets
    import socket
    import urllib.request

    import papermill as pm

    root, _, _ = smoke_run
    name = "playground_smoke.ipynb"
    pm.execute_notebook(root / "notebooks" / "07_playground.ipynb", root / "notebooks" / name,
                        parameters={"profile": "smoke", "params_file": "../params/smoke.yaml",
                                    "artifacts": "../artifacts/smoke", "show_widgets": True},
                        prepare_only=True)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    # Every cell in the DOM (JupyterLab 4 otherwise drops cells that are off screen).
    settings = root / ".jupyter" / "lab" / "user-settings"
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ, HF_HUB_OFFLINE="1", JUPYTER_CONFIG_DIR=str(root / ".jupyter"),
               JUPYTERLAB_SETTINGS_DIR=str(settings))  # fmt: skip
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--notebook-dir={root / 'notebooks'}",
         "--expose-app-in-browser", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                import time

                time.sleep(0.5)
        with _browser()(width=1400, height=1100) as b:
            b.visit(f"{base}/lab/tree/{name}?token={token}", settle=2.0)
            assert b.wait_for("!!(window.jupyterapp && document.querySelector('.jp-Notebook'))",
                              timeout=120), "JupyterLab did not open the notebook"  # fmt: skip
            b.wait_for("!!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=idle]')"
                       " || true", timeout=5)  # fmt: skip
            b.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
            found = b.wait_for(
                "(() => { const w = document.querySelector('.jp-OutputArea .widget-vbox');"
                " return w && w.querySelector('.widget-dropdown') &&"
                " w.querySelectorAll('.widget-slider').length === 3 ? w.innerText : null })()",
                timeout=420,
            )
            b.evaluate("document.querySelector('.jp-OutputArea .widget-vbox')?.scrollIntoView()")
            b.screenshot(_test_artifacts() / "jupyterlab_playground.png", full_page=False)
        assert found, "the playground's widgets did not render (screenshot in test artifacts)"
        for control in ("end model", "message", "Ask", "alpha", "Theta", "gate threshold"):
            assert control in found, control
    finally:
        lab.terminate()
        lab.wait(timeout=30)


def test_the_data_page_runs_without_a_data_folder(tmp_path):
    """A reader without the ECD/JDDC samples gets the synthetic corpus: the data page (with its
    exercise on the mask's misses, which are measured on JDDC only) must still execute."""
    from tests.conftest import copy_project

    root = copy_project(tmp_path / "project")
    env = {k: v for k, v in os.environ.items() if k != "ECC_DATA_DIR"}
    env.update(HF_HUB_OFFLINE="1", GEMINI_API_KEY=FAKE_KEY)
    cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(root), "--profile", "smoke",
           "--no-book"]  # fmt: skip
    for stage in ("00_environment", "01_data"):
        run = subprocess.run([*cmd, "--only", stage], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    stats = json.loads((root / "artifacts" / "smoke" / "data" / "stats.json").read_text())
    assert stats["source"]["kind"] == "synthetic"
    assert not (root / "artifacts" / "smoke" / "data" / "masking_misses.csv").exists()
