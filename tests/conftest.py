"""Shared fixtures: the project root, the real data folder, a copy of the project."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real ECD/JDDC samples (ECC_DATA_DIR); tests that need them skip without them."""
    d = os.environ.get("ECC_DATA_DIR")
    if not d or not Path(d, "ecd_sample").is_dir():
        pytest.skip("real data samples absent: set ECC_DATA_DIR to the shared data folder")
    return Path(d)


def copy_project(dest: Path) -> Path:
    """Copy what the pipeline needs (not .venv, artifacts, builds) into `dest`."""
    for name in ("notebooks", "params", "book", "data"):
        src = ROOT / name
        if src.exists():
            shutil.copytree(
                src,
                dest / name,
                ignore=shutil.ignore_patterns(
                    "generated", "raw", "processed", ".ipynb_checkpoints"
                ),
            )
    shutil.copy(ROOT / "_config.yml", dest / "_config.yml")
    return dest
