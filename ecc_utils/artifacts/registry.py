"""Every file the stages hand to each other or show, declared once: its name, its path, the
stage that writes it and its kind.

Paths of `REGISTRY` are relative to ``artifacts/<profile>/``; those of `PROJECT_FILES` are the
results committed by hand (``bench/results/``, ``params/sweeps/``), relative to the project
root, with ``{profile}`` for the profile's name. The run plan takes its steps' inputs and
outputs from here (`rel`, `plan_outputs`), `Artifacts` reads and writes through it, and no
other module or notebook spells an artifact's path.

Kinds: ``csv`` (a pandas table; `Entry.index`: its first column is the index), ``json``,
``jsonl`` (records with typed readers: splits, labels), ``text``, ``figure`` (``.png`` and
``.svg`` beside each other), ``dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLITS: tuple[str, ...] = ("train", "teacher_queries", "fewshot", "eval", "validation")
TRAIN_LOG = "train_log.json"
KINDS = ("csv", "json", "jsonl", "text", "figure", "dir")


@dataclass(frozen=True)
class Entry:
    """One declared file: `path`, the `stage` (notebook stem, ``pipeline`` or a bench script)
    that writes it, its `kind`, what it holds (`doc`), whether a CSV has an `index` column,
    and whether the run plan checks it as the stage's output (`planned`; pages' small tables
    and caches are not checked)."""

    path: str
    stage: str
    kind: str
    doc: str
    index: bool = False
    planned: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.path}: kind={self.kind!r}, one of {', '.join(KINDS)}")

    def files(self) -> tuple[str, ...]:
        """The paths it stands for (a figure's two formats)."""
        if self.kind == "figure":
            return (f"{self.path}.png", f"{self.path}.svg")
        return (self.path,)


def _shown(path: str, stage: str, kind: str, doc: str, index: bool = False) -> Entry:
    return Entry(path, stage, kind, doc, index=index, planned=False)


REGISTRY: dict[str, Entry] = {
    "environment": Entry("environment.json", "00_environment", "json", "versions, device, profile"),
    "data_dir": _shown("data", "01_data", "dir", "the splits (`split_file`) and what 01 shows"),
    "candidates": Entry("data/candidates.jsonl", "01_data", "jsonl", "ECD's R10@k candidates"),
    "stats": Entry("data/stats.json", "01_data", "json", "counts, statistics, data source"),
    "cleaning_examples": _shown("data/cleaning_examples.csv", "01_data", "csv", "cleaning"),
    "masking_examples": _shown("data/masking_examples.csv", "01_data", "csv", "the PII mask"),
    "masking_quality": _shown("data/masking_quality.csv", "01_data", "csv", "mask recall"),
    "masking_misses": _shown("data/masking_misses.csv", "01_data", "csv", "what it missed"),
    "masking_by_seed": _shown("data/masking_by_seed.csv", "01_data", "csv", "recall per seed"),
    "stats_vs_published": _shown("data/stats_vs_published.csv", "01_data", "csv", "vs paper"),
    "teacher_dir": _shown("teacher", "02_cloud_labels", "dir", "the teacher's files"),
    "labels": Entry("teacher/labels.jsonl", "02_cloud_labels", "jsonl", "one LabelRecord each"),
    "teacher_summary": Entry("teacher/summary.json", "02_cloud_labels", "json", "calls, cost"),
    "reference_quality": Entry(
        "teacher/reference_quality.csv", "02_cloud_labels", "csv", "answers vs human replies"
    ),
    "teacher_cache": _shown("teacher/cache.jsonl", "02_cloud_labels", "jsonl", "answer cache"),
    "prompt_example": _shown("teacher/prompt_example.txt", "02_cloud_labels", "text", "Table II"),
    "table3": _shown("teacher/table3.csv", "02_cloud_labels", "csv", "Table III's layout"),
    "knn_variants": _shown("teacher/knn_variants.csv", "02_cloud_labels", "csv", "knn settings"),
    "vocabulary": _shown("vocabulary.json", "03_train", "json", "the trimmed head's tokens"),
    "runs": _shown("runs", "03_train", "dir", "runs/<method>/: checkpoints, train log"),
    "scores": Entry("scores.csv", "04_score", "csv", "Eq. (1) per (input, model)"),
    "table6": Entry("table6.csv", "04_score", "csv", "Table VI, computed", index=True),
    "calibration": Entry("calibration.json", "04_score", "json", "the scorers' calibration"),
    "metrics": Entry("metrics.csv", "04_score", "csv", "every metric with its interval"),
    "claims": Entry("claims.csv", "04_score", "csv", "the paper's claims, paired tests"),
    "agreement": Entry("agreement.csv", "04_score", "csv", "Eq. (1) against the other metrics"),
    "validity": Entry("validity.csv", "04_score", "csv", "every scorer measured", index=True),
    "score_summary": Entry("score_summary.json", "04_score", "json", "the page's sentences"),
    "per_input": Entry("per_input.csv", "04_score", "csv", "per (model, input)"),
    "per_group": Entry("per_group.csv", "04_score", "csv", "per (model, ECD context)"),
    "diversity": _shown("diversity.csv", "04_score", "csv", "distinct-n per model", index=True),
    "selector_baselines": Entry(
        "selector_baselines.json", "04_score", "json", "R10@1 of chance and of the shortest reply"
    ),
    # The figures of the computing pages, drawn from their saved tables by a figure step and
    # shown on the page that discusses them (the book's ``{artifact-figure}``).
    "fig3": Entry("fig3", "05_figures", "figure", "Fig. 3"),
    "intrinsic_metrics_figure": Entry(
        "figures/intrinsic_metrics", "05_figures", "figure", "04's metrics with intervals"
    ),
    "score_distributions_figure": Entry(
        "figures/score_distributions", "05_figures", "figure", "04's Eq. (1) per input"
    ),
    "fig3_means": _shown("fig3_means.csv", "05_figures", "csv", "Fig. 3's means", index=True),
    "evolve": _shown("evolve", "06_online_evolution", "dir", "evolve/<arm>/: state, adapter"),
    "evolution": Entry("evolution.csv", "06_online_evolution", "csv", "per (arm, round)"),
    "evolution_summary": Entry("evolution_summary.json", "06_online_evolution", "json", "totals"),
    "evolution_gain": Entry("evolution_gain.csv", "06_online_evolution", "csv", "probe gain"),
    "evolution_controls": Entry(
        "evolution_controls.csv", "06_online_evolution", "csv", "gates vs controls"
    ),
    "evolution_oracle_controls": Entry(
        "evolution_oracle_controls.csv", "06_online_evolution", "csv",
        "the same with the oracle teacher (only with evolve.oracle_arms)",
    ),  # fmt: skip
    "evolution_perplexity": Entry(
        "evolution_perplexity.csv", "06_online_evolution", "csv",
        "the probe's human-reply perplexity per (arm, round)", index=True,
    ),  # fmt: skip
    "evolution_figure": Entry(
        "figures/evolution", "06_online_evolution_figures", "figure", "score and cost per round"
    ),
    "evolution_perplexity_figure": Entry(
        "figures/evolution_perplexity", "06_online_evolution_figures", "figure",
        "the probe's human-reply perplexity per round",
    ),  # fmt: skip
    "evolution_gain_figure": Entry(
        "figures/evolution_gain", "06_online_evolution_figures", "figure", "probe gain per round"
    ),
    "glance": Entry("glance.csv", "08_results", "csv", "each claim: this run, its status"),
    "figures": _shown("figures", "every page", "dir", "every figure but Fig. 3"),
    "manifest": _shown("manifest.json", "pipeline", "json", "per step: fingerprint, wall time"),
}

PROJECT_FILES: dict[str, Entry] = {
    "study": Entry("bench/results/robustness_{profile}.csv", "bench/robustness.py", "csv",
                   "the claims and the loop across seeds"),
    "study_meta": Entry("bench/results/robustness_{profile}.json", "bench/robustness.py", "json",
                        "the study's provenance"),
    "spread": Entry("bench/results/cpu_spread_{profile}.csv", "bench/cpu_spread.py", "csv",
                    "headline numbers with default and narrowed CPU features"),
    "spread_meta": Entry("bench/results/cpu_spread_{profile}.json", "bench/cpu_spread.py", "json",
                         "the spread's provenance"),
    "vocab_bench": Entry("bench/results/vocab_{profile}.csv", "bench/bench_vocab.py", "csv",
                         "the trimmed head against the full one"),
    "sweep": Entry("params/sweeps/{profile}.csv", "bench/sweep_train.py", "csv",
                   "training settings per method"),
    "update_sweep": Entry("params/sweeps/{profile}_update.csv", "bench/sweep_update.py", "csv",
                          "the loop's update settings, chosen with perfect labels"),
}  # fmt: skip
CPU_DRIFT_GLOB = "bench/results/cpu_drift_*.csv"  # bench/cpu_drift.py, one file per machine


def entry(name: str) -> Entry:
    """The declared artifact `name`; an unknown name is an error that lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"artifact {name!r}: not declared; one of {', '.join(REGISTRY)}") from None


def rel(name: str) -> str:
    """Artifact `name`'s path relative to ``artifacts/<profile>/``."""
    return entry(name).path


def rels(*names: str) -> tuple[str, ...]:
    """`rel` of each of `names`, in order."""
    return tuple(rel(n) for n in names)


def plan_outputs(stage: str, *, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """What the run plan checks that `stage` wrote: its planned entries' files, in declaration
    order, but those named in `skip`."""
    return tuple(f for n, e in REGISTRY.items() if e.stage == stage and e.planned
                 and n not in skip for f in e.files())  # fmt: skip


def project_file(name: str, root: str | Path, profile: str) -> Path:
    """A committed result of `PROJECT_FILES` for `profile` under the project `root`."""
    if name not in PROJECT_FILES:
        raise KeyError(f"project file {name!r}: one of {', '.join(PROJECT_FILES)}")
    return Path(root) / PROJECT_FILES[name].path.format(profile=profile)


def split_file(name: str) -> str:
    """``data/<name>.jsonl`` for one of `SPLITS`."""
    if name not in SPLITS:
        raise ValueError(f"split={name!r}: one of {', '.join(SPLITS)}")
    return f"{rel('data_dir')}/{name}.jsonl"


def run_dir(method: str) -> str:
    """``runs/<method>``: the milestone checkpoints and the training log of one method."""
    return f"{rel('runs')}/{method}"


def train_log_file(method: str) -> str:
    return f"{run_dir(method)}/{TRAIN_LOG}"


def checkpoint_name(step: int) -> str:
    """``checkpoint-<step>``: the folder transformers' Trainer saves a step's adapter in."""
    return f"checkpoint-{int(step)}"


def checkpoint_dir(method: str, step: int) -> str:
    """``runs/<method>/checkpoint-<step>``: one milestone's adapter."""
    return f"{run_dir(method)}/{checkpoint_name(step)}"
