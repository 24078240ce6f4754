"""The artifact contract of DESIGN.md as code: every file under ``artifacts/<profile>/`` and
every result committed by hand, declared once in `registry` (name, path, the stage that
writes it, kind), the folder `Artifacts` that reads and writes them, and the typed records
that cross stages (`contract`: a training log, the teacher's label rows).

Nothing here imports a stage's code, so that editing a stage does not re-run every notebook:
``calibration.json`` is read and written by `ecc_utils.scoring.Calibrator` at
``art.calibration``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ecc_utils.artifacts.contract import (
    TrainLog,
    label_row,
    read_label_file,
    read_train_log,
    write_train_log,
)
from ecc_utils.artifacts.folder import SYNTHETIC_NOTICE, Artifacts, milestone_checkpoints
from ecc_utils.artifacts.registry import (
    CPU_DRIFT_GLOB,
    PROJECT_FILES,
    REGISTRY,
    SPLITS,
    TRAIN_LOG,
    Entry,
    checkpoint_dir,
    checkpoint_name,
    plan_outputs,
    project_file,
    rel,
    rels,
    run_dir,
    split_file,
    train_log_file,
)

__all__ = [
    "CPU_DRIFT_GLOB", "PROJECT_FILES", "REGISTRY", "SPLITS", "SYNTHETIC_NOTICE", "TRAIN_LOG", "Artifacts",
    "Entry", "TrainLog", "checkpoint_dir", "checkpoint_name", "display_path", "label_row",
    "milestone_checkpoints", "plan_outputs", "project_file", "read_label_file",
    "read_train_log", "rel", "rels", "run_dir", "split_file", "train_log_file", "write_train_log",
]  # fmt: skip


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
