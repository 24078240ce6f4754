"""Run plan, fingerprints and the up-to-date rule, and how a failing notebook is reported."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from ecc_utils import pipeline
from ecc_utils.config import load_profile
from ecc_utils.pipeline import Layout, PipelineError, Step, fingerprint, is_up_to_date


@pytest.fixture
def smoke(root):
    return load_profile(root / "params" / "smoke.yaml")


def test_plan_order_and_unique_keys(smoke, root):
    plan = pipeline.build_plan(smoke)
    keys = [s.key for s in plan]
    assert len(keys) == len(set(keys))
    assert keys[0] == "00_environment"
    assert [s.stage for s in plan] == sorted(s.stage for s in plan)
    for s in plan:
        assert (root / "notebooks" / s.notebook).is_file(), s.notebook
    # every input of a step is an output of an earlier step
    produced: set[str] = set()
    for s in plan:
        for i in s.inputs:
            assert any(
                i == o or i.startswith(o + "/") or o.startswith(i + "/") for o in produced
            ), (
                s.key,
                i,
            )
        produced.update(s.outputs)


def _mini_project(tmp_path: Path, cells: list[str]) -> tuple[Layout, Step]:
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell('profile = "x"\nparams_file = ""\nartifacts = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, tmp_path / "notebooks" / "01_x.ipynb")
    return Layout(tmp_path, "t"), Step("01_x", "01_x", inputs=("in.txt",), outputs=("out.txt",))


def test_up_to_date_rule(tmp_path, smoke):
    layout, step = _mini_project(tmp_path, ["print(1)"])
    art = layout.artifacts
    art.mkdir(parents=True)
    (art / "in.txt").write_text("a")
    fp = fingerprint(step, smoke, layout.notebooks, art, "pkg")
    out_nb = layout.generated / "01_x.ipynb"
    manifest = {"steps": {"01_x": {"status": "ok", "fingerprint": fp}}}
    # outputs missing: not up to date
    assert not is_up_to_date(step, fp, manifest, art, out_nb)
    out_nb.parent.mkdir(parents=True)
    out_nb.write_text("{}")
    (art / "out.txt").write_text("b")
    assert is_up_to_date(step, fp, manifest, art, out_nb)
    # a failed last run is never up to date
    failed = {"steps": {"01_x": {"status": "failed", "fingerprint": fp}}}
    assert not is_up_to_date(step, fp, failed, art, out_nb)

    def changed(fp2):
        return not is_up_to_date(step, fp2, manifest, art, out_nb)

    assert not changed(fingerprint(step, smoke, layout.notebooks, art, "pkg"))
    assert changed(fingerprint(step, smoke, layout.notebooks, art, "pkg2"))  # ecc_utils
    (art / "in.txt").write_text("a2")  # upstream artifact
    assert changed(fingerprint(step, smoke, layout.notebooks, art, "pkg"))
    (art / "in.txt").write_text("a")
    other = Step("01_x", "01_x", parameters={"method": "lora"}, inputs=step.inputs)
    assert changed(fingerprint(other, smoke, layout.notebooks, art, "pkg"))  # parameters
    nb = layout.notebooks / "01_x.ipynb"
    nb.write_text(nb.read_text().replace("print(1)", "print(2)"))  # notebook source
    assert changed(fingerprint(step, smoke, layout.notebooks, art, "pkg"))


def test_hash_paths_sees_folder_content_and_names(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_text("1")
    h1 = pipeline.hash_paths([d], base=tmp_path)
    (d / "a").write_text("2")
    h2 = pipeline.hash_paths([d], base=tmp_path)
    (d / "a").rename(d / "b")
    h3 = pipeline.hash_paths([d], base=tmp_path)
    assert len({h1, h2, h3}) == 3
    assert pipeline.hash_paths([tmp_path / "missing"]) != pipeline.hash_paths([d])


def _run_mini(tmp_path, monkeypatch, cells):
    layout, step = _mini_project(tmp_path, cells)
    step = Step("01_x", "01_x", outputs=())
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "t.yaml").write_text("name: t\nexecution:\n  cell_timeout: 60\n")
    monkeypatch.setattr(pipeline, "build_plan", lambda profile: [step])
    lines: list[str] = []
    return layout, lines, lambda **kw: pipeline.run(layout, book=False, echo=lines.append, **kw)


def test_failing_notebook_names_cell_and_keeps_partial_output(tmp_path, monkeypatch):
    layout, lines, run = _run_mini(
        tmp_path, monkeypatch, ["x = 41", "raise ValueError('bad input at data.txt:3')", "y = 1"]
    )
    with pytest.raises(PipelineError) as e:
        run()
    msg = str(e.value)
    assert (
        "01_x" in msg and "cell In [4]" in msg
    )  # after the injected-parameters cell and "bad input at data.txt:3" in msg
    assert "`raise ValueError(" in msg
    out = layout.generated / "01_x.ipynb"
    assert out.is_file() and str(out) in msg
    nb = nbformat.read(out, as_version=4)
    assert any(o.get("ename") == "ValueError" for c in nb.cells for o in c.get("outputs", []))
    manifest = json.loads((layout.artifacts / "manifest.json").read_text())
    assert manifest["steps"]["01_x"]["status"] == "failed"
    assert any("FAILED" in line for line in lines)


def test_second_run_executes_nothing_and_force_reruns(tmp_path, monkeypatch):
    layout, lines, run = _run_mini(tmp_path, monkeypatch, ["print('hello')"])
    m = run()
    assert m["last_run"]["executed"] == 1 and m["steps"]["01_x"]["status"] == "ok"
    assert m["steps"]["01_x"]["wall_time_s"] > 0
    assert run()["last_run"]["executed"] == 0
    assert any(line.endswith("up to date") for line in lines)
    assert run(force=True)["last_run"]["executed"] == 1
    with pytest.raises(PipelineError, match="no such stage"):
        run(only="99_nothing")


def test_toc_drops_steps_outside_the_plan(tmp_path, root):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n"
        "- file: generated/{profile}/03_train-lora\n- file: generated/{profile}/03_train-prefix\n"
        "- file: deviations\n"
    )
    layout = Layout(tmp_path, "p")
    toc = pipeline.render_toc(layout, [Step("03_train", "03_train-lora")])
    text = toc.read_text()
    assert "generated/p/03_train-lora" in text and "03_train-prefix" not in text
    assert "deviations" in text
