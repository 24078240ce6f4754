"""The robustness study: the profile's claims and online loop for several seeds.

For each seed, a copy of the committed tree (HEAD) with ``seed: <s>`` and the loop's oracle
arms on (`ecc_utils.report.robustness.study_profile_text`) runs training, scoring and the online loop
(`STUDY_STAGES`). The first seed also runs the data and cloud-labelling pages; the others take
its ``data/`` and ``teacher/`` artifacts, so every seed sees the same splits, evaluation
inputs and teacher labels and differs in the training seed and data order, the sampling and
the loop's stream order. Then it writes ``bench/results/robustness_<profile>.csv``
(`ecc_utils.report.robustness.study_table`: each seed's verdicts, the pooled paired tests over
inputs x seeds, the statuses) and a JSON of provenance beside it (commit, date, machine,
seeds, wall times, the code fingerprint the results page checks). Not part of the book:

    ECC_DATA_DIR=../shared/data .venv/bin/python bench/robustness.py --profile quick

(about 17 minutes per seed for quick on two cores, one seed after the other). ``--roots``
takes the project roots of finished runs, one per seed, to collect without running;
``--first-root .`` takes this checkout's cold build of the committed code (seed 0) as the first
seed's run, so that only the other seeds run.

After a change that should not move any number (a refactor, a faster path that computes the
same), ``--verify`` checks a build of the current code instead of running the study again:

    make clean && ECC_DATA_DIR=../shared/data make book
    .venv/bin/python bench/robustness.py --verify

It needs a clean tree and a cold build of it: every study stage up to date for this code and
none resumed from saved work (the manifest's ``resumed_from``), run at one of the study's
seeds (the profile's own seed: 0). When the build's claims and loop tests equal that
seed's rows to the last digit (`ecc_utils.report.robustness.verify_seed`), the code's fingerprint is
added under ``verified`` in the study's JSON and the results page treats the study as
current; otherwise it lists what differs and exits 1 (then run the study again).
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
sys.path.insert(0, str(Path(__file__).parent))

from common import export_head  # noqa: E402

from ecc_utils.report.robustness import (  # noqa: E402
    REUSED_DIRS,
    REUSED_STAGES,
    STUDY_STAGES,
    code_fingerprint,
    study_file,
    study_profile_text,
    study_table,
)


def run_seed(profile: str, seed: int, dest: Path, reuse: Path | None) -> float:
    """The committed tree copied to `dest`, its profile set to `seed` (oracle arms on), and
    the study's stages run there, its own ecc_utils first on the path; the data stages only
    without `reuse` (else its data and teacher artifacts are copied in). Wall seconds."""
    if dest.exists():
        raise SystemExit(f"{dest} exists: remove it, or pass finished runs with --roots")
    export_head(dest)
    (dest / "COMMIT").write_text(_commit() + "\n", encoding="utf-8")
    (dest / "FINGERPRINT").write_text(code_fingerprint(dest, profile) + "\n", encoding="utf-8")
    params = dest / "params" / f"{profile}.yaml"
    params.write_text(study_profile_text(params.read_text(encoding="utf-8"), seed), "utf-8")
    stages = STUDY_STAGES
    if reuse is None:
        stages = (STUDY_STAGES[0], *REUSED_STAGES, *STUDY_STAGES[1:])
    else:
        for name in REUSED_DIRS:
            shutil.copytree(reuse / "artifacts" / profile / name,
                            dest / "artifacts" / profile / name)  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(dest), HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    for stage in stages:
        print(f"seed {seed}: {stage}", flush=True)
        cmd = [sys.executable, "-m", "ecc_utils.build", "--root", str(dest), "--profile",
               profile, "--no-book", "--only", stage]  # fmt: skip
        subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - t0


def _commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


def cold_build(profile: str, root: Path, flag: str):
    """(the profile, its artifact folder) of the build under `root` when it is a cold build of
    this commit: a clean git checkout, every study stage up to date for its code and none
    resumed from saved work; else SystemExit naming `flag` and what is wrong."""
    from ecc_utils.build.pipeline import Layout, load_manifest, stale_steps
    from ecc_utils.config import load_profile

    if subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True
    ).returncode:
        raise SystemExit(f"{flag}: {root} is not a git checkout (the record names a commit)")
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "notebooks",
                            "ecc_utils", "params"], capture_output=True, text=True).stdout  # fmt: skip
    if dirty.strip():
        raise SystemExit(f"{flag}: commit first, the tree differs from HEAD:\n{dirty}")
    layout = Layout(root, profile)
    cfg = load_profile(root / "params" / f"{profile}.yaml")
    manifest, art = load_manifest(layout.artifacts), layout.artifacts
    studied = (*REUSED_STAGES, *STUDY_STAGES)
    stale = [k for k, _, _ in stale_steps(layout) if k.split("-")[0] in studied]
    if stale:
        raise SystemExit(f"{flag}: the build in {art} is not of this code ({', '.join(stale)} "
                         "would run again; the data stages follow ECC_DATA_DIR too: set it as "
                         f"for the build), run `make book PROFILE={profile}` first")  # fmt: skip
    resumed = [k for k, r in manifest["steps"].items()
               if k.split("-")[0] in studied and r.get("resumed_from") != []]  # fmt: skip
    if resumed:
        raise SystemExit(f"{flag}: {', '.join(resumed)} resumed from saved work (or ran before "
                         "the manifest recorded it): the numbers would be partly earlier code's; "
                         f"rebuild cold: make clean && make book PROFILE={profile}")  # fmt: skip
    return cfg, art


def first_root(profile: str, root: Path, seed: int) -> float:
    """``--first-root``: this checkout's cold build, run at the first seed, taken as that seed's
    run (the study's own run would compute the same: same commit, profile and CPU); records
    its commit and code fingerprint beside it as `run_seed` does, and returns the wall seconds
    of its study stages (from its manifest)."""
    from ecc_utils.build.pipeline import load_manifest

    cfg, art = cold_build(profile, root, "--first-root")
    if cfg.seed != seed or not cfg.evolve.oracle_arms:
        raise SystemExit(f"--first-root: {root} was built with seed {cfg.seed} and oracle arms "
                         f"{'on' if cfg.evolve.oracle_arms else 'off'}; the study's first seed "
                         f"is {seed}, with the oracle arms on")  # fmt: skip
    (root / "COMMIT").write_text(_commit() + "\n", encoding="utf-8")
    (root / "FINGERPRINT").write_text(code_fingerprint(root, profile) + "\n", encoding="utf-8")
    steps = load_manifest(art)["steps"]
    stages = (*REUSED_STAGES, *STUDY_STAGES)
    return sum(r.get("wall_time_s") or 0 for k, r in steps.items() if k.split("-")[0] in stages)


def verify(profile: str, root: Path = ROOT) -> int:
    """``--verify``: the build under `root` against the committed study (see the module)."""
    from ecc_utils.report.robustness import load_study, verify_seed

    cfg, art = cold_build(profile, root, "--verify")
    got = load_study(root, profile)
    if got is None:
        raise SystemExit(f"--verify: no study is committed at {study_file(root, profile)}")
    study, meta = got
    problems = verify_seed(art, study, cfg.seed, cfg.teacher.backend)
    if problems:
        print(f"this build (seed {cfg.seed}) differs from the study's seed {cfg.seed}:")
        print("\n".join(f"  {p}" for p in problems[:30]))
        print("run the study again (bench/robustness.py) for this code")
        return 1
    fp = code_fingerprint(root, profile)
    if fp == meta.get("fingerprint"):
        print(f"the study ran for this code ({fp}); its seed {cfg.seed} is reproduced exactly")
        return 0
    env = json.loads((art / "environment.json").read_text())
    entry = {"fingerprint": fp, "commit": _commit(), "date": date.today().isoformat(),
             "seed": cfg.seed, "rows": int((study["seed"] == str(cfg.seed)).sum()),
             "cpu": env["device"]["cpu"].get("model")}  # fmt: skip
    meta["verified"] = [v for v in meta.get("verified", []) if v.get("fingerprint") != fp]
    meta["verified"].append(entry)
    out = study_file(root, profile).with_suffix(".json")
    out.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"seed {cfg.seed} reproduced exactly by commit {entry['commit']}: recorded {fp} in {out}")
    return 0


def _read(root: Path, name: str) -> str | None:
    f = root / name
    return f.read_text().strip() if f.is_file() else None


def main(argv: list[str] | None = None) -> int:
    from ecc_utils.config import load_profile
    from ecc_utils.scoring import claims_of

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--roots", type=Path, nargs="+", help="finished runs, one per seed")
    ap.add_argument("--first-root", type=Path,
                    help="a cold build of this commit at the first seed (e.g. .): taken as that "
                         "seed's run, so only the others run")  # fmt: skip
    ap.add_argument("--work", type=Path, default=Path("/tmp/ecc_robustness"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument(
        "--verify",
        action="store_true",
        help="check this tree's build against the committed study (see above)",
    )
    args = ap.parse_args(argv)
    if args.verify:
        return verify(args.profile)
    if args.roots and len(args.roots) != len(args.seeds):
        ap.error(f"--roots: {len(args.roots)} roots for {len(args.seeds)} seeds")
    roots, wall = {}, {}
    for i, seed in enumerate(args.seeds):
        if args.roots:
            roots[seed] = args.roots[i]
            continue
        if i == 0 and args.first_root:
            wall[seed] = round(first_root(args.profile, args.first_root.resolve(), seed), 1)
            roots[seed] = args.first_root.resolve()
            continue
        dest = args.work / f"seed-{seed}"
        reuse = roots[args.seeds[0]] if i else None
        wall[seed] = round(run_seed(args.profile, seed, dest, reuse), 1)
        roots[seed] = dest
        print(f"seed {seed}: done in {wall[seed] / 60:.1f} min", flush=True)
    first = roots[args.seeds[0]]
    cfg = load_profile(first / "params" / f"{args.profile}.yaml")
    arts = {s: r / "artifacts" / args.profile for s, r in roots.items()}
    table = study_table(arts, claims_of(cfg.train), cfg.teacher.backend)
    out = args.out / study_file(ROOT, args.profile).name
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    env = json.loads((arts[args.seeds[0]] / "environment.json").read_text())
    fingerprints = {_read(r, "FINGERPRINT") for r in roots.values()}
    commits = [_read(r, "COMMIT") for r in roots.values()]
    if len(fingerprints) != 1:  # commits may differ where the code they run does not
        raise SystemExit(f"the runs are of different code: {commits} {fingerprints}")
    meta = {"profile": args.profile, "commit": commits[0], "fingerprint": fingerprints.pop(),
            "commits": dict(zip(map(str, roots), commits, strict=True)),
            "date": date.today().isoformat(), "seeds": args.seeds,
            "stages": list(STUDY_STAGES), "reused_from_first_seed": list(REUSED_DIRS),
            "cpu": env["device"]["cpu"], "threads": env["device"].get("torch_threads"),
            "python": env["python"], "wall_time_s": wall}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    pooled = table[table["seed"] == "pooled"]
    print(pooled[["section", "teacher", "label", "metric", "verdict", "status"]].to_string())
    print(f"wrote {out} and {out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
