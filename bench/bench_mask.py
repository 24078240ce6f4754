"""Benchmark: what the name and address mask adds to the cloud-labels page. Run by hand.

Masks what page 02 masks (the profile's teacher queries and evaluation inputs, the few-shot
pool, and the dialogue turns the knn teacher reads) in a fresh process, so that the analyser's
dictionary load is counted: once with the pattern rules alone (the mask before names and
addresses) and once with the full mask; repeats each `--repeat` times and prints the medians
and the difference::

    ECC_DATA_DIR=../shared/data python bench/bench_mask.py --profile quick

Notebook 01 of the profile must have run (it writes the splits).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from ecc_utils import privacy
texts = json.load(open(sys.argv[1], encoding="utf-8"))
fn = privacy.mask if sys.argv[2] == "full" else privacy.patterns.mask_patterns
masked = [fn(t) for t in texts]
print(json.dumps({"seconds": time.perf_counter() - t0, "changed": sum(m != t for m, t in
                  zip(masked, texts))}))
"""


def page_texts(artifacts: Path, context_turns: int) -> list[str]:
    """What page 02 masks: the teacher and evaluation queries, the few-shot pool's questions
    and answers (the prompt), and the last `context_turns` turns before every one of those
    questions (the knn teacher's dialogue context)."""
    from ecc_utils.artifacts import Artifacts

    art = Artifacts(artifacts)
    texts = []
    for split in ("teacher_queries", "eval", "fewshot"):
        for e in art.read_split(split):
            texts.append(e.query)
            if split == "fewshot":
                texts.append(e.response)
            if context_turns:
                texts += [t.text for t in e.context[-context_turns:]]
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    from ecc_utils.config import load_profile

    cfg = load_profile(Path("params") / f"{a.profile}.yaml")
    turns = cfg.teacher.knn_context_turns if cfg.teacher.backend == "knn" else 0
    texts = page_texts(Path("artifacts") / a.profile, turns)
    path = Path("artifacts") / a.profile / "bench_mask_texts.json"
    path.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    runs: dict[str, list[float]] = {"patterns only": [], "full": []}
    changed = {}
    for _ in range(a.repeat):
        for mode in runs:
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode.split()[0]],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            res = json.loads(out.stdout)
            runs[mode].append(res["seconds"])
            changed[mode] = res["changed"]
    path.unlink()
    base, full = (statistics.median(runs[m]) for m in runs)
    print(f"{len(texts)} texts, {a.repeat} runs each (median seconds, import included)")
    for mode, values in runs.items():
        print(f"  {mode:14s} {statistics.median(values):6.2f} s  texts changed: {changed[mode]}")
    print(f"  added by names and addresses: {full - base:.2f} s (ratio {full / base:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
