"""Run plan, fingerprints and the up-to-date rule, and how a failing notebook is reported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ecc_utils import artifacts as A
from ecc_utils.build import book, pipeline
from ecc_utils.build.pipeline import Layout, PipelineError, Step, build_plan, is_up_to_date
from ecc_utils.config import load_profile
from ecc_utils.provenance import fingerprints
from ecc_utils.provenance.fingerprints import PACKAGE_DIR, fingerprint
from tests.conftest import ROOT


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


def _package_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "pkg" / "ecc_utils"
    shutil.copytree(PACKAGE_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_only_and_until_select_one_stage_or_every_stage_up_to_it(smoke):
    plan = build_plan(smoke)
    keys = [s.key for s in plan]
    train = [k for k in keys if k.startswith("03_train")]
    assert [s.key for s in pipeline.select_steps(plan, "03_train", None)] == train
    until = [s.key for s in pipeline.select_steps(plan, None, "03_train")]
    assert until == keys[: keys.index(train[-1]) + 1]
    assert [s.key for s in pipeline.select_steps(plan, None, None)] == keys
    with pytest.raises(PipelineError, match="--until 99_nothing: no such stage"):
        pipeline.select_steps(plan, None, "99_nothing")


def test_up_to_date_rule(tmp_path, smoke):
    layout, step = _mini_project(tmp_path, ["from ecc_utils.report import plots"])
    pkg = _package_copy(tmp_path)
    art = layout.artifacts
    art.mkdir(parents=True)
    (art / "in.txt").write_text("a")
    fp = fingerprint(step, smoke, layout.notebooks, art, pkg)
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

    def changed(step=step):
        fp2 = fingerprint(step, smoke, layout.notebooks, art, pkg)
        return not is_up_to_date(step, fp2, manifest, art, out_nb)

    assert not changed()
    (pkg / "report" / "plots.py").write_text(
        (pkg / "report" / "plots.py").read_text() + "\n# edited\n"
    )
    assert changed()  # a module the notebook imports
    manifest["steps"]["01_x"]["fingerprint"] = fingerprint(step, smoke, layout.notebooks, art, pkg)
    loop = pkg / "evolve" / "loop.py"
    loop.write_text(loop.read_text() + "\n# edited\n")
    assert not changed()  # a module it does not import
    (art / "in.txt").write_text("a2")  # upstream artifact
    assert changed()
    (art / "in.txt").write_text("a")
    other = Step("01_x", "01_x", parameters={"method": "lora"}, inputs=step.inputs)
    assert changed(other)  # parameters
    nb = layout.notebooks / "01_x.ipynb"
    nb.write_text(nb.read_text().replace("plots", "paper"))  # notebook source
    assert changed()


def _touched(tmp_path: Path, smoke, module: str) -> set[str]:
    """The steps of the smoke plan whose fingerprint changes when `module` is edited."""
    pkg = _package_copy(tmp_path / module.replace("/", "_"))
    notebooks = PACKAGE_DIR.parent / "notebooks"
    art = tmp_path / "art"
    plan = pipeline.build_plan(smoke)
    before = {s.key: fingerprint(s, smoke, notebooks, art, pkg) for s in plan}
    path = pkg / module
    path.write_text(path.read_text() + "\n# edited\n")
    after = {s.key: fingerprint(s, smoke, notebooks, art, pkg) for s in plan}
    return {k for k in before if before[k] != after[k]}


def test_editing_the_plots_module_reruns_only_the_figure_pages(tmp_path, smoke):
    touched = _touched(tmp_path, smoke, "report/plots.py")
    # The scoring page's figures are drawn by 05 and the loop's by their own step, from the
    # tables those pages saved; 01 draws its histograms, 08 the claims' picture in the book's
    # style. No training, scoring or loop.
    assert touched == {"01_data", "05_figures", "06_online_evolution_figures", "08_results"}


def test_the_steps_that_compute_import_no_drawing_code(smoke):
    """Training, scoring and the loop (minutes each on a CPU) do not import the plotting module,
    so a figure edit never re-runs them; the pages show the figures their figure steps drew
    (the book's ``{artifact-figure}``), and each such figure is a declared output of that step."""
    from ecc_utils.provenance.fingerprints import module_closure, notebook_imports

    notebooks = PACKAGE_DIR.parent / "notebooks"
    plan = {s.key: s for s in pipeline.build_plan(smoke)}
    for stage in ("03_train", "04_score", "06_online_evolution"):
        closure = module_closure(notebook_imports(notebooks / f"{stage}.ipynb"))
        assert "ecc_utils.report.plots" not in closure, stage
    shown = {
        (page, line.split()[-1])
        for page in ("04_score", "06_online_evolution")
        for line in "\n".join(code_and_markdown(notebooks / f"{page}.ipynb")).splitlines()
        if line.startswith("```{artifact-figure}")
    }
    assert {stem for _, stem in shown} == {
        "intrinsic_metrics",
        "score_distributions",
        "evolution",
        "evolution_perplexity",
        "evolution_gain",
    }
    drawn = {o for s in plan.values() for o in s.outputs if o.startswith("figures/")}
    for page, stem in shown:
        assert f"figures/{stem}.png" in drawn, (page, stem)
        step = next(s for s in plan.values() if f"figures/{stem}.png" in s.outputs)
        assert step.stage != page and list(plan).index(step.key) > list(plan).index(page)


def code_and_markdown(notebook: Path) -> list[str]:
    """Every cell's source of `notebook`."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells]


def test_editing_the_training_code_reruns_training_and_what_follows(tmp_path, smoke):
    touched = _touched(tmp_path, smoke, "train/trainer.py")
    train_steps = {s.key for s in pipeline.build_plan(smoke) if s.stage == "03_train"}
    # The prompt format lives with the end model (endmodel.format) and checkpoints are found
    # through artifacts, so only the online loop, which fine-tunes, imports the trainer too,
    # and the results page, which reads the loop's cost and the study through ecc_utils.evolve
    # (importing a module of a package runs the package's __init__).
    assert touched == train_steps | {"06_online_evolution", "08_results"}
    # 05 reads only table6.csv, which 04 writes: it re-runs when that file changes.
    plan = {s.key: s for s in pipeline.build_plan(smoke)}
    assert "table6.csv" in plan["05_figures"].inputs and "table6.csv" in plan["04_score"].outputs


def test_module_closure_follows_imports_but_not_type_checking_blocks(tmp_path):
    pkg = tmp_path / "ecc_utils"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nfrom .sub import b\n"
        "if TYPE_CHECKING:\n    from ecc_utils import never\n"
        "def f():\n    from ecc_utils.c import g\n"
    )
    (pkg / "sub" / "__init__.py").write_text("from ecc_utils.sub.b import X\n")
    (pkg / "sub" / "b.py").write_text("X = 1\n")
    (pkg / "c.py").write_text("def g(): ...\n")
    (pkg / "never.py").write_text("")
    got = fingerprints.module_closure(["ecc_utils.a"], pkg)
    assert set(got) == {"ecc_utils", "ecc_utils.a", "ecc_utils.sub", "ecc_utils.sub.b",
                        "ecc_utils.c"}  # fmt: skip


def test_hash_paths_sees_folder_content_and_names(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_text("1")
    h1 = fingerprints.hash_paths([d], base=tmp_path)
    (d / "a").write_text("2")
    h2 = fingerprints.hash_paths([d], base=tmp_path)
    (d / "a").rename(d / "b")
    h3 = fingerprints.hash_paths([d], base=tmp_path)
    assert len({h1, h2, h3}) == 3
    assert fingerprints.hash_paths([tmp_path / "missing"]) != fingerprints.hash_paths([d])


def _run_mini(tmp_path, monkeypatch, cells):
    layout, step = _mini_project(tmp_path, cells)
    step = Step("01_x", "01_x", outputs=())
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "t.yaml").write_text("name: t\nexecution:\n  cell_timeout: 60\n")
    monkeypatch.setattr(pipeline, "build_plan", lambda profile, params_dir=None: [step])
    lines: list[str] = []
    return layout, lines, lambda **kw: pipeline.run(layout, book=False, echo=lines.append, **kw)


# A notebook that, like training and the online loop, resumes from its saved rounds
# (``evolve/state.json``): it counts in ``computed.txt`` the rounds it had to compute itself.
RESUMING_CELLS = [
    "import json, pathlib\n"
    "state = pathlib.Path(artifacts) / 'evolve' / 'state.json'\n"
    "done = json.loads(state.read_text()) if state.exists() else []\n"
    "todo = [r for r in range(3) if r not in done]\n"
    "state.parent.mkdir(parents=True, exist_ok=True)\n"
    "state.write_text(json.dumps(done + todo))\n"
    "(pathlib.Path(artifacts) / 'computed.txt').write_text(str(len(todo)))"
]


def _run_resuming(tmp_path, monkeypatch, **step):
    layout, lines, run = _run_mini(tmp_path, monkeypatch, RESUMING_CELLS)
    resuming = Step("01_x", "01_x", {"artifacts": str(layout.artifacts)}, resumable=("evolve",),
                    **step)  # fmt: skip
    monkeypatch.setattr(pipeline, "build_plan", lambda profile, params_dir=None: [resuming])
    return layout, lines, run


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


def test_force_recomputes_a_step_that_resumes_from_saved_work(tmp_path, monkeypatch):
    layout, lines, run = _run_resuming(tmp_path, monkeypatch)
    computed = layout.artifacts / "computed.txt"
    assert run()["steps"]["01_x"]["resumed_from"] == []
    assert computed.read_text() == "3"
    (layout.artifacts / "manifest.json").unlink()  # out of date: re-executed, resumes
    assert run()["steps"]["01_x"]["resumed_from"] == ["evolve"]  # the manifest says so
    assert computed.read_text() == "0"
    assert any("(resuming from evolve)" in line for line in lines)
    assert run(force=True)["steps"]["01_x"]["resumed_from"] == []
    assert computed.read_text() == "3", "under --force the saved rounds were reused"
    assert any("removed" in line and "--force" in line for line in lines)


def test_a_step_resumes_only_saved_work_made_for_the_same_work(tmp_path, monkeypatch):
    # Saved work (checkpoints, the loop's rounds) is resumed after an interruption or a prose
    # edit, and removed when the settings changed: the trainer would otherwise keep adapters
    # trained with the old ones (at its last milestone it trains nothing).
    layout, lines, run = _run_resuming(tmp_path, monkeypatch)
    computed = layout.artifacts / "computed.txt"
    manifest = layout.artifacts / "manifest.json"
    first = run()["steps"]["01_x"]
    assert computed.read_text() == "3" and first["work_key"]

    # Interrupted: the record written before the run stays "running"; the same work resumes.
    m = json.loads(manifest.read_text())
    m["steps"]["01_x"]["status"] = "running"
    manifest.write_text(json.dumps(m))
    assert run()["steps"]["01_x"]["resumed_from"] == ["evolve"]
    assert computed.read_text() == "0"

    # A prose edit re-executes the notebook (its page changes) and keeps the saved work.
    nb_file = layout.notebooks / "01_x.ipynb"
    nb = nbformat.read(nb_file, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A sentence more."))
    nbformat.write(nb, nb_file)
    again = run()
    assert again["last_run"]["executed"] == 1 and computed.read_text() == "0"
    assert again["steps"]["01_x"]["work_key"] == first["work_key"]

    # Other settings: the saved rounds were computed with the old ones and are removed.
    params = tmp_path / "params" / "t.yaml"
    params.write_text(params.read_text().replace("cell_timeout: 60", "cell_timeout: 61"))
    changed = run()["steps"]["01_x"]
    assert changed["resumed_from"] == [] and computed.read_text() == "3"
    assert changed["work_key"] != first["work_key"]
    assert any("removed" in line and "other inputs, settings or code" in line for line in lines)


def test_a_file_the_page_only_shows_re_executes_it_and_keeps_its_saved_work(tmp_path, monkeypatch):
    # The loop's page shows the robustness study: a new study re-executes the page, and the
    # loop's rounds, which do not depend on it, are resumed; another data file is not shown.
    shown, read = tmp_path / "study.csv", tmp_path / "data.txt"
    shown.write_text("a")
    read.write_text("a")
    layout, lines, run = _run_resuming(
        tmp_path, monkeypatch, external=(str(shown), str(read)), shown=(str(shown),)
    )
    computed = layout.artifacts / "computed.txt"
    run()
    shown.write_text("b")
    again = run()
    assert again["last_run"]["executed"] == 1 and computed.read_text() == "0"
    read.write_text("b")
    assert run()["steps"]["01_x"]["resumed_from"] == [] and computed.read_text() == "3"


def test_the_loop_page_only_shows_the_study_and_the_update_selection(root):
    from ecc_utils.config import load_profile

    plan = {s.key: s for s in pipeline.build_plan(load_profile(root / "params" / "quick.yaml"),
                                                  root / "params")}  # fmt: skip
    loop = plan["06_online_evolution"]
    assert loop.shown and set(loop.shown) == set(loop.external)
    shown = ("robustness_quick.csv", "robustness_quick.json", "quick_update.csv")
    assert sorted(Path(s).name for s in loop.shown) == sorted(shown)
    # the results page compares this build with the study within the measured CPU spread
    assert any(s.endswith("cpu_spread_quick.csv") for s in plan["08_results"].external)


def test_saved_work_without_a_record_is_kept_and_an_old_record_compares_fingerprints():
    from ecc_utils.build.saved_work import is_stale

    assert not is_stale(None, {"a": 1}, "k")  # nothing says what it was made for
    assert is_stale({"fingerprint": {"a": 0}}, {"a": 1}, "k")  # a manifest before work keys
    assert not is_stale({"fingerprint": {"a": 1}}, {"a": 1}, "k")
    assert is_stale({"fingerprint": {"a": 1}, "work_key": "j"}, {"a": 1}, "k")
    assert not is_stale({"fingerprint": {"a": 0}, "work_key": "k"}, {"a": 1}, "k")


def test_a_notebooks_code_hash_ignores_its_prose(tmp_path):
    from ecc_utils.provenance.fingerprints import notebook_code_hash

    layout, _ = _mini_project(tmp_path, ["x = 1"])
    nb_file = layout.notebooks / "01_x.ipynb"
    before = notebook_code_hash(nb_file)
    nb = nbformat.read(nb_file, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("Prose."))
    nbformat.write(nb, nb_file)
    assert notebook_code_hash(nb_file) == before
    nb.cells[-1].source = "x = 2"
    nbformat.write(nb, nb_file)
    assert notebook_code_hash(nb_file) != before


def test_plan_declares_what_training_and_the_loop_resume_from(root):
    from ecc_utils.config import load_profile

    plan = {s.key: s for s in pipeline.build_plan(load_profile(root / "params" / "quick.yaml"))}
    assert plan["03_train-lora"].resumable == ("runs/lora",)
    assert plan["06_online_evolution"].resumable == ("evolve",)


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


def test_executed_notebook_hides_parameters_and_takes_the_step_title(tmp_path, monkeypatch):
    layout, _ = _mini_project(tmp_path, ["print(profile)"])
    nb = nbformat.read(layout.notebooks / "01_x.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Fine-tuning the end model\n\nText."))
    nbformat.write(nb, layout.notebooks / "01_x.ipynb")
    step = Step("01_x", "01_x", title="Fine-tuning the end model: LoRA")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "t.yaml").write_text("name: t\n")
    monkeypatch.setattr(pipeline, "build_plan", lambda profile, params_dir=None: [step])
    pipeline.run(layout, book=False, echo=lambda _: None)
    out = nbformat.read(layout.generated / "01_x.ipynb", as_version=4)
    assert out.cells[0].source == "# Fine-tuning the end model: LoRA\n\nText."
    hidden = [c for c in out.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert {t for c in hidden for t in c.metadata["tags"]} == {
        "remove-cell",
        "parameters",
        "injected-parameters",
    }
    assert len(hidden) == 2
    # The committed notebook keeps its parameters cell as it was.
    src = nbformat.read(layout.notebooks / "01_x.ipynb", as_version=4)
    assert all("remove-cell" not in c.metadata.get("tags", []) for c in src.cells)


def test_plan_steps_have_titles_and_precise_inputs(smoke):
    plan = {s.key: s for s in pipeline.build_plan(smoke)}
    assert plan["03_train-lora"].title == "Fine-tuning the end model: LoRA"
    assert plan["03_train-ptuning_v2"].title == "Fine-tuning the end model: P-Tuning v2"
    # 04 reads the milestone checkpoints' adapter weights, not the whole run folder (loss plots,
    # samples) nor the files a seeded re-run writes otherwise (the trainer's state logs wall
    # times; PEFT writes LoRA's target modules in each process's set order).
    ckpts = [i for i in plan["04_score"].inputs if i.startswith("runs/")]
    want = [f"runs/{m}/checkpoint-{s}/adapter_model.safetensors" for m in smoke.train.methods
            for s in smoke.train.milestones[m]]  # fmt: skip
    assert ckpts == want
    start, step = smoke.loop_start()
    loop_ckpt = [i for i in plan["06_online_evolution"].inputs if i.startswith("runs/")]
    assert loop_ckpt == [f"runs/{start}/checkpoint-{step}/adapter_model.safetensors"]


def test_finishing_a_notebook_drops_widget_outputs_and_keeps_the_rest(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("for _ in tqdm(range(3)): pass")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={
            pipeline.WIDGET_MIME: {"model_id": "x", "version_major": 2, "version_minor": 0},
            "text/plain": "HBox(children=(HTML(value=''), FloatProgress(value=0.0, max=3.0)))",
        }),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
    ]  # fmt: skip
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    pipeline.finish_notebook(path)
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    assert [o.output_type for o in outputs] == ["stream"] and outputs[0].text == "done\n"


def test_pipeline_kernels_draw_progress_as_text_for_the_log():
    import os
    import subprocess
    import sys

    code = "import ecc_utils, tqdm.auto, tqdm.std; print(tqdm.auto.tqdm is tqdm.std.tqdm)"
    env = dict(os.environ, ECC_TEXT_PROGRESS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "True", out.stderr


def test_book_is_rebuilt_only_when_its_sources_change(tmp_path, monkeypatch):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text("format: jb-book\nroot: generated/{profile}/a\n")
    for name in pipeline.PROFILE_PAGES:
        (tmp_path / "book" / name).write_text(f"# {name}\n")
    (tmp_path / "book" / "method.md").write_text("# Method\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    layout = pipeline.Layout(tmp_path, "t")
    layout.generated.mkdir(parents=True)
    (layout.generated / "a.ipynb").write_text("{}")
    builds = []

    def fake_jupyter_book(cmd, **kw):
        builds.append(cmd)
        html = tmp_path / "_build" / "html"
        html.mkdir(parents=True, exist_ok=True)
        (html / "index.html").write_text("<html></html>")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(book.subprocess, "run", fake_jupyter_book)
    assert pipeline.build_book(layout, [])[1] and len(builds) == 1
    assert not pipeline.build_book(layout, [])[1] and len(builds) == 1  # nothing changed
    (layout.generated / "a.ipynb").write_text('{"changed": 1}')  # a re-executed notebook
    assert pipeline.build_book(layout, [])[1] and len(builds) == 2
    (tmp_path / "book" / "method.md").write_text("# Method, edited\n")
    assert pipeline.build_book(layout, [])[1] and len(builds) == 3
    assert pipeline.build_book(layout, [], force=True)[1] and len(builds) == 4
    other = pipeline.Layout(tmp_path, "u")  # another profile's book replaces this one's
    other.generated.mkdir(parents=True)
    assert pipeline.build_book(other, [])[1] and pipeline.build_book(layout, [])[1]


def _stats(art: Path, **source) -> None:
    (art / A.rel("stats")).parent.mkdir(parents=True, exist_ok=True)
    (art / A.rel("stats")).write_text(json.dumps({"source": source}), encoding="utf-8")


def test_a_data_stage_that_fell_back_runs_again_to_retry_the_download(tmp_path, smoke):
    """Offline, the data stage fell back to the synthetic corpus (or ran without JDDC): the
    next build tries the download again instead of keeping the fallback for good; a stage that
    used what it asked for stays up to date."""
    art = tmp_path / "art"
    step = next(s for s in build_plan(smoke) if s.stage == "01_data")
    assert step.retries_fallback
    fp = {"f": 1}
    manifest = {"steps": {step.key: {"status": "ok", "fingerprint": fp}}}
    out_nb = tmp_path / "01_data.ipynb"
    out_nb.write_text("{}")
    for o in step.outputs:
        (art / o).parent.mkdir(parents=True, exist_ok=True)
        (art / o).write_text("x")
    _stats(art, kind="synthetic", description="no ECD data", fallback=True)
    assert pipeline.fell_back(art) and not is_up_to_date(step, fp, manifest, art, out_nb)
    _stats(art, kind="synthetic", description="asked for", fallback=False)
    assert is_up_to_date(step, fp, manifest, art, out_nb)
    _stats(art, kind="download", description="ECD; JDDC not used", fallback=True)
    assert not is_up_to_date(step, fp, manifest, art, out_nb)


def test_a_book_on_synthetic_data_says_so_on_every_page(tmp_path, monkeypatch):
    """The pipeline hands the synthetic corpus's notice to the book's extension, which puts it
    under every page's title; the notice is part of what the HTML is built from."""
    from docutils import nodes
    from docutils.utils import new_document

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import ecc_book

    art = tmp_path / "art"
    assert book.data_notice(art) == ""  # before the data stage ran
    _stats(art, kind="dir", description="ECD sample from data folder")
    assert book.data_notice(art) == ""
    _stats(art, kind="synthetic", description="offline", fallback=True)
    assert book.data_notice(art) == A.SYNTHETIC_NOTICE
    doc = new_document("page")
    section = nodes.section()
    section += nodes.title(text="Scoring")
    section += nodes.paragraph(text="Table VI")
    doc += section
    monkeypatch.setenv("ECC_BOOK_NOTICE", A.SYNTHETIC_NOTICE)
    ecc_book.add_notice(None, doc)
    assert [type(n) for n in section.children] == [nodes.title, nodes.warning, nodes.paragraph]
    assert section[1].astext() == A.SYNTHETIC_NOTICE

    class Env:  # a saved environment read with another notice re-reads every page
        found_docs = {"method", "generated/quick/04_score"}

    env = Env()
    assert ecc_book.reread_all_on_new_notice(None, env, set(), set(), set()) == sorted(
        Env.found_docs
    )
    assert ecc_book.reread_all_on_new_notice(None, env, set(), set(), set()) == []
    monkeypatch.setenv("ECC_BOOK_NOTICE", "")
    doc2 = new_document("page")
    ecc_book.add_notice(None, doc2)
    assert not doc2.children and ecc_book.reread_all_on_new_notice(None, env, set(), set(), set())


def test_planning_a_build_imports_no_deep_learning_library(tmp_path, root):
    """A warm `make book` plans, fingerprints and finds every step up to date: torch and
    transformers (over a second to import on two cores) must not load for that, nor nbformat's
    validator (jsonschema's format checkers took 2 s of a 5 s warm build)."""
    import sys

    code = (
        "import sys\nfrom pathlib import Path\nimport ecc_utils.build.pipeline\n"
        "from ecc_utils.config import load_profile\nfrom ecc_utils.build.plan import build_plan\n"
        "from ecc_utils.provenance.fingerprints import fingerprint\n"
        f"root = Path({str(root)!r})\n"
        "profile = load_profile(root / 'params' / 'smoke.yaml')\n"
        "for step in build_plan(profile, root / 'params'):\n"
        f"    fingerprint(step, profile, root / 'notebooks', Path({str(tmp_path)!r}))\n"
        "print(sorted({'torch', 'transformers', 'peft', 'nbformat', 'jsonschema'}"
        " & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_notebook_imports_read_cell_sources_as_lists_or_strings(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["import ecc_utils.a\n", "%matplotlib inline\n"]},
        {"cell_type": "code", "source": "from ecc_utils import b\n!pip list"},
        {"cell_type": "markdown", "source": "import ecc_utils.never"},
    ]}  # fmt: skip
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert fingerprints.notebook_imports(path) == {"ecc_utils.a", "ecc_utils", "ecc_utils.b"}


