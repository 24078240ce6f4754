"""`Artifacts`: the folder ``artifacts/<profile>/`` of one profile, its files read and written
through the registry (`ecc_utils.artifacts.registry`).

``art.<name>`` is the path of a declared artifact (``art.metrics``); ``art.read(name)`` and
``art.write(name, obj)`` read and write it as its kind says (a CSV with its index column or
without, JSON, text); the splits, the teacher's labels and the training runs have typed
helpers of their own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ecc_utils.artifacts.contract import TrainLog, label_row, read_label_file, read_train_log
from ecc_utils.artifacts.registry import (
    REGISTRY,
    checkpoint_dir,
    entry,
    project_file,
    run_dir,
    split_file,
    train_log_file,
)
from ecc_utils.records import Example, LabelRecord, atomic_write_text, read_examples, write_jsonl

# What every page of a book built on the synthetic corpus says first (the pipeline passes it to
# the book's extension; `Artifacts.source_line` adds it).
SYNTHETIC_NOTICE = (
    "Synthetic data: no ECD or JDDC data were found, so this run used the project's own "
    "generated corpus in the ECD format (template dialogues, no real customer). Its numbers "
    "show that the pipeline runs; they are not comparable with the paper's."
)


def milestone_checkpoints(out_dir: str | os.PathLike, milestones: Sequence[int]) -> dict[int, Path]:
    """``{step: checkpoint dir}`` for the milestones whose adapter exists under `out_dir` (a
    method's run folder, or any folder a training run writes to)."""
    found = {s: Path(out_dir) / f"checkpoint-{int(s)}" for s in sorted(milestones)}
    return {s: p for s, p in found.items() if (p / "adapter_config.json").exists()}


class Artifacts:
    """The artifact folder of one profile, ``artifacts/<profile>/``, and its files."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Artifacts({str(self.root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Artifacts) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __getattr__(self, name: str) -> Path:
        if name.startswith("_") or name not in REGISTRY:
            raise AttributeError(f"Artifacts has no {name!r} (declared artifacts: see registry)")
        return self.root / REGISTRY[name].path

    def path(self, rel: str) -> Path:
        return self.root / rel

    # one reader and one writer ------------------------------------------------------------
    def read(self, name: str, **kw: Any) -> Any:
        """Artifact `name` as its kind says: a CSV as a DataFrame (its index column as the
        index), JSON as a dict, text as a str. A missing file names the stage that writes it."""
        e = entry(name)
        path = self.root / e.path
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run {e.stage} for this profile first")
        if e.kind == "csv":
            import pandas as pd

            return pd.read_csv(path, **({"index_col": 0} if e.index else {}), **kw)
        if e.kind == "json":
            return json.loads(path.read_text(encoding="utf-8"))
        if e.kind == "text":
            return path.read_text(encoding="utf-8")
        raise ValueError(f"artifact {name!r} ({e.kind}): read it with its typed helper")

    def write(self, name: str, obj: Any) -> Path:
        """Write artifact `name` atomically: a DataFrame as CSV (with its index where the
        registry says so), a dict or list as indented UTF-8 JSON, a str as text."""
        e = entry(name)
        path = self.root / e.path
        if e.kind == "csv":
            text = obj.to_csv(index=e.index)
        elif e.kind == "json":
            text = json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"
        elif e.kind == "text":
            text = str(obj)
        else:
            raise ValueError(f"artifact {name!r} ({e.kind}): write it with its typed helper")
        atomic_write_text(path, text)
        return path

    def project_file(self, name: str) -> Path:
        """A result committed by hand for this profile (`registry.PROJECT_FILES`), under the
        project that holds ``artifacts/<profile>/``."""
        return project_file(name, self.root.resolve().parents[1], self.root.name)

    # data (01) ----------------------------------------------------------------------------
    def split(self, name: str) -> Path:
        return self.root / split_file(name)

    def read_split(self, name: str) -> list[Example]:
        path = self.split(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run notebook 01_data for this profile")
        return read_examples(path)

    def write_split(self, name: str, rows: Sequence[Example]) -> int:
        return write_jsonl(self.split(name), rows)

    def source_line(self) -> str:
        """One sentence naming the data source this run used (from ``data/stats.json``), for
        every page that shows results computed from the data."""
        src = self.read("stats").get("source") or {}
        kind, desc = src.get("kind", "unknown"), src.get("description", "?")
        line = f"Data source of this run ({kind}): {desc}"
        return f"{SYNTHETIC_NOTICE}\n{line}" if kind == "synthetic" else line

    # teacher (02) -------------------------------------------------------------------------
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
        return self.root / run_dir(method)

    def checkpoint(self, method: str, step: int) -> Path:
        return self.root / checkpoint_dir(method, step)

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
        return self.root / train_log_file(method)

    def read_train_log(self, method: str) -> TrainLog:
        return read_train_log(self.run_dir(method))

    def loss_figure(self, method: str) -> Path:
        """``runs/<method>/loss.png``: the training loss curve (notebook 03)."""
        return self.run_dir(method) / "loss.png"

    def samples(self, method: str) -> Path:
        """``runs/<method>/samples.csv``: sample answers at each milestone (notebook 03)."""
        return self.run_dir(method) / "samples.csv"

    # online loop (06) ---------------------------------------------------------------------
    def evolve_dir(self, arm: str) -> Path:
        """``evolve/<arm>/``: the saved state and adapter of one arm (a gate or a control)."""
        return self.evolve / arm
