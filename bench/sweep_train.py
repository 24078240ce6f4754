"""Sweep: training settings per Table IV method, judged by held-out metrics. Run by hand.

For each method, learning rate and batch size, trains the profile's end model on the same
budget of training samples (``--samples``; steps = samples / batch size, batches bucketed by
length) and measures, at half and at the full budget, on the profile's evaluation set:

* the perplexity of the human replies, with its 95 % bootstrap interval and the paired ratio
  to the original model's (same inputs);
* the share of degenerate answers (empty or a loop), with the paper's sampling and, at the full
  budget, with the repetition guard (``--guard-penalty``, ``--guard-ngram``) too;
* R10@1 of the model as a response selector (mean log-probability) on the held-out ECD groups,
  and its margin over the length-only baseline.

It reads the prepared data of ``artifacts/<profile>`` (notebooks 01-02 must have run) and
writes one CSV row per (method, learning rate, batch size, steps), plus the original model, to
``params/sweeps/<profile>.csv``; the profile's ``train.learning_rates`` / ``train.batch_sizes``
are its picks (`ecc_utils.train.sweep.best_settings`), shown on the book's training-settings
page. Example (the grid of the committed ``params/sweeps/quick.csv``, which was run in parts
with ``--merge``; see the README)::

    ECC_DATA_DIR=../shared/data python bench/sweep_train.py --profile quick --samples 256 \\
        --lr prefix=5e-4,2e-3,1e-2 --lr ptuning_v2=5e-3,2e-2 --lr lora=1e-3,2e-3 \\
        --batch-sizes 4 --then-batch-sizes 1 --init-check
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ecc_utils.artifacts import Artifacts
from ecc_utils.config import load_profile
from ecc_utils.endmodel.generate import Sampling, adapter_applied, generate
from ecc_utils.endmodel.load import load_end_model, ready_for_inference
from ecc_utils.endmodel.peft_methods import PeftSpec
from ecc_utils.paper import METHODS
from ecc_utils.scoring.evaluation import groups_from_candidates
from ecc_utils.scoring.model_as_judge import length_scores, reply_logprobs
from ecc_utils.scoring.selection import rank_of_true
from ecc_utils.scoring.text import is_degenerate
from ecc_utils.scoring.uncertainty import bootstrap, mean_interval
from ecc_utils.train import TrainOptions, train_method
from ecc_utils.train.run import load_training_data
from ecc_utils.train.sweep import best_settings, merge_sweeps, read_sweep, sweep_file


def parse_lrs(items: list[str]) -> dict[str, list[float]]:
    """``["lora=2e-4,5e-4"]`` -> ``{"lora": [2e-4, 5e-4]}``; the error names the bad item."""
    out: dict[str, list[float]] = {}
    for item in items:
        method, _, values = item.partition("=")
        if method not in METHODS or not values:
            raise SystemExit(f"--lr {item!r}: use METHOD=LR[,LR...], METHOD one of {METHODS}")
        try:
            out[method] = [float(v) for v in values.split(",")]
        except ValueError:
            raise SystemExit(f"--lr {item!r}: {values!r} is not a list of numbers") from None
    return out


class Judge:
    """The held-out measurements of one model, paired with the original model's."""

    def __init__(self, cfg, art: Artifacts, sizes: tuple[int, int, int], guard: dict) -> None:
        n_eval, n_gen, n_groups = sizes
        self.guard = guard
        inputs = art.read_split("eval")
        self.inputs = [e for e in inputs if e.response][:n_eval]
        self.gen_inputs = self.inputs[:n_gen]
        self.groups = groups_from_candidates(art.candidates, inputs)[:n_groups]
        self.sampling = Sampling.from_profile(cfg).unguarded()  # the paper's plain sampling
        self.length = cfg.train.max_input_length
        self.max_reply = cfg.train.max_output_length
        self.shortest = [rank_of_true(s, g.true_index) for s, g in
                         zip(length_scores([g.candidates for g in self.groups]), self.groups,
                             strict=True)]  # fmt: skip
        self.base_nll: np.ndarray | None = None
        self.base_tokens: np.ndarray | None = None

    def measure(self, model, tokenizer, guard: bool) -> dict:
        prompts = [(e.context, e.query) for e in self.inputs]
        s = reply_logprobs(model, tokenizer, prompts, [[e.response] for e in self.inputs],
                           max_input_length=self.length, max_reply_tokens=self.max_reply)  # fmt: skip
        nll = -np.array([x.logprob[0] for x in s])
        tok = np.array([x.tokens[0] for x in s], dtype=float)
        if self.base_nll is None:
            self.base_nll, self.base_tokens = nll, tok
        b_nll, b_tok = self.base_nll, self.base_tokens
        ppl = bootstrap(len(nll), lambda i: float(np.exp(nll[i].sum() / tok[i].sum())))
        ratio = bootstrap(len(nll), lambda i: float(np.exp(nll[i].sum() / tok[i].sum()
                                                          - b_nll[i].sum() / b_tok[i].sum())))  # fmt: skip
        sel = reply_logprobs(model, tokenizer, [(g.example.context, g.example.query)
                                                for g in self.groups],
                             [g.candidates for g in self.groups], max_input_length=self.length)  # fmt: skip
        hit = np.array([rank_of_true(x.mean, g.true_index) == 1
                        for x, g in zip(sel, self.groups, strict=True)], dtype=float)  # fmt: skip
        margin = hit - (np.array(self.shortest) == 1)
        answers = generate(model, tokenizer, self.gen_inputs, self.sampling)
        row = {"ppl_human": ppl.estimate, "ppl_low": ppl.low, "ppl_high": ppl.high,
               "ppl_ratio": ratio.estimate, "ppl_ratio_low": ratio.low,
               "ppl_ratio_high": ratio.high}  # fmt: skip
        row.update(_interval("r10_1", mean_interval(hit)))
        row.update(_interval("margin_over_length", mean_interval(margin)))
        row.update(_interval("degenerate", mean_interval([is_degenerate(a) for a in answers])))
        if guard:
            sp = dataclasses.replace(self.sampling, **self.guard)
            guarded = generate(model, tokenizer, self.gen_inputs, sp)
            row.update(_interval("degenerate_guard", mean_interval([is_degenerate(a)
                                                                    for a in guarded])))  # fmt: skip
            row["guard"] = " ".join(f"{k}={v}" for k, v in self.guard.items())
            row["example_answer"] = guarded[0]
        row["n_eval"], row["n_gen"], row["n_groups"] = len(nll), len(answers), len(hit)
        return row


