"""The spread of a profile's headline numbers between CPU features, on one machine.

Runs the profile's pipeline up to the scoring page (`STAGES`) twice in fresh copies of the
committed tree, once with this CPU's default features and once narrowed to a CPU without
AVX512-BF16 (``ONEDNN_MAX_CPU_ISA=AVX512_CORE ATEN_CPU_CAPABILITY=avx2``: bfloat16 is then not
native, so the quick profile trains and answers in float32, as on such a machine). The narrowed
run reuses the default run's data and teacher labels (``data/``, ``teacher/``), which do not
depend on the processor's arithmetic (retrieval goes through `ecc_utils.numerics`), and
re-runs the environment page, training and scoring. Then it writes
``bench/results/cpu_spread_<profile>.csv`` (`ecc_utils.report.reproducibility.compare`) and a JSON of
provenance beside it. The Reproducibility page of the book shows them.

    ECC_DATA_DIR=../shared/data .venv/bin/python bench/cpu_spread.py --profile quick

(about an hour for quick on two cores, the two runs one after the other). ``--default`` and
``--narrowed`` take the project roots of runs made before, to compare without running.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecc_utils.report.reproducibility import compare, headline, spread_file, summarise  # noqa: E402

NARROWED = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "ATEN_CPU_CAPABILITY": "avx2"}
STAGES = ("00_environment", "01_data", "02_cloud_labels", "03_train", "04_score")
REUSED = ("data", "teacher")  # the narrowed run takes these from the default run


def run(profile: str, dest: Path, extra: dict[str, str], reuse: Path | None = None) -> float:
    """The committed tree (HEAD) copied to `dest` and the profile's `STAGES` run there, its own
    copy of ecc_utils first on the path; with `reuse`, that run's data and teacher labels are
    copied in and the data stages skipped. The wall time in seconds."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / "COMMIT").write_text(_commit() + "\n", encoding="utf-8")
    stages = STAGES
    if reuse is not None:
        for name in REUSED:
            shutil.copytree(
                reuse / "artifacts" / profile / name, dest / "artifacts" / profile / name
            )
        stages = tuple(s for s in STAGES if s not in ("01_data", "02_cloud_labels"))
    env = dict(os.environ, **extra, PYTHONPATH=str(dest), HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    for stage in stages:
        cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(dest), "--profile",
               profile, "--no-book", "--only", stage]  # fmt: skip
        subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def _commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


def provenance(root: Path, profile: str) -> dict:
    """What the run under `root` executed on, and at which commit (its ``COMMIT`` file, which
    `run` writes; a run made otherwise needs one written by hand)."""
    commit = root / "COMMIT"
    env = json.loads((root / "artifacts" / profile / "environment.json").read_text())
    manifest = json.loads((root / "artifacts" / profile / "manifest.json").read_text())
    wall = sum(float(v.get("wall_time_s", 0) or 0) for v in manifest.get("steps", {}).values())
    return {"commit": commit.read_text().strip() if commit.is_file() else None,
            "steps": sorted(manifest.get("steps", {})),
            "cpu": env["device"]["cpu"], "threads": env["device"].get("torch_threads"),
            "python": env["python"], "packages": env["packages"], "wall_time_s": round(wall, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--default", type=Path, help="project root of a finished default run")
    ap.add_argument("--narrowed", type=Path, help="project root of a finished narrowed run")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ecc_cpu_spread"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args(argv)
    roots = {}
    for tag, given, extra in (("default", args.default, {}), ("narrowed", args.narrowed, NARROWED)):
        if given is None:
            given = args.work / tag
            print(f"{tag}: running the {args.profile} profile in {given} {extra or ''}", flush=True)
            run(args.profile, given, extra, reuse=roots.get("default"))
        roots[tag] = given
    runs = {tag: headline(root / "artifacts" / args.profile) for tag, root in roots.items()}
    spread = compare(runs["default"], runs["narrowed"])
    out = args.out / spread_file(".", args.profile).name
    out.parent.mkdir(parents=True, exist_ok=True)
    spread.to_csv(out, index=False)
    runs = {tag: provenance(root, args.profile) for tag, root in roots.items()}
    meta = {"profile": args.profile, "commit": _commit(), "date": date.today().isoformat(),
            "narrowed_variables": runs["narrowed"]["cpu"]["variables"],
            "ran_here": sorted(tag for tag, given in (("default", args.default),
                                                      ("narrowed", args.narrowed)) if given is None),
            "runs": runs}  # fmt: skip
    if meta["ran_here"]:  # runs given by root record their own steps
        meta.update(
            stages=STAGES, reused_by_narrowed=REUSED if "narrowed" in meta["ran_here"] else []
        )
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(summarise(spread).to_string(index=False))
    print(f"wrote {out} and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
