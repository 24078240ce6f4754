"""Shared fixtures: the project root, the real data folder, a copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


# A key that must never reach an artifact, a log or an executed notebook.
FAKE_KEY = "AIzaFAKE-e2e-secret-0123456789"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke profile through the whole pipeline (twice) in a copy of the project: (root,
    first run's output, second run's output). Shared by the end-to-end and paper-path tests."""
    root = copy_project(tmp_path_factory.mktemp("project"))
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", GEMINI_API_KEY=FAKE_KEY)
    cmd = [sys.executable, "-m", "ecc_utils.pipeline", "--root", str(root), "--profile", "smoke"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    return root, first.stdout, second.stdout
