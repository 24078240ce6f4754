"""Benchmark: what the name and address mask adds to the cloud-labels page. Run by hand.

Masks the texts page 02 sends to the teacher (the profile's teacher queries, few-shot pool
and evaluation inputs, with their dialogue turns) in a fresh process, so the analyser's
dictionary load is counted, once with the pattern rules alone (the mask before names and
addresses) and once with the full mask; repeats each `--repeat` times and prints the medians and the difference::

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


def page_texts(artifacts: Path) -> list[str]:
    from ecc_utils.artifacts import Artifacts

    art = Artifacts(artifacts)
    texts = []
    for split in ("teacher_queries", "fewshot", "eval"):
        for e in art.read_split(split):
            texts += [e.query] + [t.text for t in e.context]
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    texts = page_texts(Path("artifacts") / a.profile)
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
