"""The artifact contract of DESIGN.md as code: every path under ``artifacts/<profile>/`` and
typed readers and writers for the files that stages hand to each other.

Notebooks, the pipeline's run plan and the CLIs take their paths from here; nothing else
builds an artifact path by string. This module imports no stage's code (so that editing a stage
does not re-run every notebook): ``calibration.json`` is read and written by
`ecc_utils.scoring.Calibrator.load` / ``save`` at `Artifacts.calibration`. The module-level names are paths relative to the profile's
artifact folder (what the run plan records as a step's inputs and outputs); `Artifacts` joins
them to a folder and reads and writes the files.

| path | written by | content |
|---|---|---|
| environment.json | 00 | versions, device, profile |
| data/{train,teacher_queries,fewshot,eval}.jsonl | 01 | `Example` records |
| data/candidates.jsonl, data/stats.json | 01 | R10@k candidates; counts and statistics |
| teacher/labels.jsonl, teacher/summary.json | 02 | one `LabelRecord` per query; cost |
| vocabulary.json | 03 (first use) | the trimmed head's tokens: a cache keyed by the texts' digest |
| runs/<method>/checkpoint-<step>/, runs/<method>/train_log.json | 03 | adapters; `TrainLog` |
| scores.csv, table6.csv, calibration.json | 04 | Eq. (1) per (input, model); Table VI |
| fig3.png, fig3.svg | 05 | Fig. 3 |
| evolution.csv, evolution_summary.json | 06 | per (arm, round) of the online loop; totals |
| evolution_gain.csv, evolution_controls.csv | 06 | probe gain per (arm, round); tests vs controls |
| evolution_oracle_controls.csv | 06, with evolve.oracle_arms | the same tests with the oracle teacher |
| evolve/<arm>/ | 06 | one arm's saved state and adapter (the loop resumes from it) |
| manifest.json | pipeline | per executed notebook: parameters, fingerprint, wall time |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.artifacts.contract import (  # noqa: F401 -- re-exported
    TRAIN_LOG,
    TrainLog,
    label_row,
    read_label_file,
    read_train_log,
    write_train_log,
)
from ecc_utils.records import (
    Example,
    LabelRecord,
    atomic_write_text,
    read_examples,
    write_jsonl,
)

if TYPE_CHECKING:
    import pandas as pd


# --- paths relative to artifacts/<profile>/ ------------------------------------------------

ENVIRONMENT = "environment.json"
DATA = "data"
SPLITS: tuple[str, ...] = ("train", "teacher_queries", "fewshot", "eval", "validation")
CANDIDATES = "data/candidates.jsonl"
VOCABULARY = "vocabulary.json"
STATS = "data/stats.json"
TEACHER = "teacher"
LABELS = "teacher/labels.jsonl"
TEACHER_SUMMARY = "teacher/summary.json"
TEACHER_CACHE = "teacher/cache.jsonl"
RUNS = "runs"
SCORES = "scores.csv"
TABLE6 = "table6.csv"
CALIBRATION = "calibration.json"
SCORE_SUMMARY = "score_summary.json"
FIG3 = ("fig3.png", "fig3.svg")
EVOLVE = "evolve"
EVOLUTION = "evolution.csv"
EVOLUTION_SUMMARY = "evolution_summary.json"
EVOLUTION_GAIN = "evolution_gain.csv"
EVOLUTION_CONTROLS = "evolution_controls.csv"
EVOLUTION_ORACLE_CONTROLS = "evolution_oracle_controls.csv"  # only with evolve.oracle_arms
GLANCE = "glance.csv"
MANIFEST = "manifest.json"
# What the pages show besides the contract's files: small tables, examples, figures.
CLEANING_EXAMPLES = "data/cleaning_examples.csv"
MASKING_EXAMPLES = "data/masking_examples.csv"
MASKING_QUALITY = "data/masking_quality.csv"
MASKING_MISSES = "data/masking_misses.csv"
MASKING_BY_SEED = "data/masking_by_seed.csv"
STATS_VS_PUBLISHED = "data/stats_vs_published.csv"
PROMPT_EXAMPLE = "teacher/prompt_example.txt"
TABLE3 = "teacher/table3.csv"
REFERENCE_QUALITY = "teacher/reference_quality.csv"
KNN_VARIANTS = "teacher/knn_variants.csv"
VALIDITY = "validity.csv"
PER_INPUT = "per_input.csv"
PER_GROUP = "per_group.csv"
METRICS = "metrics.csv"
CLAIMS = "claims.csv"
AGREEMENT = "agreement.csv"
DIVERSITY = "diversity.csv"
FIG3_MEANS = "fig3_means.csv"
FIGURES = "figures"


def split_file(name: str) -> str:
    """``data/<name>.jsonl`` for one of `SPLITS`."""
    if name not in SPLITS:
        raise ValueError(f"split={name!r}: one of {', '.join(SPLITS)}")
    return f"{DATA}/{name}.jsonl"


def run_dir(method: str) -> str:
    """``runs/<method>``: the milestone checkpoints and the training log of one method."""
    return f"{RUNS}/{method}"


def train_log_file(method: str) -> str:
    return f"{run_dir(method)}/{TRAIN_LOG}"


def checkpoint_name(step: int) -> str:
    """``checkpoint-<step>``: the folder transformers' Trainer saves a step's adapter in."""
    return f"checkpoint-{int(step)}"


def checkpoint_dir(method: str, step: int) -> str:
    """``runs/<method>/checkpoint-<step>``: one milestone's adapter."""
    return f"{run_dir(method)}/{checkpoint_name(step)}"


