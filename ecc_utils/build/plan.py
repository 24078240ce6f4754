"""The run plan of a profile: which notebook executions (`Step`) the pipeline makes, in
order, with the artifacts each reads, writes and resumes from (`ecc_utils.build.pipeline` runs it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ecc_utils import artifacts as A
from ecc_utils.paper import METHOD_NAMES

if TYPE_CHECKING:
    from ecc_utils.config import Profile


@dataclass(frozen=True)
class Step:
    """One notebook execution: `stage` is the notebook's stem, `key` names this execution."""

    stage: str
    key: str
    parameters: dict = field(default_factory=dict)
    inputs: tuple[str, ...] = ()  # artifact paths (relative to artifacts/<profile>/) it reads
    outputs: tuple[str, ...] = ()  # artifact paths it writes
    external: tuple[str, ...] = ()  # paths outside the artifacts it reads (data folders)
    # Of `external`, what the page only shows (the robustness study): a change re-executes the
    # notebook, and its saved work, which does not depend on it, is kept (`saved_work.work_key`).
    shown: tuple[str, ...] = ()
    # Saved work it resumes from (training checkpoints, the loop's rounds): `run(force=True)`
    # deletes these first, so that a forced step computes everything again.
    resumable: tuple[str, ...] = ()
    title: str | None = None  # the book page's title, when the notebook's own is too general
    # The data stage: never up to date while its last run fell back (a download failed), so the
    # next run tries the download again (`status.why_stale`).
    retries_fallback: bool = False

    @property
    def notebook(self) -> str:
        return f"{self.stage}.ipynb"


def data_dirs(profile: Profile) -> tuple[str, ...]:
    """The folders the data stage reads, so that a change to the data re-runs it."""
    d = profile.data.data_dir or os.environ.get("ECC_DATA_DIR")
    return (d,) if d else ()


# What the steps after training read of a milestone checkpoint, as their input: its adapter's
# weights. A seeded re-run writes them again byte for byte, not the files beside them: the
# trainer's state logs wall times, and PEFT writes LoRA's target modules (a set) in each
# process's hash order. The adapter's configuration follows from the profile's settings, which
# every step's fingerprint holds, and shows in the weights' names and shapes.
ADAPTER_FILES = ("adapter_model.safetensors",)


def adapter_files(checkpoint: str) -> tuple[str, ...]:
    """The files of checkpoint folder `checkpoint` (relative) that count as its readers' input."""
    return tuple(f"{checkpoint}/{name}" for name in ADAPTER_FILES)


def build_plan(profile: Profile, params_dir: Path | None = None) -> list[Step]:
    """The ordered run plan for a profile; the training notebook runs once per PEFT method.
    `params_dir` (the profiles' folder) adds the training-settings page when the profile has a
    sweep table there (``params/sweeps/<profile>.csv``), and the reproducibility page when the
    project has measured the profile's spread between CPU features
    (``bench/results/cpu_spread_<profile>.csv``)."""
    splits = {name: A.split_file(name) for name in A.SPLITS}
    t = profile.train
    checkpoints = {m: tuple(A.checkpoint_dir(m, s) for s in t.milestones[m]) for m in t.methods}
    every_checkpoint = tuple(f for m in t.methods for c in checkpoints[m] for f in adapter_files(c))
    study = _study_paths(profile, params_dir)
    plan = _data_steps(profile, splits) + _training_steps(profile, splits, checkpoints)
    plan += _scoring_steps(
        profile, splits, every_checkpoint, study, _selection(profile, params_dir)
    )
    plan += _reading_steps(profile, splits, every_checkpoint, study + _spread(profile, params_dir))
    return plan + _measured_pages(profile, params_dir)


def _study_paths(profile: Profile, params_dir: Path | None) -> tuple[str, ...]:
    """The robustness study's CSV and provenance (`ecc_utils.report.robustness`), which the loop's
    and the results page show: committing a new study re-runs them (a missing file counts)."""
    if params_dir is None:
        return ()
    root = Path(params_dir).parent
    return tuple(str(A.project_file(n, root, profile.name)) for n in ("study", "study_meta"))


def _spread(profile: Profile, params_dir: Path | None) -> tuple[str, ...]:
    """The measured spread between CPU features (`ecc_utils.report.reproducibility`), within which the
    results page compares this build with the study."""
    if params_dir is None:
        return ()
    return (str(A.project_file("spread", Path(params_dir).parent, profile.name)),)


def _oracle(profile: Profile) -> tuple[str, ...]:
    """The oracle arms' tests, where the profile runs them (`evolve.oracle_arms`)."""
    return (A.rel("evolution_oracle_controls"),) if profile.evolve.oracle_arms else ()


def _no_oracle(profile: Profile) -> tuple[str, ...]:
    """What the loop's page does not write: the oracle arms' tests, where it runs none."""
    return () if profile.evolve.oracle_arms else ("evolution_oracle_controls",)


def _selection(profile: Profile, params_dir: Path | None) -> tuple[str, ...]:
    """The selection of the loop's update settings (``params/sweeps/<profile>_update.csv``),
    which the loop's page shows: committing a new one re-runs it."""
    if params_dir is None:
        return ()
    return (str(A.project_file("update_sweep", Path(params_dir).parent, profile.name)),)