def _interval(name: str, iv) -> dict:
    return {name: iv.estimate, f"{name}_low": iv.low, f"{name}_high": iv.high}


def run_one(cfg, art, judge, models, method: str, lr: float, bs: int, samples: int) -> list[dict]:
    """Train `method` at (`lr`, `bs`) for `samples` samples; measure at half and full."""
    train_model, tokenizer, infer_model = models
    steps = max(1, samples // bs)
    half = max(1, steps // 2)
    milestones = tuple(sorted({half, steps}))
    tcfg = dataclasses.replace(cfg.train, learning_rate=lr, batch_size=bs, max_steps=steps,
                               milestones={method: milestones}, learning_rates={},
                               batch_sizes={}, group_by_length=bs > 1)  # fmt: skip
    pairs = load_training_data(art, cfg.data.n_train)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train_method(train_model, tokenizer, PeftSpec.from_train(method, tcfg), pairs,
                           Path(tmp), tcfg,
                           options=TrainOptions(device="cpu", seed=cfg.seed))  # fmt: skip
        secs = time.perf_counter() - t0
        losses = {h["step"]: h["loss"] for h in res.log.history}
        for step, ckpt in sorted(res.checkpoints.items()):
            with adapter_applied(infer_model, ckpt, merge=True) as model:
                m = judge.measure(model, tokenizer, guard=step == steps)
            last = max((s for s in losses if s <= step), default=None)
            rows.append({"method": method, "learning_rate": lr, "batch_size": bs,
                         "steps": step, "samples": step * bs, "train_time_s": round(secs, 1),
                         "loss": losses.get(last), **m})  # fmt: skip
    return rows


def init_check(cfg, art, judge, models) -> list[dict]:
    """The untrained prefixes (0 steps): Prefix-Tuning as PEFT starts it, P-Tuning v2 from
    PEFT's N(0, 1) draw and from the model's own keys/values over training conversations."""
    from ecc_utils.endmodel.format import transcript_ids
    from ecc_utils.endmodel.peft_methods import apply_method

    train_model, tokenizer, _ = models
    pairs = load_training_data(art, cfg.data.n_train)
    t = cfg.train
    init = transcript_ids(tokenizer, pairs.natural, t.num_virtual_tokens, t.max_input_length,
                          t.max_output_length)  # fmt: skip
    rows = []
    for method, how in (("prefix", "random"), ("ptuning_v2", "random"), ("ptuning_v2", "text")):
        spec = dataclasses.replace(PeftSpec.from_train(method, t), prefix_init=how)
        peft_model = apply_method(train_model, spec, init_ids=init).eval()
        m = judge.measure(peft_model, tokenizer, guard=False)
        rows.append({"method": method, "prefix_init": how, "steps": 0, "samples": 0, **m})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", help="params/<profile>.yaml")
    ap.add_argument("--artifacts", default=None, help="default artifacts/<profile>")
    ap.add_argument("--samples", type=int, default=256, help="training samples per setting")
    ap.add_argument("--lr", action="append", default=[], help="METHOD=LR[,LR...] (repeatable)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    ap.add_argument("--then-batch-sizes", type=int, nargs="*", default=[],
                    help="then these batch sizes at each method's best learning rate")  # fmt: skip
    ap.add_argument("--n-eval", type=int, default=48)
    ap.add_argument("--n-gen", type=int, default=32)
    ap.add_argument("--n-groups", type=int, default=47)
    ap.add_argument("--guard-penalty", type=float, default=None,
                    help="repetition_penalty of the guard (default: the profile's, else 1.2)")  # fmt: skip
    ap.add_argument("--guard-ngram", type=int, default=None,
                    help="no_repeat_ngram_size of the guard (default: the profile's, else 3)")  # fmt: skip
    ap.add_argument("--init-check", action="store_true",
                    help="also measure the untrained prefixes (P-Tuning v2's initialisation)")  # fmt: skip
    ap.add_argument("--out", default=None, help="default params/sweeps/<profile>.csv")
    ap.add_argument("--merge", action="store_true",
                    help="add to the table in --out; a setting measured again replaces its row")  # fmt: skip
    a = ap.parse_args(argv)
    cfg = load_profile(Path("params") / f"{a.profile}.yaml")
    art = Artifacts(a.artifacts or Path("artifacts") / a.profile)
    if not art.labels.is_file():
        raise SystemExit(f"{art.labels} is missing: run notebooks 01-02 for this profile first")
    lrs = parse_lrs(a.lr) or {m: [cfg.train.learning_rate] for m in cfg.train.methods}
    train_model, tokenizer = load_end_model(cfg, device="cpu", art=art)
    infer_model = ready_for_inference(load_end_model(cfg, device="cpu", inference=True, art=art)[0])
    models = (train_model, tokenizer, infer_model)
    g = cfg.generation  # the profile's guard when it has one, else the quick profile's
    penalty = a.guard_penalty or (g.repetition_penalty if g.guarded else 1.2)
    ngram = (
        a.guard_ngram if a.guard_ngram is not None else (g.no_repeat_ngram_size if g.guarded else 3)
    )
    guard = {"repetition_penalty": penalty, "no_repeat_ngram_size": ngram}
    judge = Judge(cfg, art, (a.n_eval, a.n_gen, a.n_groups), guard)
    out = Path(a.out) if a.out else sweep_file("params", a.profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier = read_sweep(out) if a.merge and out.is_file() else None
    rows = [{"method": "original", "steps": 0, "samples": 0,
             **judge.measure(infer_model, tokenizer, guard=True)}]  # fmt: skip

    def save() -> pd.DataFrame:
        table = pd.DataFrame(rows)
        first = [
            "method",
            "learning_rate",
            "batch_size",
            "steps",
            "samples",
            "train_time_s",
            "loss",
        ]
        if earlier is not None:
            table = merge_sweeps(earlier, table)
        table = table.reindex(columns=first + [c for c in table.columns if c not in first])
        table.to_csv(out, index=False, float_format="%.5g")  # kept after every setting
        return table

    if a.init_check:
        rows += init_check(cfg, art, judge, models)
    save()
    plan = [(m, lr, bs) for m, values in lrs.items() for lr in values for bs in a.batch_sizes]
    for i, (method, lr, bs) in enumerate(plan, 1):
        print(f"[{i}/{len(plan)}] {method} lr={lr:g} batch={bs}", file=sys.stderr, flush=True)
        rows += run_one(cfg, art, judge, models, method, lr, bs, a.samples)
        save()
    best = best_settings(save())
    for method, lr in zip(best["method"], best["learning_rate"], strict=True):
        for bs in a.then_batch_sizes:
            print(f"[then] {method} lr={lr:g} batch={bs}", file=sys.stderr, flush=True)
            rows += run_one(cfg, art, judge, models, method, lr, bs, a.samples)
            save()
    best = best_settings(save())
    cols = ["method", "learning_rate", "batch_size", "steps", "ppl_human", "ppl_ratio",
            "degenerate", "degenerate_guard", "r10_1", "margin_over_length"]  # fmt: skip
    print(best[cols].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
