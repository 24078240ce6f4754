"""Benchmark: our training path against a plain Trainer + PEFT at batch 1, same pairs.

For each Table IV method, on the profile's end model and real ECD pairs:

- plain: `baseline.plain_train` (batch 1, random order, vocabulary logits at every position);
- ours: `ecc_utils.train.train_method` at the profile's settings (quick: batches of 4 bucketed
  by length for P-Tuning v2 and LoRA, batch 1 for Prefix-Tuning; logits only where the loss
  needs them), the same number of samples, the same learning rate and schedule length.

`--plain-batch` gives the baseline ours' batch size instead: the same number of learning
steps, so that the held-out comparison isolates the speed path (bucketing, logits, bf16)
from the choice of batch. Runs alternate (plain, ours, plain, ...) `--repeats` times; samples/s is the number of samples
over the summed optimizer-step time, and the ratio compares the medians. Whether the faster
path learns the same is decided on held-out pairs, paired: the mean per-pair NLL of the human
reply under each path's adapter, difference ours - plain with its 95 % bootstrap interval.
Writes ``train_<tag>.csv`` (speed and the paired comparison) and ``train_<tag>_loss.csv``
(both loss curves against samples seen, first repeat) under `--out`::

    ECC_DATA_DIR=../shared/data python bench/bench_train.py --samples 64 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from baseline import PlainTrain, plain_train  # noqa: E402
from common import RESULTS, machine, natural_pairs, step_timer, write_csv  # noqa: E402

from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.generate import adapter_applied  # noqa: E402
from ecc_utils.endmodel.load import load_end_model  # noqa: E402
from ecc_utils.endmodel.peft_methods import PeftSpec  # noqa: E402
from ecc_utils.scoring.likelihood import reply_logprobs  # noqa: E402
from ecc_utils.scoring.uncertainty import mean_interval  # noqa: E402
from ecc_utils.train import TrainingPairs, TrainOptions, train_method  # noqa: E402
from ecc_utils.train.pairs import mix_training_pairs  # noqa: E402


def heldout_nll(model, tok, adapter: Path, held, cfg) -> np.ndarray:
    """Per held-out pair: the NLL per token of its human reply under `adapter`."""
    with adapter_applied(model, adapter, merge=True) as m:
        s = reply_logprobs(m, tok, [(e.context, e.query) for e in held],
                           [[e.response] for e in held], max_input_length=cfg.max_input_length,
                           max_reply_tokens=cfg.max_output_length)  # fmt: skip
    return np.array([-r.logprob[0] / max(r.tokens[0], 1) for r in s])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/quick.yaml")
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--samples", type=int, default=64, help="training samples per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-heldout", type=int, default=48)
    ap.add_argument(
        "--plain-batch",
        type=int,
        default=1,
        help="the baseline's batch (ours' batch: the same learning steps, so the "
        "held-out check isolates the speed path)",
    )
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    profile = load_profile(a.profile)
    model, tok = load_end_model(profile)
    pairs = natural_pairs(a.samples + a.n_heldout)
    train, held = pairs[: a.samples], pairs[a.samples :]
    rows, curves = [], []
    for m in a.methods or list(profile.train.methods):
        spec = PeftSpec.from_train(m, profile.train)
        base = profile.train.for_method(m)
        steps = a.samples // base.batch_size
        ours = dataclasses.replace(base, teacher_mix=0.0, milestones={m: (steps,)},
                                   max_steps=steps, logging_steps=1)  # fmt: skip
        plain = PlainTrain(steps=a.samples // a.plain_batch, batch_size=a.plain_batch,
                           learning_rate=base.learning_rate,
                           max_input_length=base.max_input_length,
                           max_output_length=base.max_output_length, seed=profile.seed)  # fmt: skip
        ordered = mix_training_pairs(train, [], 0.0, profile.seed)  # the pairs ours trains on
        speed: dict[str, list[float]] = {"plain": [], "ours": []}
        nll = {}
        for r in range(a.repeats):
            with tempfile.TemporaryDirectory() as d:
                d = Path(d)
                t_plain = step_timer()
                plain_train(model, tok, spec, ordered, plain, d / "plain", [t_plain],
                            save_to=d / "plain-adapter")  # fmt: skip
                t_ours = step_timer()
                res = train_method(model, tok, spec, TrainingPairs(train, []), d / "ours", ours,
                                   seed=profile.seed, options=TrainOptions(callbacks=(t_ours,)))  # fmt: skip
                speed["plain"].append(a.samples / sum(t_plain.times))
                speed["ours"].append(a.samples / sum(t_ours.times))
                print(f"{m} repeat {r}: plain {speed['plain'][-1]:.2f}, ours "
                      f"{speed['ours'][-1]:.2f} samples/s", flush=True)  # fmt: skip
                if r == 0:
                    nll["plain"] = heldout_nll(model, tok, d / "plain-adapter", held, base)
                    nll["ours"] = heldout_nll(model, tok, res.checkpoints[steps], held, base)
                    for path, timer, batch in (("plain", t_plain, a.plain_batch),
                                               ("ours", t_ours, base.batch_size)):  # fmt: skip
                        curves += [dict(method=m, path=path, step=s, samples_seen=s * batch,
                                        loss=loss) for s, loss in sorted(timer.losses.items())]  # fmt: skip
        diff = mean_interval(nll["ours"] - nll["plain"], seed=profile.seed)
        med = {k: statistics.median(v) for k, v in speed.items()}
        rows.append(dict(
            method=m, samples=a.samples, repeats=a.repeats, batch_plain=a.plain_batch,
            batch_ours=base.batch_size, bucketed=base.group_by_length,
            plain_samples_per_s=round(med["plain"], 3), ours_samples_per_s=round(med["ours"], 3),
            ratio=round(med["ours"] / med["plain"], 2),
            plain_runs=" ".join(f"{x:.3f}" for x in speed["plain"]),
            ours_runs=" ".join(f"{x:.3f}" for x in speed["ours"]),
            heldout_nll_plain=round(float(nll["plain"].mean()), 4),
            heldout_nll_ours=round(float(nll["ours"].mean()), 4),
            nll_difference=round(diff.estimate, 4), nll_low=round(diff.low, 4),
            nll_high=round(diff.high, 4), n_heldout=len(held), device=machine(),
            model=profile.end_model.spec,
        ))  # fmt: skip
        print(rows[-1], flush=True)
        write_csv(rows, Path(a.out) / f"train_{a.tag}.csv")
        write_csv(curves, Path(a.out) / f"train_{a.tag}_loss.csv")


if __name__ == "__main__":
    main()
