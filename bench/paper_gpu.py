"""Benchmark: the paper profile's training on a GPU, ChatGLM3-6B-shaped, against plain PEFT.

For each Table IV method, on a random-weight ChatGLM3-6B-shaped model in bfloat16
(`ecc_utils.endmodel.shaped`; no hub) with the paper profile's settings (lengths 256/512, 128 virtual
tokens, LoRA r 8, learning rate, linear schedule over 30000 steps) and real ECD pairs:

1. plain: `transformers.Trainer` + PEFT at batch 1 (`baseline.plain_train`);
2. ours at the paper's batch 1 (`ecc_utils.train.train_method`), the same pairs in the same
   order, for `--steps` steps with a checkpoint half way: the loss curve beside plain's;
3. resume: the half-way checkpoint copied to a new run and resumed to `--steps`; the adapter
   weights compared with the straight run's;
4. ours with length-bucketed batches of `--bucket-batch`;
5. the fair baseline at that batch: `Trainer` + PEFT with transformers' length grouping, bf16
   (`baseline.plain_train`, `PlainTrain.group_by_length`), the ratio the README quotes.

Prints per-step medians and writes ``gpu_train.csv`` (one row per method and path, with the
projected time of the paper's budget, 30000 samples per method), ``gpu_loss.csv`` (both loss
curves) and ``gpu_resume.csv`` under `--out`. On the CPU, ``--spec chatglm3-shaped-small``
runs the same path in seconds (what tests/test_paper_path.py does)::

    ECC_DATA_DIR=../shared/data python bench/paper_gpu.py --out bench/results
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from baseline import PlainTrain, plain_train  # noqa: E402
from common import machine, median_after, natural_pairs, step_timer, write_csv  # noqa: E402

from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.load import load_model  # noqa: E402
from ecc_utils.endmodel.peft_methods import PeftSpec  # noqa: E402
from ecc_utils.train import TrainingPairs, TrainOptions, train_method  # noqa: E402
from ecc_utils.train.pairs import mix_training_pairs  # noqa: E402

PAPER_SAMPLES = 30000  # Table IV: 30000 steps of batch 1 per method


def adapter_difference(a: Path, b: Path) -> float:
    """Largest absolute difference between the tensors of two adapter checkpoints."""
    from safetensors.torch import load_file

    wa, wb = (load_file(str(p / "adapter_model.safetensors")) for p in (a, b))
    if wa.keys() != wb.keys():
        raise RuntimeError(f"{a} and {b} hold different tensors")
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def row(method, path, batch, timer, warmup, tokens_per_sample, **extra):
    s = median_after(timer.times, warmup)
    samples_per_s = batch / s
    return dict(method=method, path=path, batch_size=batch, steps=len(timer.times),
                median_s_per_step=round(s, 4), samples_per_s=round(samples_per_s, 2),
                tokens_per_s=round(samples_per_s * tokens_per_sample),
                paper_budget_min=round(PAPER_SAMPLES / samples_per_s / 60, 1), **extra)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/paper.yaml")
    ap.add_argument("--spec", default="chatglm3-shaped")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--plain-steps", type=int, default=40)
    ap.add_argument("--steps", type=int, default=200, help="ours at batch 1 (even)")
    ap.add_argument("--bucket-batch", type=int, default=16)
    ap.add_argument("--bucket-steps", type=int, default=24)
    ap.add_argument("--warmup", type=int, default=5, help="steps left out of the medians")
    ap.add_argument("--n-pairs", type=int, default=2000)
    ap.add_argument("--out", default="bench/results")
    a = ap.parse_args()
    out = Path(a.out)
    profile = load_profile(a.profile)
    train = dataclasses.replace(profile.train, teacher_mix=0.0, logging_steps=1)
    methods = a.methods or list(train.methods)
    dtype = "bfloat16" if a.device.startswith("cuda") else "float32"
    t = time.perf_counter()
    model, tok = load_model(a.spec, dtype=dtype, device=a.device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{a.spec}: {n_params / 1e9:.2f}B parameters on {machine()} in "
          f"{time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
    pairs = natural_pairs(a.n_pairs)
    from ecc_utils.endmodel.format import encode_example

    lengths = [len(encode_example(tok, e, train.max_input_length, train.max_output_length)
                   ["input_ids"]) for e in pairs]  # fmt: skip
    per_sample = sum(lengths) / len(lengths)
    print(f"{len(pairs)} ECD pairs, {per_sample:.0f} tokens a pair on average", flush=True)
    rows, curves, resume = [], [], []
    half = a.steps // 2
    for m in methods:
        spec = PeftSpec.from_train(m, train)
        cfg = train.for_method(m)
        common = dict(max_input_length=cfg.max_input_length,
                      max_output_length=cfg.max_output_length, seed=profile.seed)  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            timer = step_timer()
            plain_cfg = PlainTrain(steps=a.plain_steps, learning_rate=cfg.learning_rate,
                                   schedule_steps=cfg.max_steps, bf16=(dtype == "bfloat16"),
                                   **common)  # fmt: skip
            # The order ours trains in (`mix_training_pairs` shuffles by the seed).
            ordered = mix_training_pairs(pairs, [], 0.0, profile.seed)
            hist = plain_train(model, tok, spec, ordered, plain_cfg, tmp / "plain", [timer])
            plain_loss = {h["step"]: h["loss"] for h in hist}
            rows.append(row(m, "plain Trainer + PEFT", 1, timer, a.warmup, per_sample))
            print(rows[-1], flush=True)

            ours = dataclasses.replace(cfg, milestones={m: (half, a.steps)}, batch_size=1,
                                       group_by_length=False)  # fmt: skip
            timer = step_timer()
            train_method(model, tok, spec, TrainingPairs(pairs, []), tmp / "a", ours,
                         options=TrainOptions(seed=profile.seed, callbacks=(timer,)))  # fmt: skip
            rows.append(row(m, "ours", 1, timer, a.warmup, per_sample))
            print(rows[-1], flush=True)
            for step, loss in sorted(timer.losses.items()):
                curves.append(dict(method=m, step=step, ours=loss, plain=plain_loss.get(step)))

            (tmp / "b").mkdir()
            shutil.copytree(tmp / "a" / f"checkpoint-{half}", tmp / "b" / f"checkpoint-{half}")
            t = time.perf_counter()
            train_method(model, tok, spec, TrainingPairs(pairs, []), tmp / "b", ours,
                         options=TrainOptions(seed=profile.seed))  # fmt: skip
            diff = adapter_difference(tmp / "a" / f"checkpoint-{a.steps}",
                                      tmp / "b" / f"checkpoint-{a.steps}")  # fmt: skip
            resume.append(dict(method=m, resumed_at=half, ended_at=a.steps,
                               max_abs_weight_difference=diff,
                               resumed_run_s=round(time.perf_counter() - t, 1)))  # fmt: skip
            print(resume[-1], flush=True)

            bucketed = dataclasses.replace(cfg, milestones={m: (a.bucket_steps,)},
                                           batch_size=a.bucket_batch, group_by_length=True)  # fmt: skip
            timer = step_timer()
            train_method(model, tok, spec, TrainingPairs(pairs, []), tmp / "c", bucketed,
                         options=TrainOptions(seed=profile.seed, callbacks=(timer,)))  # fmt: skip
            rows.append(row(m, "ours, length-bucketed", a.bucket_batch, timer, 2, per_sample))
            print(rows[-1], flush=True)
            # The fair baseline: what an experienced user runs at the same batch.
            fair_cfg = dataclasses.replace(plain_cfg, steps=a.bucket_steps,
                                           batch_size=a.bucket_batch, group_by_length=True)  # fmt: skip
            timer = step_timer()
            plain_train(model, tok, spec, ordered, fair_cfg, tmp / "fair", [timer])
            rows.append(row(m, "plain Trainer + PEFT, length-grouped", a.bucket_batch, timer, 2,
                            per_sample, settings=fair_cfg.label))  # fmt: skip
            print(rows[-1], flush=True)
        if a.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        # After every method, so that a run cut short keeps what it measured.
        for r in rows:
            r.update(device=machine(), spec=a.spec)
        write_csv(rows, out / "gpu_train.csv")
        write_csv(curves, out / "gpu_loss.csv")
        write_csv(resume, out / "gpu_resume.csv")
    for path in sorted({r["path"] for r in rows}):
        total = sum(r["paper_budget_min"] for r in rows if r["path"] == path)
        print(f"paper budget (3 x {PAPER_SAMPLES} samples), {path}: {total:.1f} min")


if __name__ == "__main__":
    main()