def test_a_dry_run_says_what_changed_since_a_steps_last_run(tmp_path):
    from ecc_utils.build.status import why_stale

    art = tmp_path / "art"
    art.mkdir()
    (art / "out.csv").write_text("x")
    out_nb = tmp_path / "01_x.ipynb"
    out_nb.write_text("{}")
    step = Step("01_x", "01_x", inputs=("in.csv",), outputs=("out.csv",))
    fp = {"notebook": "n", "parameters": "p", "ecc_utils": "e",
          "modules": {"ecc_utils.a": "1", "ecc_utils.report.plots": "2"},
          "inputs": {"in.csv": "i"}, "external": {}}  # fmt: skip
    record = {"status": "ok", "fingerprint": fp}
    assert why_stale(step, fp, record, art, out_nb) == []
    assert why_stale(step, fp, None, art, out_nb) == ["it never ran"]
    assert why_stale(step, fp, {**record, "status": "failed"}, art, out_nb) == [
        "its last run ended failed"
    ]
    edited = {**fp, "ecc_utils": "e2", "modules": {**fp["modules"], "ecc_utils.report.plots": "3"}}
    assert why_stale(step, edited, record, art, out_nb) == [
        "ecc_utils changed: ecc_utils.report.plots"
    ]
    # A notebook that stopped drawing: the module it no longer imports is named as such.
    moved = {**fp, "ecc_utils": "e3", "modules": {"ecc_utils.a": "1", "ecc_utils.b": "4"}}
    assert why_stale(step, moved, record, art, out_nb) == [
        "now imports: ecc_utils.b; no longer imports: ecc_utils.report.plots"
    ]
    older = {k: v for k, v in fp.items() if k != "modules"}  # a manifest before module hashes
    assert why_stale(step, fp, {**record, "fingerprint": older}, art, out_nb) == [
        "its fingerprint was recorded by another version of the pipeline"
    ]
    assert not pipeline.is_up_to_date(step, fp, {"steps": {"01_x": {**record, "fingerprint": older}}},
                                      art, out_nb)  # fmt: skip
    moved = {**fp, "parameters": "q", "inputs": {"in.csv": "j"}}
    (art / "out.csv").unlink()
    assert why_stale(step, moved, record, art, out_nb) == [
        "the profile or the step's parameters changed",
        "inputs changed: in.csv",
        "outputs missing: out.csv",
    ]
    report = pipeline.dry_run_report([("01_x", ["it never ran"], None), ("02_y", ["a"], 30.0)])
    assert report.splitlines() == ["would run: 01_x (last run none): it never ran",
                                   "would run: 02_y (last run 30.0 s): a",
                                   "2 steps; their last runs took 30.0 s"]  # fmt: skip


