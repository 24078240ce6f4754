"""Benchmark: our training path against a plain Trainer + PEFT, fair or the paper's way.

For each Table IV method, on the profile's end model and real ECD pairs:

- plain, `--baseline fair` (default; what an experienced user writes): `baseline.plain_train`
  at ours' batch, with transformers' length grouping and bf16 where ours uses it, full head,
  vocabulary logits at every position;
- plain, `--baseline paper`: batch 1 (or `--plain-batch N`), random order, float32;
- ours: `ecc_utils.train.train_method` at the profile's settings (quick: batches of 4 bucketed
  by length for P-Tuning v2 and LoRA, batch 1 for Prefix-Tuning; logits only where the loss
  needs them; the profile's trimmed head), the same number of samples, the same learning rate
  and schedule length.

Runs alternate (plain, ours, plain, ...) `--repeats` times; samples/s is the number of samples
over the summed optimizer-step time, and the ratio compares the medians. Whether the faster
path learns the same is decided on held-out pairs, paired: the mean per-pair NLL of the human
reply under each path's adapter, both with the model's full head, difference ours - plain with
its 95 % bootstrap interval; where ours trains with a trimmed head, the same again with both
adapters under that head (what ours optimises: a full-head loss also pushes down the tokens
the trimmed head leaves out). Writes ``train_<tag>_<baseline>.csv`` (speed and the paired
comparison) and ``train_<tag>_<baseline>_loss.csv`` (both loss curves against samples seen,
first repeat) under `--out`::

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

from ecc_utils.artifacts import Artifacts  # noqa: E402
from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.generate import adapter_applied  # noqa: E402
from ecc_utils.endmodel.head import vocabulary_of  # noqa: E402
from ecc_utils.endmodel.load import load_end_model  # noqa: E402
from ecc_utils.endmodel.peft_methods import PeftSpec  # noqa: E402
from ecc_utils.scoring.model_as_judge import reply_logprobs  # noqa: E402
from ecc_utils.scoring.uncertainty import mean_interval  # noqa: E402
from ecc_utils.train import TrainingPairs, TrainOptions, train_method  # noqa: E402
from ecc_utils.train.pairs import mix_training_pairs  # noqa: E402
from ecc_utils.train.trainer import bf16_math  # noqa: E402


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
    ap.add_argument("--baseline", choices=("fair", "paper"), default="fair")
    ap.add_argument("--plain-batch", type=int, default=1, help="the paper baseline's batch")
    ap.add_argument("--artifacts", default=None, help="artifacts/<profile> (its vocabulary)")
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    profile = load_profile(a.profile)
    full_profile = dataclasses.replace(
        profile, end_model=dataclasses.replace(profile.end_model, trim_vocabulary=False)
    )
    model, tok = load_end_model(full_profile)  # the plain side and every held-out check
    ours_model = model
    if profile.end_model.trim_vocabulary:
        art = Artifacts(a.artifacts or f"artifacts/{profile.name}")
        ours_model, _ = load_end_model(profile, art=art)
    bf16 = bf16_math(profile.train.mixed_precision, next(model.parameters()).dtype, "cpu")
    pairs = natural_pairs(a.samples + a.n_heldout)
    train, held = pairs[: a.samples], pairs[a.samples :]
    rows, curves = [], []
    for m in a.methods or list(profile.train.methods):
        spec = PeftSpec.from_train(m, profile.train)
        base = profile.train.for_method(m)
        steps = a.samples // base.batch_size
        ours = dataclasses.replace(base, teacher_mix=0.0, milestones={m: (steps,)},
                                   max_steps=steps, logging_steps=1)  # fmt: skip
        fair = a.baseline == "fair"
        batch = base.batch_size if fair else a.plain_batch
        plain = PlainTrain(steps=a.samples // batch, batch_size=batch,
                           learning_rate=base.learning_rate,
                           max_input_length=base.max_input_length,
                           max_output_length=base.max_output_length, seed=profile.seed,
                           bf16=bf16 and fair, group_by_length=fair)  # fmt: skip
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
                res = train_method(ours_model, tok, spec, TrainingPairs(train, []), d / "ours", ours,
                                   options=TrainOptions(seed=profile.seed, callbacks=(t_ours,)))  # fmt: skip
                speed["plain"].append(a.samples / sum(t_plain.times))
                speed["ours"].append(a.samples / sum(t_ours.times))
                print(f"{m} repeat {r}: plain {speed['plain'][-1]:.2f}, ours "
                      f"{speed['ours'][-1]:.2f} samples/s", flush=True)  # fmt: skip
                if r == 0:
                    adapters = {"plain": d / "plain-adapter", "ours": res.checkpoints[steps]}
                    for side, adapter in adapters.items():
                        nll[side] = heldout_nll(model, tok, adapter, held, base)
                        if ours_model is not model:  # both under the head ours trains with
                            nll[f"{side} trimmed"] = heldout_nll(ours_model, tok, adapter,
                                                                 held, base)  # fmt: skip
                    for path, timer, size in (("plain", t_plain, batch),
                                              ("ours", t_ours, base.batch_size)):  # fmt: skip
                        curves += [dict(method=m, path=path, step=s, samples_seen=s * size,
                                        loss=loss) for s, loss in sorted(timer.losses.items())]  # fmt: skip
        diff = mean_interval(nll["ours"] - nll["plain"], seed=profile.seed)
        trimmed = {}
        if "ours trimmed" in nll:
            t = mean_interval(nll["ours trimmed"] - nll["plain trimmed"], seed=profile.seed)
            trimmed = dict(heldout_nll_trimmed_plain=round(float(nll["plain trimmed"].mean()), 4),
                           heldout_nll_trimmed_ours=round(float(nll["ours trimmed"].mean()), 4),
                           nll_trimmed_difference=round(t.estimate, 4),
                           nll_trimmed_low=round(t.low, 4), nll_trimmed_high=round(t.high, 4))  # fmt: skip
        med = {k: statistics.median(v) for k, v in speed.items()}
        rows.append(dict(
            method=m, baseline=a.baseline, samples=a.samples, repeats=a.repeats,
            plain_settings=plain.label + ", full head, logits at every position",
            ours_settings=(f"train_method, batch {base.batch_size}, "
                           f"{'bucketed by length' if base.group_by_length else 'random order'}, "
                           f"{'bf16' if bf16 else 'float32'}, logits at response positions, "
                           + (f"head of {vocabulary_of(ours_model).size} tokens"
                              if vocabulary_of(ours_model) else "full head")),
            plain_samples_per_s=round(med["plain"], 3), ours_samples_per_s=round(med["ours"], 3),
            ratio=round(med["ours"] / med["plain"], 2),
            plain_runs=" ".join(f"{x:.3f}" for x in speed["plain"]),
            ours_runs=" ".join(f"{x:.3f}" for x in speed["ours"]),
            heldout_nll_plain=round(float(nll["plain"].mean()), 4),
            heldout_nll_ours=round(float(nll["ours"].mean()), 4),
            nll_difference=round(diff.estimate, 4), nll_low=round(diff.low, 4),
            nll_high=round(diff.high, 4), **trimmed, n_heldout=len(held), device=machine(),
            model=profile.end_model.spec,
        ))  # fmt: skip
        print(rows[-1], flush=True)
        write_csv(rows, Path(a.out) / f"train_{a.tag}_{a.baseline}.csv")
        write_csv(curves, Path(a.out) / f"train_{a.tag}_{a.baseline}_loss.csv")


if __name__ == "__main__":
    main()
