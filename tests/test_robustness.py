"""The robustness study's bookkeeping: statuses, the profile it runs, its fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecc_utils.config import load_profile
from ecc_utils.report import robustness as R
from tests.conftest import copy_code

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("seeds", "pooled", "want"),
    [
        (["supported"] * 3, "supported", "reproduced"),
        (["supported", "inconclusive", "supported"], "supported", "reproduced"),
        (["supported", "contradicted", "supported"], "supported", "seed-dependent"),
        (["supported", "inconclusive", "inconclusive"], "inconclusive", "seed-dependent"),
        (["contradicted"] * 3, "contradicted", "not reproduced"),
        (["contradicted", "inconclusive", "contradicted"], "contradicted", "seed-dependent"),
        (["inconclusive"] * 3, "inconclusive", "inconclusive"),
        (["inconclusive"] * 3, "supported", "reproduced"),
    ],
)
def test_status_needs_the_pooled_test_and_no_contradicting_seed(seeds, pooled, want):
    assert R.status(seeds, pooled) == want


def test_the_study_profile_sets_the_seed_and_the_oracle_arms_and_nothing_else(tmp_path):
    text = (ROOT / "params" / "quick.yaml").read_text(encoding="utf-8")
    out = R.study_profile_text(text, 2)
    f = tmp_path / "quick.yaml"
    f.write_text(out, encoding="utf-8")
    cfg, base = load_profile(f), load_profile(ROOT / "params" / "quick.yaml")
    assert cfg.seed == 2 and cfg.evolve.oracle_arms
    assert cfg.train == base.train and cfg.data == base.data and cfg.scoring == base.scoring
    with pytest.raises(ValueError, match="seed"):
        R.study_profile_text("name: x\n", 1)


def test_the_fingerprint_ignores_the_seed_and_follows_the_code(tmp_path):
    copy_code(tmp_path)
    before = R.code_fingerprint(tmp_path, "quick")
    p = tmp_path / "params" / "quick.yaml"
    p.write_text(R.study_profile_text(p.read_text(encoding="utf-8"), 7), encoding="utf-8")
    assert R.code_fingerprint(tmp_path, "quick") == before  # the study's own settings
    loop = tmp_path / "ecc_utils" / "evolve" / "loop.py"
    loop.write_text(loop.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert R.code_fingerprint(tmp_path, "quick") != before  # code the loop page runs
    back = R.code_fingerprint(tmp_path, "quick")
    results = (
        tmp_path / "ecc_utils" / "report" / "results.py"
    )  # the results page only reads the study
    results.write_text(results.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert R.code_fingerprint(tmp_path, "quick") == back
    # the loop page's prose does not count, its code does
    nb = tmp_path / "notebooks" / "06_online_evolution.ipynb"
    page = json.loads(nb.read_text(encoding="utf-8"))
    prose = next(c for c in page["cells"] if c["cell_type"] == "markdown")
    prose["source"] = ["# Online evolutive learning, reworded\n"]
    nb.write_text(json.dumps(page), encoding="utf-8")
    assert R.code_fingerprint(tmp_path, "quick") == back
    code = next(c for c in page["cells"] if c["cell_type"] == "code")
    code["source"] = [*code["source"], "\nx = 1\n"]
    nb.write_text(json.dumps(page), encoding="utf-8")
    assert R.code_fingerprint(tmp_path, "quick") != back


def _build(art: Path, diff: float = 0.012) -> None:
    """A build's two files the study reads: one claim and one loop comparison."""
    import pandas as pd

    art.mkdir(parents=True)
    row = {"metric": "final score (Eq. 1)", "difference": diff, "low": -0.01, "high": 0.03,
           "n": 100, "verdict": "inconclusive"}  # fmt: skip
    pd.DataFrame([{"claim": "LoRA above the original model", "key": "lora>original", **row}]
                 ).to_csv(art / "claims.csv", index=False)  # fmt: skip
    pd.DataFrame([{"claim": "cloud gate above no update", "better": "cloud",
                   "other": "no-update", **row}]).to_csv(art / "evolution_controls.csv",
                                                          index=False)  # fmt: skip


def test_a_build_verifies_only_when_every_number_equals_the_seeds_rows(tmp_path):
    import pandas as pd

    _build(tmp_path / "study")
    study = pd.concat([R.seed_rows(tmp_path / "study", s, "knn") for s in (0, 1)])
    _build(tmp_path / "same")
    assert R.verify_seed(tmp_path / "same", study, 0, "knn") == []
    _build(tmp_path / "moved", diff=0.012 + 1e-9)  # the last digits: not the same numbers
    problems = R.verify_seed(tmp_path / "moved", study, 0, "knn")
    assert len(problems) == 2 and all("difference" in p for p in problems)
    assert "no rows for seed 5" in R.verify_seed(tmp_path / "same", study, 5, "knn")[0]
    assert "not in the study" in R.verify_seed(tmp_path / "same", study, 0, "oracle")[0]


def test_the_study_holds_for_code_it_ran_or_that_reproduced_it(tmp_path):
    root = copy_code(tmp_path / "tree")
    fp = R.code_fingerprint(root, "quick")
    assert R.current_for({"fingerprint": fp}, root, "quick")["how"] == "ran"
    other = {"fingerprint": "0" * 16}
    assert R.current_for(other, root, "quick") is None
    entry = {"fingerprint": fp, "commit": "abc1234", "date": "2026-12-06", "seed": 0}
    assert R.current_for({**other, "verified": [entry]}, root, "quick")["commit"] == "abc1234"