def milestone_checkpoints(out_dir: str | os.PathLike, milestones: Sequence[int]) -> dict[int, Path]:
    """``{step: checkpoint dir}`` for the milestones whose adapter exists under `out_dir` (a
    method's run folder, or any folder a training run writes to)."""
    found = {s: Path(out_dir) / checkpoint_name(s) for s in sorted(milestones)}
    return {s: p for s, p in found.items() if (p / "adapter_config.json").exists()}


# --- typed records of the contract --------------------------------------------------------


# What every page of a book built on the synthetic corpus says first (the pipeline passes it to
# the book's extension; `Artifacts.source_line` adds it).
SYNTHETIC_NOTICE = (
    "Synthetic data: no ECD or JDDC data were found, so this run used the project's own "
    "generated corpus in the ECD format (template dialogues, no real customer). Its numbers "
    "show that the pipeline runs; they are not comparable with the paper's."
)


def display_path(path: str | os.PathLike, project: str | os.PathLike | None = None) -> str:
    """`path` as a reader of the book should see it: never the builder's absolute folder.

    Inside the data folder of ``ECC_DATA_DIR``: ``$ECC_DATA_DIR/...``; inside the project:
    relative to it; anything else: its last two parts.
    """
    p = Path(path).expanduser().resolve()
    env = os.environ.get("ECC_DATA_DIR")
    if env and p.is_relative_to(Path(env).expanduser().resolve()):
        rel = p.relative_to(Path(env).expanduser().resolve()).as_posix()
        return "$ECC_DATA_DIR" + ("/" + rel if rel != "." else "")
    root = Path(project).resolve() if project else Path(__file__).resolve().parents[2]
    if p.is_relative_to(root):
        return p.relative_to(root).as_posix() or "."
    return "/".join(p.parts[-2:])


# --- the folder ---------------------------------------------------------------------------


SWEEPS = "sweeps"  # folder under params/: the training-settings sweeps, committed


def sweep_file(params_dir: str | Path, profile: str) -> Path:
    """``params/sweeps/<profile>.csv`` (`bench/sweep_train.py` writes it)."""
    return Path(params_dir) / SWEEPS / f"{profile}.csv"


def update_sweep_file(params_dir: str | Path, profile: str) -> Path:
    """``params/sweeps/<profile>_update.csv`` (`bench/sweep_update.py` writes it): the loop's
    update settings chosen with perfect labels."""
    return Path(params_dir) / SWEEPS / f"{profile}_update.csv"