def _data_steps(profile: Profile, splits: dict[str, str]) -> list[Step]:
    return [
        Step("00_environment", "00_environment", outputs=A.plan_outputs("00_environment")),
        Step(
            "01_data",
            "01_data",
            outputs=(*splits.values(), *A.plan_outputs("01_data")),
            external=data_dirs(profile),
            retries_fallback=True,
        ),
        Step(
            "02_cloud_labels",
            "02_cloud_labels",
            inputs=(splits["fewshot"], splits["teacher_queries"], splits["eval"], A.rel("stats")),
            outputs=A.plan_outputs("02_cloud_labels"),
        ),
    ]


def _end_model_inputs(profile: Profile, splits: dict[str, str], *inputs: str) -> tuple[str, ...]:
    """`inputs` plus, when the end model's head is trimmed, every text its vocabulary is taken
    from (`endmodel.vocab.profile_vocabulary`): a change to any of them re-runs the step."""
    if profile.end_model.trim_vocabulary:
        inputs += (*splits.values(), *A.rels("candidates", "labels"))
    return tuple(dict.fromkeys(inputs))


def _training_steps(
    profile: Profile, splits: dict[str, str], checkpoints: dict[str, tuple[str, ...]]
) -> list[Step]:
    return [
        Step(
            "03_train",
            f"03_train-{m}",
            {"method": m},
            inputs=_end_model_inputs(profile, splits, splits["train"], splits["teacher_queries"],
                                     splits["eval"], *A.rels("stats", "labels")),
            outputs=(A.train_log_file(m), *checkpoints[m]),
            resumable=(A.run_dir(m),),
            title=f"Fine-tuning the end model: {METHOD_NAMES[m]}",
        )
        for m in profile.train.methods
    ]  # fmt: skip


def _scoring_steps(
    profile: Profile,
    splits: dict[str, str],
    every_checkpoint: tuple[str, ...],
    study: tuple[str, ...] = (),
    selection: tuple[str, ...] = (),
) -> list[Step]:
    start, step = profile.loop_start()
    return [
        Step(
            "04_score",
            "04_score",
            inputs=_end_model_inputs(profile, splits, splits["eval"], splits["train"],
                                     *A.rels("candidates", "stats", "labels"),
                                     *every_checkpoint),
            outputs=A.plan_outputs("04_score"),
            external=data_dirs(profile),
        ),
        # The scoring page's figures are drawn here, from its saved tables: editing a figure
        # re-runs no scoring (the page shows the files, the book's {artifact-figure}).
        Step("05_figures", "05_figures",
             inputs=A.rels("table6", "metrics", "scores", "selector_baselines"),
             outputs=A.plan_outputs("05_figures")),
        Step(
            "06_online_evolution",
            "06_online_evolution",
            inputs=_end_model_inputs(profile, splits, splits["eval"], splits["train"],
                                     splits["fewshot"], *A.rels("candidates", "stats", "labels"),
                                     *adapter_files(A.checkpoint_dir(start, step)),
                                     A.rel("calibration")),
            outputs=A.plan_outputs("06_online_evolution", skip=_no_oracle(profile)),
            resumable=(A.rel("evolve"),),
            external=study + selection,
            shown=study + selection,
        ),
        # The loop's figures, drawn from its saved tables (as 05 draws the scoring page's).
        Step("06_online_evolution_figures", "06_online_evolution_figures",
             inputs=A.rels("evolution", "evolution_perplexity", "evolution_gain"),
             outputs=A.plan_outputs("06_online_evolution_figures")),
    ]  # fmt: skip


def _reading_steps(
    profile: Profile,
    splits: dict[str, str],
    every_checkpoint: tuple[str, ...],
    study: tuple[str, ...] = (),
) -> list[Step]:
    return [
        Step(
            "07_playground",
            "07_playground",
            {"show_widgets": False},  # the book shows one exchange; the widgets need a kernel
            inputs=_end_model_inputs(profile, splits, splits["fewshot"],
                                     *A.rels("labels", "calibration"), *every_checkpoint),
        ),
        Step(
            "08_results",
            "08_results",
            inputs=(*A.rels("stats", "table6", "metrics", "claims", "agreement", "validity",
                            "score_summary", "evolution", "evolution_gain",
                            "evolution_controls"),
                    *_oracle(profile)),
            outputs=A.plan_outputs("08_results"),
            external=study,
        ),
    ]  # fmt: skip


def _measured_pages(profile: Profile, params_dir: Path | None) -> list[Step]:
    """The pages of measurements made by hand and committed, where the profile has them."""
    if params_dir is None:
        return []
    steps = []
    table = A.project_file("sweep", params_dir.parent, profile.name)
    if table.is_file():
        steps.append(Step("09_training_settings", "09_training_settings", external=(str(table),)))
    spread = A.project_file("spread", params_dir.parent, profile.name)
    if spread.is_file():
        drift = tuple(str(p) for p in sorted(params_dir.parent.glob(A.CPU_DRIFT_GLOB)))
        vocab = A.project_file("vocab_bench", params_dir.parent, profile.name)
        vocab_paths = (str(vocab),) if vocab.is_file() else ()
        meta = A.project_file("spread_meta", params_dir.parent, profile.name)
        steps.append(Step("10_reproducibility", "10_reproducibility",
                          inputs=A.rels("metrics", "table6", "claims", "evolution_gain"),
                          external=(str(spread), str(meta), *drift,
                                    *vocab_paths)))  # fmt: skip
    return steps
