"""Benchmark: training steps/s and tokens/s per Table IV method, plus generation speed.

Runs transformers' Trainer through `ecc_utils.train.train_method` (what notebook 03 runs) on
real ECD pairs and quotes medians over repeats. Not a test. Example (quick profile, CPU)::

    ECC_DATA_DIR=../shared/data python bench/bench_train.py --model gemma3-270m \\
        --steps 6 --repeats 3 --max-input-length 64 --max-output-length 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from ecc_utils.config import TrainConfig
from ecc_utils.generate import Sampling, generate
from ecc_utils.models import load_model
from ecc_utils.paper import METHODS
from ecc_utils.peft_methods import PeftSpec
from ecc_utils.records import Example, Turn
from ecc_utils.train import TrainingPairs, train_method


def ecd_pairs(data_dir: Path, n: int) -> list[Example]:
    out = []
    for i, line in enumerate((data_dir / "ecd_sample" / "test").read_text("utf-8").splitlines()):
        label, *utts, response = line.split("\t")
        if label == "1":
            turns = [Turn("customer" if j % 2 == 0 else "agent", u) for j, u in enumerate(utts)]
            out.append(Example(f"ecd-{i}", "ecd", turns[:-1], turns[-1].text, response))
        if len(out) == n:
            break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--max-input-length", type=int, default=64)
    ap.add_argument("--max-output-length", type=int, default=64)
    ap.add_argument("--num-virtual-tokens", type=int, default=128)
    ap.add_argument("--gen-queries", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--full-logits", action="store_true", help="logits on every position (A/B)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args()
    data_dir = Path(os.environ.get("ECC_DATA_DIR", "../shared/data"))
    pairs = ecd_pairs(data_dir, 64)

    t = time.perf_counter()
    model, tok = load_model(a.model, device="cpu")
    results: dict = {"model": a.model, "load_s": time.perf_counter() - t, "args": vars(a)}
    for method in a.methods:
        runs = []
        cfg = TrainConfig(
            methods=(method,),
            max_steps=300,
            milestones={method: (a.steps,)},
            teacher_mix=0.0,
            batch_size=a.batch_size,
            max_input_length=a.max_input_length,
            max_output_length=a.max_output_length,
            logging_steps=a.steps,
        )
        spec = PeftSpec(method, num_virtual_tokens=a.num_virtual_tokens)
        for r in range(a.repeats):
            with tempfile.TemporaryDirectory() as d:
                res = train_method(
                    model,
                    tok,
                    spec,
                    TrainingPairs(pairs, []),
                    d,
                    cfg,
                    seed=r,
                    response_logits_only=False if a.full_logits else None,
                )
            runs.append((res.steps_per_s, res.tokens_per_s))
        results[method] = {
            "steps_per_s": statistics.median(s for s, _ in runs),
            "tokens_per_s": statistics.median(k for _, k in runs),
            "runs": runs,
            "trainable_params": res.trainable_params,
        }
        print(method, json.dumps(results[method]), flush=True)
    queries = [p.query for p in pairs[: a.gen_queries]]
    gen = []
    for r in range(a.repeats):
        t = time.perf_counter()
        sampling = Sampling(
            max_new_tokens=a.max_new_tokens,
            batch_size=8,
            seed=r,
            max_input_length=a.max_input_length,
        )
        generate(model, tok, queries, sampling)
        gen.append(time.perf_counter() - t)
    results["generate_s_per_query"] = statistics.median(gen) / len(queries)
    print(json.dumps(results, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
