"""The quick book's time against its budget, page by page. A benchmark, not a test; run it
alone on an idle machine.

Runs a cold build of the committed tree (``git archive HEAD`` into ``--work``, the profile's
pipeline with this Python, the de-quantised model cache of this machine as a reader's second
build would have it) and prints each group of pages against its budget for two cores, with the
CPU named: with native bfloat16 (AVX512-BF16 or AMX) the whole pipeline should take at most
12 minutes, without it (float32) at most 20. ``--manifest`` reads a finished cold build's
manifest instead of building. ``--data`` says where the build's data come from, as for a
reader: ``folder`` (``ECC_DATA_DIR``), ``downloaded`` (the public samples in the build's
``data/raw/`` as a download leaves them, copied from ``ECC_DATA_DIR``, which the build then does
not see) or ``offline`` (no data folder, nothing cached: the synthetic corpus). Prints the
splits' sizes too. Writes ``bench/results/book_budget_<profile>_<tag>.csv``::

    ECC_DATA_DIR=../shared/data .venv/bin/python bench/book_budget.py --tag cpu-epyc
    ECC_DATA_DIR=../shared/data .venv/bin/python bench/book_budget.py --data downloaded --tag cpu-epyc
    .venv/bin/python bench/book_budget.py --manifest artifacts/quick/manifest.json --tag cpu-epyc
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from common import RESULTS, cpu_identity, export_head, write_csv  # noqa: E402

# Minutes per group of pages on two cores with native bfloat16 (the split of 12 min);
# without it the whole may take 20, in the same proportions.
BUDGET_BF16 = {"data and labels (00-02)": 1.0, "training (03)": 5.0, "scoring (04)": 3.0,
               "online loop (06)": 2.5, "the rest (05, 07-10)": 0.5}  # fmt: skip
TOTAL_BF16, TOTAL_FLOAT32 = 12.0, 20.0


def group_of(step: str) -> str:
    """The budget group of a step key (``03_train-lora`` -> training)."""
    stage = step.split("-")[0]
    if stage in ("00_environment", "01_data", "02_cloud_labels"):
        return "data and labels (00-02)"
    if stage == "03_train":
        return "training (03)"
    return {"04_score": "scoring (04)", "06_online_evolution": "online loop (06)"}.get(
        stage, "the rest (05, 07-10)"
    )


def budget_rows(manifest: dict, bf16: bool) -> list[dict]:
    """One row per group: its steps' wall minutes and its budget (scaled to 20 min in all
    without bfloat16), then the total."""
    scale = 1.0 if bf16 else TOTAL_FLOAT32 / TOTAL_BF16
    minutes = dict.fromkeys(BUDGET_BF16, 0.0)
    for key, rec in manifest["steps"].items():
        minutes[group_of(key)] += (rec.get("wall_time_s") or 0.0) / 60
    rows = [{"pages": g, "minutes": round(m, 2), "budget": round(BUDGET_BF16[g] * scale, 2),
             "within": m <= BUDGET_BF16[g] * scale} for g, m in minutes.items()]  # fmt: skip
    total = sum(minutes.values())
    limit = TOTAL_BF16 if bf16 else TOTAL_FLOAT32
    rows.append({"pages": "whole pipeline", "minutes": round(total, 2), "budget": limit,
                 "within": total <= limit})  # fmt: skip
    return rows


DATA = ("folder", "downloaded", "offline")


def cold_build(profile: str, work: Path, data: str) -> tuple[dict, float]:
    """The committed tree built cold under `work` with its data as `data` says (`DATA`); its
    manifest and the wall minutes of the whole build, book included."""
    if work.exists():
        raise SystemExit(f"{work} exists: remove it or pass another --work")
    export_head(work)
    env = dict(os.environ, PYTHONPATH=str(work), HF_HUB_OFFLINE="1")
    folder = env.pop("ECC_DATA_DIR", None) if data != "folder" else env.get("ECC_DATA_DIR")
    if data != "offline" and not folder:
        raise SystemExit(f"--data {data}: set ECC_DATA_DIR to the shared data folder")
    if data == "downloaded":
        for sample in ("ecd_sample", "jddc_sample"):
            shutil.copytree(Path(folder) / sample, work / "data" / "raw" / sample)
    cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(work), "--profile", profile]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    minutes = (time.perf_counter() - t0) / 60
    print(f"cold build ({data}): {minutes:.1f} min wall, book included")
    return json.loads((work / "artifacts" / profile / "manifest.json").read_text()), minutes


def split_sizes(stats: Path) -> dict:
    """The data stage's pool sizes (``data/stats.json``) and where its data came from."""
    s = json.loads(stats.read_text())
    return {"source": s["source"]["kind"]} | {f"n_{k}": v["total"] for k, v in s["counts"].items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--manifest", type=Path, help="a finished cold build's manifest.json")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ecc_book_budget"))
    ap.add_argument("--data", choices=DATA, default="folder")
    args = ap.parse_args(argv)
    if args.manifest:
        manifest, wall = json.loads(args.manifest.read_text()), None
        stats = args.manifest.parent / "data" / "stats.json"
    else:
        manifest, wall = cold_build(args.profile, args.work, args.data)
        stats = args.work / "artifacts" / args.profile / "data" / "stats.json"
    resumed = [k for k, r in manifest["steps"].items() if r.get("resumed_from")]
    if resumed:
        raise SystemExit(f"not a cold build: {', '.join(resumed)} resumed from saved work")
    device = cpu_identity()
    bf16 = not device.endswith("no native bf16")
    sizes = split_sizes(stats)
    extra = {"profile": args.profile, "device": device, "build_wall_min": wall} | sizes
    rows = [r | extra for r in budget_rows(manifest, bf16)]
    print(f"{device}; budget for {'native bfloat16' if bf16 else 'float32'} on two cores")
    print("data: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    for r in rows:
        print(f"  {r['pages']:<28} {r['minutes']:6.2f} min  budget {r['budget']:5.2f}  "
              f"{'ok' if r['within'] else 'OVER'}")  # fmt: skip
    write_csv(rows, RESULTS / f"book_budget_{args.profile}_{args.tag}.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