@dataclass(frozen=True)
class Artifacts:
    """The artifact folder of one profile, ``artifacts/<profile>/``, and its files."""

    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    def path(self, rel: str) -> Path:
        return self.root / rel

    # data (01) ----------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.path(DATA)

    def split(self, name: str) -> Path:
        return self.path(split_file(name))

    def read_split(self, name: str) -> list[Example]:
        path = self.split(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run notebook 01_data for this profile")
        return read_examples(path)

    def write_split(self, name: str, rows: Sequence[Example]) -> int:
        return write_jsonl(self.split(name), rows)

    @property
    def candidates(self) -> Path:
        return self.path(CANDIDATES)

    @property
    def vocabulary(self) -> Path:
        """The end model's trimmed vocabulary (`endmodel.vocab.profile_vocabulary`)."""
        return self.path(VOCABULARY)

    @property
    def stats(self) -> Path:
        return self.path(STATS)

    @property
    def cleaning_examples(self) -> Path:
        return self.path(CLEANING_EXAMPLES)

    @property
    def masking_examples(self) -> Path:
        return self.path(MASKING_EXAMPLES)

    @property
    def masking_quality(self) -> Path:
        return self.path(MASKING_QUALITY)

    @property
    def masking_misses(self) -> Path:
        return self.path(MASKING_MISSES)

    @property
    def masking_by_seed(self) -> Path:
        return self.path(MASKING_BY_SEED)

    @property
    def stats_vs_published(self) -> Path:
        return self.path(STATS_VS_PUBLISHED)

    def read_stats(self) -> dict:
        return json.loads(self.stats.read_text(encoding="utf-8"))

    def source_line(self) -> str:
        """One sentence naming the data source this run used (from ``data/stats.json``), for
        every page that shows results computed from the data."""
        src = self.read_stats().get("source") or {}
        kind, desc = src.get("kind", "unknown"), src.get("description", "?")
        line = f"Data source of this run ({kind}): {desc}"
        return f"{SYNTHETIC_NOTICE}\n{line}" if kind == "synthetic" else line

    # teacher (02) -------------------------------------------------------------------------
    @property
    def teacher_dir(self) -> Path:
        return self.path(TEACHER)

    @property
    def labels(self) -> Path:
        return self.path(LABELS)

    @property
    def teacher_summary(self) -> Path:
        return self.path(TEACHER_SUMMARY)

    @property
    def prompt_example(self) -> Path:
        return self.path(PROMPT_EXAMPLE)

    @property
    def table3(self) -> Path:
        return self.path(TABLE3)

    @property
    def reference_quality(self) -> Path:
        """The teacher's answers against the human replies, beside a random reply."""
        return self.path(REFERENCE_QUALITY)

    @property
    def knn_variants(self) -> Path:
        """The knn teacher's retrieval settings compared on held-out teacher queries."""
        return self.path(KNN_VARIANTS)

    @property
    def teacher_cache(self) -> Path:
        """The default cache of teacher answers (``teacher.cache_file`` overrides it)."""
        return self.path(TEACHER_CACHE)

    def write_labels(self, splits: Mapping[str, Sequence[LabelRecord]]) -> int:
        """Write ``teacher/labels.jsonl``: one line per labelled query with its split name.

        Each line: id, split, query (masked), answer, backend, model, usage (input / output /
        cached tokens), cached (whether the provider served part of the prompt from its
        cache), latency_s: all of it from the call that produced the answer, so a re-run served
        from our cache writes the same file (and re-runs nothing downstream); this run's calls
        and cache hits are in ``teacher/summary.json``. Returns the count.
        """
        rows = [label_row(r, split) for split, recs in splits.items() for r in recs]
        return write_jsonl(self.labels, rows)

    def read_labels(self) -> list[LabelRecord]:
        if not self.labels.is_file():
            raise FileNotFoundError(
                f"{self.labels} is missing: run notebook 02_cloud_labels for this profile"
            )
        return read_label_file(self.labels)

    def labels_by_id(self) -> dict[str, LabelRecord]:
        """The teacher's label of every labelled query, by example id."""
        return {r.id: r for r in self.read_labels() if r.id is not None}

    def teacher_answers(self, examples: Sequence[Example]) -> list[LabelRecord]:
        """The label of each example, in order; an example without one is an error."""
        by_id = self.labels_by_id()
        missing = [e.id for e in examples if e.id not in by_id]
        if missing:
            raise KeyError(
                f"{self.labels}: no teacher label for {missing[:5]} ({len(missing)} missing); "
                "re-run notebook 02_cloud_labels"
            )
        return [by_id[e.id] for e in examples]

    # training (03) ------------------------------------------------------------------------
    def run_dir(self, method: str) -> Path:
        return self.path(run_dir(method))

    def checkpoint(self, method: str, step: int) -> Path:
        return self.path(checkpoint_dir(method, step))

    def checkpoints_on_disk(self, method: str, steps: Sequence[int]) -> dict[int, Path]:
        """``{step: adapter dir}`` of `method`'s milestones among `steps` that exist."""
        return milestone_checkpoints(self.run_dir(method), steps)

    def checkpoints_by_model(
        self, methods: Sequence[str], milestones: Mapping[str, Sequence[int]]
    ) -> dict[str, Path | None]:
        """Table VI's columns mapped to adapters: "Original Model" -> None, then each method's
        milestone adapter ``runs/<method>/checkpoint-<step>`` (which must exist)."""
        from ecc_utils.paper import ORIGINAL_LABEL, model_label

        out: dict[str, Path | None] = {ORIGINAL_LABEL: None}
        for m in methods:
            steps = list(milestones[m])
            found = self.checkpoints_on_disk(m, steps)
            for s in steps:
                if s not in found:
                    raise FileNotFoundError(
                        f"{self.checkpoint(m, s)}: no adapter for {m} at step {s}; "
                        "run notebook 03_train for this method first"
                    )
                out[model_label(m, s)] = found[s]
        return out

    def train_log(self, method: str) -> Path:
        return self.path(train_log_file(method))

    def read_train_log(self, method: str) -> TrainLog:
        return read_train_log(self.run_dir(method))

    def loss_figure(self, method: str) -> Path:
        """``runs/<method>/loss.png``: the training loss curve (notebook 03)."""
        return self.run_dir(method) / "loss.png"

    def samples(self, method: str) -> Path:
        """``runs/<method>/samples.csv``: sample answers at each milestone (notebook 03)."""
        return self.run_dir(method) / "samples.csv"

    # scoring (04, 05) ---------------------------------------------------------------------
    @property
    def scores(self) -> Path:
        return self.path(SCORES)

    def write_scores(self, df: pd.DataFrame) -> None:
        _write_csv(df, self.scores, index=False)

    def read_scores(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(self.scores)

    @property
    def table6(self) -> Path:
        return self.path(TABLE6)

    def write_table6(self, df: pd.DataFrame) -> None:
        _write_csv(df, self.table6, index=True)

    def read_table6(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(self.table6, index_col=0)

    @property
    def calibration(self) -> Path:
        return self.path(CALIBRATION)

    @property
    def score_summary(self) -> Path:
        return self.path(SCORE_SUMMARY)

    @property
    def validity(self) -> Path:
        """Every candidate scorer measured for the SimBERT and RocketQA roles."""
        return self.path(VALIDITY)

    @property
    def per_input(self) -> Path:
        """One row per (model, evaluation input): final score, likelihoods, text metrics."""
        return self.path(PER_INPUT)

    @property
    def per_group(self) -> Path:
        """One row per (model, held-out ECD context): rank of the true reply per selector."""
        return self.path(PER_GROUP)

    @property
    def metrics(self) -> Path:
        """Every reported metric of every model with its 95 % interval."""
        return self.path(METRICS)

    @property
    def claims(self) -> Path:
        """The paper's claims, one paired test per (claim, metric)."""
        return self.path(CLAIMS)

    @property
    def agreement(self) -> Path:
        return self.path(AGREEMENT)

    @property
    def diversity(self) -> Path:
        return self.path(DIVERSITY)

    def read_csv(self, path: Path, **kw) -> pd.DataFrame:
        """A CSV table of the contract (e.g. ``art.read_csv(art.metrics)``)."""
        import pandas as pd

        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run the notebook that writes it first")
        return pd.read_csv(path, **kw)

    def write_csv(self, df: pd.DataFrame, path: Path, index: bool = False) -> None:
        _write_csv(df, path, index=index)

    @property
    def fig3_means(self) -> Path:
        return self.path(FIG3_MEANS)

    # online loop (06) ---------------------------------------------------------------------
    def evolve_dir(self, arm: str) -> Path:
        """``evolve/<arm>/``: the saved state and adapter of one arm (a gate or a control)."""
        return self.path(EVOLVE) / arm

    @property
    def evolution(self) -> Path:
        return self.path(EVOLUTION)

    def write_evolution(self, df: pd.DataFrame) -> None:
        _write_csv(df, self.evolution, index=False)

    def read_evolution(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(self.evolution)

    @property
    def evolution_summary(self) -> Path:
        return self.path(EVOLUTION_SUMMARY)

    @property
    def evolution_gain(self) -> Path:
        """Per (arm, round): the probe score's gain over round 0, paired over the probe
        queries, with its 95 % interval (`evolve.probe_gain`)."""
        return self.path(EVOLUTION_GAIN)

    def write_evolution_gain(self, df: pd.DataFrame) -> None:
        _write_csv(df, self.evolution_gain, index=False)

    def read_evolution_gain(self) -> pd.DataFrame:
        return self.read_csv(self.evolution_gain)

    @property
    def evolution_controls(self) -> Path:
        """Paired tests at the last round: each gate's probe gain against the controls'
        (`evolve.compare_controls`)."""
        return self.path(EVOLUTION_CONTROLS)

    def write_evolution_controls(self, df: pd.DataFrame) -> None:
        _write_csv(df, self.evolution_controls, index=False)

    def read_evolution_controls(self) -> pd.DataFrame:
        return self.read_csv(self.evolution_controls)

    @property
    def evolution_oracle_controls(self) -> Path:
        """The tests against the controls with the oracle teacher's arms (written only with
        ``evolve.oracle_arms``; the robustness study reads it)."""
        return self.path(EVOLUTION_ORACLE_CONTROLS)

    @property
    def glance(self) -> Path:
        """The landing page's table: each claim of the paper and this run's value and status."""
        return self.path(GLANCE)

    # anything else ------------------------------------------------------------------------
    @property
    def figures(self) -> Path:
        """``figures/``: every page figure but Fig. 3, as PNG and SVG."""
        return self.path(FIGURES)

    @property
    def environment(self) -> Path:
        return self.path(ENVIRONMENT)

    @property
    def manifest(self) -> Path:
        return self.path(MANIFEST)

    def write_json(self, path: Path, obj: Any) -> None:
        """Write `obj` as indented UTF-8 JSON, atomically (summaries, environment)."""
        atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _write_csv(df: pd.DataFrame, path: Path, index: bool) -> None:
    atomic_write_text(path, df.to_csv(index=index))
