"""Executing the run plan (`ecc_utils.build.plan`): papermill, up-to-date checks and the book build.

    python -m ecc_utils.build --profile quick [--force] [--only STAGE | --until STAGE]
                                 [--no-book] [--dry-run]

Each step of the plan is one execution of a notebook with its parameters. A step re-executes
only when its fingerprint changed (`ecc_utils.provenance.fingerprints`): the notebook source, the profile
and step parameters, the `ecc_utils` modules the notebook imports, or the content of its
upstream artifacts (and, for the data stage, the data folder). Fingerprints, wall times and
statuses are kept in `artifacts/<profile>/manifest.json`, with the saved work a step resumed
from (``resumed_from``: training checkpoints, the loop's arms; empty when it ran cold): a step
resumes only saved work made for the same inputs, settings and code (`ecc_utils.build.saved_work`;
``--force`` resumes nothing). In the
book, the parameters cells (the notebook's own and the one papermill injects) are hidden; they
stay in the notebooks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecc_utils import artifacts as A
from ecc_utils.build import saved_work
from ecc_utils.build.book import PROFILE_PAGES, build_book, render_toc  # noqa: F401  (the book, here too)
from ecc_utils.build.layout import Layout, PipelineError, data_source, fell_back  # noqa: F401
from ecc_utils.build.plan import Step, build_plan, data_dirs  # noqa: F401  (the plan's names, here too)
from ecc_utils.build.status import why_stale
from ecc_utils.config import ProfileError, load_profile, profile_path
from ecc_utils.provenance.fingerprints import fingerprint
from ecc_utils.records import atomic_write_text

# Tags of the cells the book hides: ours, and the one papermill injects.
PARAMETER_TAGS = ("parameters", "injected-parameters")


def load_manifest(art: Path) -> dict:
    p = art / A.rel("manifest")
    if not p.is_file():
        return {"steps": {}}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {"steps": {}}  # a damaged manifest only costs a re-run


def is_up_to_date(step: Step, fp: dict, manifest: dict, art: Path, output_nb: Path) -> bool:
    """True when the last run of `step` succeeded with the same fingerprint and left its outputs
    (and, for the data stage, did not fall back): `status.why_stale` finds no reason to run."""
    return not why_stale(step, fp, manifest.get("steps", {}).get(step.key), art, output_nb)


# --- execution ------------------------------------------------------------------------------


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def execute_step(step: Step, layout: Layout, params_file: Path, timeout: int) -> Path:
    """Execute one notebook with papermill; raise PipelineError naming notebook and cell."""
    import papermill as pm

    out = layout.generated / f"{step.key}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    rel = lambda p: os.path.relpath(p, layout.notebooks)  # noqa: E731 (paths as the notebook sees them)
    parameters = {
        "profile": layout.profile,
        "params_file": rel(params_file),
        "artifacts": rel(layout.artifacts),
        **step.parameters,
    }
    os.environ["ECC_TEXT_PROGRESS"] = "1"  # the kernel's progress bars as text, into the log
    try:
        pm.execute_notebook(
            str(layout.notebooks / step.notebook),
            str(out),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(layout.notebooks),
            log_output=True,
            progress_bar=False,
            execution_timeout=timeout,
        )
    except pm.PapermillExecutionError as e:
        first = next((ln for ln in (e.source or "").splitlines() if ln.strip()), "")
        raise PipelineError(
            f"{step.key}: cell In [{e.exec_count}] `{first[:60]}` failed: {e.ename}: {e.evalue} "
            f"(partially executed notebook kept: {out})"
        ) from None
    except Exception as e:  # kernel death, timeout, missing kernel: still name the notebook
        raise PipelineError(f"{step.key}: {type(e).__name__}: {e} (output: {out})") from None
    finish_notebook(out, step.title)
    return out


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def finish_notebook(path: Path, title: str | None = None) -> None:
    """Prepare an executed notebook for the book: hide its parameters cells (they stay in the
    file, tagged ``remove-cell``), drop widget outputs (tqdm's progress bars where ipywidgets is
    installed: live in JupyterLab, an empty box in a static page) and, when `title` is given,
    make it the page's heading."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET_MIME not in o.get("data", {})]
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in PARAMETER_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    if title:
        first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        if first is not None and first.source.startswith("# "):
            rest = first.source.split("\n", 1)[1:]
            first.source = "\n".join([f"# {title}", *rest])
    nbformat.write(nb, path)


def absolute_data_dir() -> None:
    """A relative ``ECC_DATA_DIR`` as the caller meant it: from the folder the pipeline was
    started in (``make book``: the project root), not from the notebooks' folder where the
    kernels run."""
    d = os.environ.get("ECC_DATA_DIR")
    if d and not Path(d).expanduser().is_absolute():
        os.environ["ECC_DATA_DIR"] = str(Path(d).expanduser().resolve())


