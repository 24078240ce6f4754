"""Measurement: what trimming the end model's head (`end_model.trim_vocabulary`) changes.

On the profile's evaluation inputs, for the original model and a trained adapter (merged), both
in the profile's inference dtype, with the full head and with the head trimmed to the profile's
vocabulary (`ecc_utils.endmodel.vocab`), everything else equal:

- how many kept tokens only the held-out texts contribute;
- held-out perplexity of the human replies (paired per input: the trimmed head renormalises
  over the kept tokens, so a reply's likelihood can only rise), with the mean difference of
  per-input NLL and its 95 % bootstrap interval;
- the time to answer the inputs with our generation (sampled, the profile's settings) and to
  score the replies' likelihood, alternating `--repeats` times, medians and their ratio.

Writes ``vocab_<profile>.csv`` under `--out` (the Deviations page reads it)::

    ECC_DATA_DIR=../shared/data python bench/bench_vocab.py --profile quick \\
        --adapter artifacts/quick/runs/lora/checkpoint-320
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from common import RESULTS, machine, write_csv  # noqa: E402

from ecc_utils.artifacts import Artifacts  # noqa: E402
from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.generate import Sampling, generate, load_adapter  # noqa: E402
from ecc_utils.endmodel.head import vocabulary_of  # noqa: E402
from ecc_utils.endmodel.load import load_end_model, ready_for_inference  # noqa: E402
from ecc_utils.endmodel.reply_likelihood import reply_logprobs  # noqa: E402
from ecc_utils.endmodel.vocab import build_vocabulary  # noqa: E402
from ecc_utils.scoring.uncertainty import mean_interval  # noqa: E402


def _model(profile, art, trim: bool, adapter: str | None):
    cfg = dataclasses.replace(
        profile, end_model=dataclasses.replace(profile.end_model, trim_vocabulary=trim)
    )
    m, tok = load_end_model(cfg, inference=True, art=art)
    if adapter:
        m = load_adapter(m, adapter).merge_and_unload()
    return ready_for_inference(m), tok


def held_out_only(art, tok, length: int) -> int:
    """How many kept tokens occur only in the held-out texts (evaluation pairs and ranking
    candidates), not in the training pairs or the teacher's answers: what the head knows in
    advance that a deployed model would not."""
    from ecc_utils.endmodel.vocab import _profile_examples

    everything = _profile_examples(art)
    held = {e.id for e in art.read_split("eval")}
    seen = [e for e in everything if e.id not in held]
    return len(build_vocabulary(tok, everything, length).kept) - len(
        build_vocabulary(tok, seen, length).kept
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/quick.yaml")
    ap.add_argument("--artifacts", default=None, help="artifacts/<profile>")
    ap.add_argument("--adapter", default=None, help="a LoRA checkpoint (besides the original)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    profile = load_profile(a.profile)
    art = Artifacts(a.artifacts or f"artifacts/{profile.name}")
    evals = art.read_split("eval")
    prompts = [(e.context, e.query) for e in evals]
    replies = [[e.response] for e in evals]
    sp = Sampling.from_profile(profile)
    length = profile.train.max_input_length
    rows = []
    for label, adapter in (("Original Model", None), ("adapter", a.adapter)):
        if label == "adapter" and not adapter:
            continue
        models = {trim: _model(profile, art, trim, adapter) for trim in (False, True)}
        tok = models[False][1]
        nll, ppl, secs = (
            {},
            {},
            {("generate", t): [] for t in models} | {("likelihood", t): [] for t in models},
        )
        for r in range(a.repeats):
            for trim, (m, _) in models.items():
                t0 = time.perf_counter()
                generate(m, tok, evals, sp)
                secs[("generate", trim)].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                s = reply_logprobs(m, tok, prompts, replies, max_input_length=length,
                                   max_reply_tokens=profile.train.max_output_length)  # fmt: skip
                secs[("likelihood", trim)].append(time.perf_counter() - t0)
                nll[trim] = np.array([-x.logprob[0] / max(x.tokens[0], 1) for x in s])
                ppl[trim] = float(
                    np.exp(-sum(x.logprob[0] for x in s) / sum(x.tokens[0] for x in s))
                )
            print(f"{label} repeat {r}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in secs.items()),
                  flush=True)  # fmt: skip
        diff = mean_interval(nll[True] - nll[False], seed=profile.seed)
        med = {k: statistics.median(v) for k, v in secs.items()}
        rows.append(dict(
            model=label if not adapter else f"{label} {adapter}", profile=profile.name,
            inputs=len(evals), kept_tokens=vocabulary_of(models[True][0]).size,
            full_tokens=len(tok), held_out_only_tokens=held_out_only(art, tok, length),
            dtype=str(next(models[True][0].parameters()).dtype),
            perplexity_full=round(ppl[False], 3), perplexity_trimmed=round(ppl[True], 3),
            nll_difference=round(diff.estimate, 5), nll_low=round(diff.low, 5),
            nll_high=round(diff.high, 5),
            generate_full_s=round(med[("generate", False)], 2),
            generate_trimmed_s=round(med[("generate", True)], 2),
            generate_ratio=round(med[("generate", False)] / med[("generate", True)], 2),
            likelihood_full_s=round(med[("likelihood", False)], 2),
            likelihood_trimmed_s=round(med[("likelihood", True)], 2),
            likelihood_ratio=round(med[("likelihood", False)] / med[("likelihood", True)], 2),
            repeats=a.repeats, device=machine(),
        ))  # fmt: skip
        print(rows[-1], flush=True)
    write_csv(rows, Path(a.out) / f"vocab_{profile.name}.csv")


if __name__ == "__main__":
    main()
