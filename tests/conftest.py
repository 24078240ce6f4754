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


def copy_code(dest: Path, params: Path = ROOT / "params") -> Path:
    """Copy what a code fingerprint reads (notebooks, the package, `params`) into `dest`."""
    shutil.copytree(ROOT / "notebooks", dest / "notebooks")
    shutil.copytree(ROOT / "ecc_utils", dest / "ecc_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copytree(params, dest / "params")
    return dest


# A key that must never reach an artifact, a log or an executed notebook.
FAKE_KEY = "AIzaFAKE-e2e-secret-0123456789"


@pytest.fixture(scope="session")
def smoke_run(request, tmp_path_factory):
    """The smoke profile through the whole pipeline (twice) in a copy of the project: (root,
    first run's output, second run's output). Shared by the end-to-end and paper-path tests.
    When a collected test needs the narrowed run (`smoke_run_narrowed`), it is started first
    and runs beside this one at a lower priority: it uses one thread, and much of a build is
    single-threaded (kernels starting, imports, the book)."""
    if any("smoke_run_narrowed" in getattr(i, "fixturenames", ()) for i in request.session.items):
        request.getfixturevalue("narrowed_started")
    root = copy_project(tmp_path_factory.mktemp("project"))
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", GEMINI_API_KEY=FAKE_KEY)
    cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(root), "--profile", "smoke"]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    second = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    return root, first.stdout, second.stdout


# Another processor, emulated: every setting changes the bits of the kernels it governs
# (bench/cpu_drift.py shows the fingerprints). OPENBLAS_CORETYPE stays as the machine sets it.
NARROWED = {
    "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",  # no bfloat16 or AMX instructions
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorised kernels at AVX2 width
    "MKL_CBWR": "COMPATIBLE",  # MKL's vendor-neutral code path
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL",
    "OMP_NUM_THREADS": "1",
}


@pytest.fixture(scope="session")
def narrowed_started(tmp_path_factory):
    """The smoke profile up to the loop page (no book), started in the background in another
    copy with the CPU features `NARROWED`: (its root, the process, its log file); stopped at the
    session's end if no test waited for it."""
    root = copy_project(tmp_path_factory.mktemp("narrowed"))
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", **NARROWED)
    # Up to the loop page: the pinned numbers come from the data, scoring and loop pages.
    cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(root), "--profile", "smoke",
           "--no-book", "--until", "06_online_evolution"]  # fmt: skip
    log = root / "pipeline.log"
    with log.open("w") as out:
        # At a lower priority: it takes the cycles the main run leaves idle, not the main
        # run's, which every other end-to-end test waits for.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=lambda: os.nice(10))  # fmt: skip
    yield root, proc, log
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def smoke_run_narrowed(narrowed_started):
    """The narrowed smoke run (`narrowed_started`) once it has finished: its root."""
    root, proc, log = narrowed_started
    assert proc.wait(timeout=1800) == 0, log.read_text()[-8000:]
    return root