def select_steps(plan: list[Step], only: str | None, until: str | None) -> list[Step]:
    """The steps of `plan` that ``--only`` (one stage or step) or ``--until`` (every step up
    to that stage or step, included) names; the whole plan when neither does."""
    flag, name = ("--only", only) if only else ("--until", until)
    if not name:
        return plan
    hits = [i for i, s in enumerate(plan) if name in (s.stage, s.key)]
    if not hits:
        stages = sorted({s.stage for s in plan})
        raise PipelineError(f"{flag} {name}: no such stage (stages: {', '.join(stages)})")
    return [plan[i] for i in hits] if only else plan[: hits[-1] + 1]


def step_state(step: Step, profile, layout: Layout, manifest: dict) -> tuple[dict, bool]:
    """(the step's fingerprint now, whether its recorded run is up to date for it)."""
    fp = fingerprint(step, profile, layout.notebooks, layout.artifacts, layout.package)
    out_nb = layout.generated / f"{step.key}.ipynb"
    return fp, is_up_to_date(step, fp, manifest, layout.artifacts, out_nb)


def stale_steps(layout: Layout) -> list[tuple[str, list[str], float | None]]:
    """The profile's steps that `run` would execute now (``--dry-run``), as (key, what
    changed since its last run, that run's wall seconds or None): those not up to date for
    their notebook, code, parameters and inputs. A step whose inputs only its predecessors'
    re-run would change is not among them (it runs when they do change)."""
    absolute_data_dir()  # as `run` sees it
    profile = load_profile(profile_path(layout.profile, layout.params))
    manifest = load_manifest(layout.artifacts)
    out = []
    for s in build_plan(profile, layout.params):
        fp = fingerprint(s, profile, layout.notebooks, layout.artifacts, layout.package)
        rec = manifest.get("steps", {}).get(s.key)
        why = why_stale(s, fp, rec, layout.artifacts, layout.generated / f"{s.key}.ipynb")
        if why:
            out.append((s.key, why, (rec or {}).get("wall_time_s")))
    return out