def test_a_page_shows_a_figure_that_another_step_drew(tmp_path):
    """``{artifact-figure} <stem>`` (book/_ext) on a generated page shows the build's
    ``artifacts/<profile>/figures/<stem>.png`` in the HTML; a missing file fails the strict build
    with the page, the stem and the file named."""
    from sphinx.application import Sphinx

    src = tmp_path / "book"
    page = src / "generated" / "smoke" / "04_score.md"
    page.parent.mkdir(parents=True)
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'ecc_book']\nroot_doc = 'generated/smoke/04_score'\n"
    )
    page.write_text(
        "# Scoring\n\n```{artifact-figure} intrinsic_metrics\n:alt: the metrics\n\n"
        "Drawn by the figures page.\n```\n"
    )

    def build(fresh: bool = True) -> tuple[Path, str]:
        out, warnings = tmp_path / "html", tmp_path / "warnings.txt"
        with warnings.open("w") as w:
            app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html",
                         status=None, warning=w, freshenv=fresh)  # fmt: skip
            app.build()
        return out, warnings.read_text()

    _, warnings = build()
    assert "generated/smoke/04_score: figure 'intrinsic_metrics': no file" in warnings
    assert str(tmp_path / "artifacts" / "smoke" / "figures" / "intrinsic_metrics.png") in warnings
    figure = tmp_path / "artifacts" / "smoke" / "figures" / "intrinsic_metrics.png"
    figure.parent.mkdir(parents=True)
    figure.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    out, warnings = build()
    html = (out / "generated" / "smoke" / "04_score.html").read_text(encoding="utf-8")
    assert 'src="../../_images/intrinsic_metrics.png"' in html and 'alt="the metrics"' in html
    assert "Drawn by the figures page." in html
    assert (out / "_images" / "intrinsic_metrics.png").read_bytes() == figure.read_bytes()
    assert "no file" not in warnings
    # Redrawn by its step (the page's source unchanged): the next build shows the new file.
    figure.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\1" * 64)
    os.utime(figure, (time.time() + 5, time.time() + 5))  # newer than the saved environment
    out, _ = build(fresh=False)
    assert (out / "_images" / "intrinsic_metrics.png").read_bytes() == figure.read_bytes()
