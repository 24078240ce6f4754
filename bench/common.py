"""What the benchmark scripts share: real pairs from ``$ECC_DATA_DIR``, a per-step timer,
medians and ratios, CSV output. Not a test; imported by the scripts of this folder."""

from __future__ import annotations

import csv
import os
import platform
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecc_utils.data.ecd import read_ecd
from ecc_utils.records import Example

RESULTS = Path(__file__).parent / "results"


REPO = Path(__file__).resolve().parents[1]


def export_head(dest: Path, repo: Path = REPO) -> Path:
    """The committed tree of `repo` (``git archive HEAD``) unpacked into the new folder `dest`:
    what a fresh clone holds, without this checkout's builds or uncommitted edits."""
    import subprocess

    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", "HEAD"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def data_dir() -> Path:
    d = Path(os.environ.get("ECC_DATA_DIR", "../shared/data"))
    if not (d / "ecd_sample").is_dir():
        raise SystemExit(f"ECC_DATA_DIR={d}: no ecd_sample/ there (see ../shared/data/README.md)")
    return d


def natural_pairs(n: int, seed: int = 0, files: Sequence[str] = ("train", "valid", "test")):
    """Up to `n` human (context, query, response) pairs of the ECD sample, shuffled by `seed`:
    the positive records of its files, the last customer turn as the query."""
    out: list[Example] = []
    for name in files:
        ecd = read_ecd(data_dir() / "ecd_sample" / name, strict=False)
        for r in ecd.records:
            if r.label != 1 or not r.context or r.context[-1].speaker != "customer":
                continue
            ctx = r.context
            out.append(Example(f"ecd-{name}-{r.line}", "ecd", list(ctx[:-1]), ctx[-1].text,
                               r.response))  # fmt: skip
    # The same text twice would count twice in a timing and leak across a split.
    seen: set[tuple[str, str]] = set()
    unique = [
        e for e in out if not ((e.query, e.response) in seen or seen.add((e.query, e.response)))
    ]
    random.Random(seed).shuffle(unique)
    return unique[:n]


def reply_pool(n: int, exclude: Sequence[str] = (), seed: int = 0) -> list[str]:
    """Up to `n` distinct replies of the ECD sample (the positive and the negative candidates
    of every file: real customer-service replies), none of `exclude`, shuffled by `seed`."""
    seen = set(exclude)
    out = []
    for name in ("train", "valid", "test"):
        for r in read_ecd(data_dir() / "ecd_sample" / name, strict=False).records:
            if r.response.strip() and r.response not in seen:
                seen.add(r.response)
                out.append(r.response)
    random.Random(seed).shuffle(out)
    return out[:n]


def step_timer():
    """A TrainerCallback that records each optimizer step's wall time (CUDA synchronised) and
    the Trainer's logged losses; `.times` and `.losses` ({step: loss})."""
    from transformers import TrainerCallback

    def sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.losses: dict[int, float] = {}
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kw):
            sync()
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            sync()
            self.times.append(time.perf_counter() - self._t)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses[state.global_step] = float(logs["loss"])

    return StepTimer()


def median_after(values: Sequence[float], warmup: int) -> float:
    """Median of `values` without the first `warmup` (compilation, allocator, caches)."""
    kept = list(values[warmup:]) or list(values)
    return statistics.median(kept)


def machine() -> str:
    """What ran the benchmark: the GPU's name, else the CPU's model name, how it multiplies
    bfloat16 (AMX, AVX512-BF16, or not natively: then the quick profile computes in float32)
    and its usable cores, e.g. ``AMD EPYC (family 25 model 1), AVX2, no native bf16, x2 cores``."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{cpu_identity()}, x{len(os.sched_getaffinity(0))} cores"


def cpu_identity(cpuinfo: str | None = None) -> str:
    """The CPU's model name (with family and model, which tell generations apart where the
    name does not), its widest vector extension and its bfloat16 support, from /proc/cpuinfo
    (or the text `cpuinfo`); what `platform` says where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="ignore")
        except OSError:
            return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if not line.strip():
            break  # the first processor's block is enough
        fields.setdefault(key.strip(), value.strip())
    if not fields:
        return platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    name = fields.get("model name", platform.machine())
    if "cpu family" in fields:
        name += f" (family {fields['cpu family']} model {fields.get('model', '?')})"
    vector = next((v.upper() for v in ("avx512f", "avx2", "avx") if v in flags), "no AVX")
    bf16 = ("AMX" if "amx_bf16" in flags else
            "AVX512-BF16" if "avx512_bf16" in flags else "no native bf16")  # fmt: skip
    return f"{name}, {vector.replace('AVX512F', 'AVX512')}, {bf16}"


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}", flush=True)
    return path