@dataclass
class _Session:
    """One `run`: where it writes, the manifest it keeps and how it reports."""

    layout: Layout
    params_file: Path
    cell_timeout: int
    manifest: dict
    echo: Any

    def save(self) -> None:
        path = self.layout.artifacts / A.rel("manifest")
        atomic_write_text(path, json.dumps(self.manifest, indent=2, ensure_ascii=False))

    def execute(self, step: Step, head: str, fp: dict, *, force: bool) -> None:
        """Run one step that is not up to date (from scratch when `force`, else resuming from
        its saved work when that is still valid) and record it in the manifest: "running"
        first, then its status and wall time. A failure raises `PipelineError`, recorded."""
        art, echo = self.layout.artifacts, self.echo
        if step.retries_fallback and fell_back(art):
            echo(f"{head}: its last run fell back ({data_source(art).get('description')}); "
                 "trying the download again")  # fmt: skip
        key = saved_work.work_key(fp, self.layout.notebooks / step.notebook, step.shown)
        if force:
            saved_work.remove(step, art, echo, "--force (the step resumes from it otherwise)")
        else:
            previous = self.manifest["steps"].get(step.key)
            saved_work.clear_stale(step, art, previous, fp, key, echo)
        resumed = saved_work.saved(step, art)
        echo(f"{head}: running ..." + (f" (resuming from {', '.join(resumed)})" if resumed else ""))
        record = {
            "notebook": step.notebook,
            "parameters": step.parameters,
            "fingerprint": fp,
            "work_key": key,  # what the saved work it leaves is for (`ecc_utils.build.saved_work`)
            "resumed_from": resumed,  # saved work it started from: [] for a cold run
            "status": "running",  # until it ends: an interrupted run leaves this record
        }
        self.manifest["steps"][step.key] = record
        self.save()
        t0 = time.perf_counter()
        status, error = "ok", None
        try:
            execute_step(step, self.layout, self.params_file, self.cell_timeout)
        except PipelineError as e:
            status, error = "failed", str(e)
        wall = time.perf_counter() - t0
        record |= {
            "wall_time_s": round(wall, 2),
            "status": status,
            "error": error,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        self.save()
        if error:
            echo(f"{head}: FAILED after {_fmt(wall)}")
            raise PipelineError(error)
        echo(f"{head}: done in {_fmt(wall)}")


def run(
    layout: Layout,
    *,
    force: bool = False,
    only: str | None = None,
    book: bool = True,
    echo=print,
    until: str | None = None,
) -> dict:
    """Execute the plan for `layout.profile`, then build the book; returns the manifest."""
    absolute_data_dir()
    from ecc_utils.data.download import CACHE_ENV

    # Downloads land in the built project's own data/raw/ (its kernels read this).
    os.environ[CACHE_ENV] = str(layout.root.resolve() / "data" / "raw")
    params_file = profile_path(layout.profile, layout.params)
    profile = load_profile(params_file)
    plan = build_plan(profile, layout.params)
    selected = select_steps(plan, only, until)
    for s in selected:
        if not (layout.notebooks / s.notebook).is_file():
            raise PipelineError(f"{s.key}: notebook {layout.notebooks / s.notebook} is missing")

    art = layout.artifacts
    art.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(art)
    manifest.setdefault("steps", {})
    manifest["profile"] = layout.profile
    session = _Session(layout, params_file, profile.execution.cell_timeout, manifest, echo)
    t_all = time.perf_counter()
    executed = 0
    for i, step in enumerate(selected, 1):
        head = f"[{i}/{len(selected)}] {step.key}"
        fp, up_to_date = step_state(step, profile, layout, manifest)
        if not force and up_to_date:
            echo(f"{head}: up to date")
            continue
        session.execute(step, head, fp, force=force)
        executed += 1
    total = time.perf_counter() - t_all
    manifest["last_run"] = {"executed": executed, "wall_time_s": round(total, 2)}
    session.save()
    echo(f"notebooks: {executed} executed, {len(selected) - executed} up to date, {_fmt(total)}")
    if book:
        t0 = time.perf_counter()
        html, built = build_book(layout, plan, force=force)
        state = "" if built else "up to date, "
        echo(f"book: {state}{html / 'index.html'} ({_fmt(time.perf_counter() - t0)})")
    return manifest


# --- command line ---------------------------------------------------------------------------


def _quiet_papermill(record: logging.LogRecord) -> bool:
    """Stream the cells' own output, not papermill's per-cell bookkeeping lines."""
    msg = record.getMessage()
    return not msg.startswith(
        (
            "Executing Cell",
            "Ending Cell",
            "Executing notebook with kernel",
            "Input Notebook:",
            "Output Notebook:",
            "Working directory:",
        )
    )


def plan_fingerprint(layout: Layout) -> str:
    """A short hash of what every step of the profile's plan runs: its notebook's code, its
    parameters and the package modules it imports (not its inputs, which are the build's own
    results). The book workflow keys its cache of results on it."""
    import hashlib

    profile = load_profile(profile_path(layout.profile, layout.params))
    h = hashlib.sha256()
    for s in build_plan(profile, layout.params):
        fp = fingerprint(s, profile, layout.notebooks, layout.artifacts, layout.package)
        h.update(json.dumps([s.key, fp["notebook"], fp["parameters"], fp["ecc_utils"]]).encode())
    return h.hexdigest()[:16]


def dry_run_report(stale: list[tuple[str, list[str], float | None]]) -> str:
    """One line per step that would run, with why and how long its last run took, then the
    total of those last runs."""
    if not stale:
        return "every step is up to date"
    lines = [f"would run: {key} (last run {_fmt(t) if t is not None else 'none'}): "
             + "; ".join(why) for key, why, t in stale]  # fmt: skip
    total = sum(t or 0.0 for _, _, t in stale)
    return "\n".join([*lines, f"{len(stale)} steps; their last runs took {_fmt(total)}"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ecc_utils.build",
        description="Execute the notebooks of a profile with papermill and build the book.",
    )
    ap.add_argument("--profile", default="quick", help="params/<PROFILE>.yaml (default: quick)")
    ap.add_argument("--force", action="store_true", help="re-execute every notebook")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--only", metavar="STAGE", help="run one stage (e.g. 03_train) or step")
    which.add_argument("--until", metavar="STAGE",
                       help="run every stage up to this one (e.g. 06_online_evolution), included")  # fmt: skip
    ap.add_argument("--no-book", action="store_true", help="execute notebooks, skip the book")
    ap.add_argument("--root", default=".", help="project root (default: current folder)")
    ap.add_argument("--fingerprint", action="store_true",
                    help="print a hash of the plan's code and parameters, run nothing")  # fmt: skip
    ap.add_argument("--dry-run", action="store_true",
                    help="list the steps that are not up to date and why, run nothing")  # fmt: skip
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="    %(message)s", stream=sys.stdout)
    pm_log = logging.getLogger("papermill")
    pm_log.setLevel(logging.INFO)
    pm_log.addFilter(_quiet_papermill)
    layout = Layout(Path(args.root).resolve(), args.profile)
    if args.fingerprint or args.dry_run:
        try:
            print(
                plan_fingerprint(layout)
                if args.fingerprint
                else dry_run_report(stale_steps(layout))
            )
        except ProfileError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    t0 = time.perf_counter()
    try:
        run(layout, force=args.force, only=args.only, book=not args.no_book, until=args.until)
    except (ProfileError, PipelineError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished steps are recorded; re-run to continue", file=sys.stderr)
        return 130
    print(f"total wall time: {_fmt(time.perf_counter() - t0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
