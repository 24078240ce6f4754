"""Where a training step's time goes: torch.profiler over a few steps of one method.

Runs `train_method` (length-bucketed batches) on real ECD pairs and prints the operators
with the most self time on the device (CUDA) or the CPU, and the attention implementation the
model uses. Not a test. Example (the paper's shapes on a GPU)::

    ECC_DATA_DIR=../shared/data python bench/profile_train_step.py --method lora --batch 16
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import natural_pairs  # noqa: E402

from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.load import load_model  # noqa: E402
from ecc_utils.endmodel.peft_methods import PeftSpec  # noqa: E402
from ecc_utils.train import TrainingPairs, TrainOptions, train_method  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/paper.yaml")
    ap.add_argument("--spec", default="chatglm3-shaped")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--method", default="lora")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rows", type=int, default=25)
    a = ap.parse_args()
    import torch
    from transformers import TrainerCallback

    profile = load_profile(a.profile)
    dtype = "bfloat16" if a.device.startswith("cuda") else "float32"
    model, tok = load_model(a.spec, dtype=dtype, device=a.device)
    print("attention:", model.config._attn_implementation, flush=True)
    cfg = dataclasses.replace(profile.train.for_method(a.method), teacher_mix=0.0,
                              batch_size=a.batch, group_by_length=True,
                              milestones={a.method: (a.warmup + a.steps,)})  # fmt: skip
    activities = [torch.profiler.ProfilerActivity.CPU]
    if a.device.startswith("cuda"):
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    prof = torch.profiler.profile(activities=activities)

    class Window(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == a.warmup:
                prof.__enter__()

        def on_train_end(self, args, state, control, **kw):
            prof.__exit__(None, None, None)

    with tempfile.TemporaryDirectory() as d:
        pairs = TrainingPairs(natural_pairs(2000), [])
        train_method(model, tok, PeftSpec.from_train(a.method, cfg), pairs, d, cfg,
                     options=TrainOptions(seed=profile.seed, callbacks=(Window(),)))  # fmt: skip
    key = "self_cuda_time_total" if a.device.startswith("cuda") else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=a.rows, max_name_column_width=60))


if __name__ == "__main__":
    main()
