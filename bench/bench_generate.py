"""Benchmark: our batched generation against transformers' `generate`, fair or the paper's way.

On the profile's end model with a LoRA adapter (a trained one from `--adapter`, else PEFT's
fresh one, which answers as the base model but costs what an adapter costs) and real ECD
queries, with the profile's sampling (top-p 0.8, temperature 0.6, its repetition guard off,
since transformers' generate applies its own to the prompt too):

- plain, `--baseline fair` (default; what an experienced user writes): the adapter merged,
  the same inference dtype, the model's full head, `model.generate` on length-sorted,
  left-padded batches of the profile's size with stop strings (`baseline.fair_generate`);
- plain, `--baseline paper`: the PEFT model as trained (float32, LoRA layers unmerged),
  `model.generate` on one prompt at a time (`baseline.plain_generate`);
- ours: `ecc_utils.endmodel.generate.generate`: the adapter merged, the profile's inference
  dtype, its trimmed head (`end_model.trim_vocabulary`), length-sorted batches, a key/value
  cache, the exact nucleus without sorting, finished rows stopped.

Tokens/s counts the answer tokens each path produced over its wall time; runs alternate
`--repeats` times. Greedy decoding checks "the same answers": our decoding against
transformers' generate (float32, full head both), and ours with the trimmed head against the
full one. Prefix-Tuning and P-Tuning v2 have no plain baseline: transformers' generate drops
PEFT's prefix after the first token (`ecc_utils.endmodel.decoding`). Writes
``generate_<tag>_<baseline>.csv`` under `--out`::

    ECC_DATA_DIR=../shared/data python bench/bench_generate.py --n 32 --repeats 3 \
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

from baseline import fair_generate, plain_generate  # noqa: E402
from common import RESULTS, machine, natural_pairs, write_csv  # noqa: E402

from ecc_utils.artifacts import Artifacts  # noqa: E402
from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.generate import (  # noqa: E402
    Sampling,
    cut_at_next_turn,
    generate,
    load_adapter,
    plain_turn_markers,
)
from ecc_utils.endmodel.head import vocabulary_of  # noqa: E402
from ecc_utils.endmodel.load import load_end_model, ready_for_inference  # noqa: E402
from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method  # noqa: E402


def _models(profile, art: Artifacts, adapter: str | None):
    """(the PEFT model as trained: float32, unmerged; the merged model in the inference dtype
    with the full head; the same with the profile's trimmed head, if it trims), tokenizer."""
    full_profile = dataclasses.replace(
        profile, end_model=dataclasses.replace(profile.end_model, trim_vocabulary=False)
    )
    base32, tok = load_end_model(full_profile)
    if adapter:
        trained = load_adapter(base32, adapter)
    else:
        trained = apply_method(base32, PeftSpec("lora", lora_r=profile.train.lora_r))
    trained.eval()

    def merged(cfg):
        m, _ = load_end_model(cfg, inference=True, art=art)
        return ready_for_inference(load_adapter(m, adapter).merge_and_unload() if adapter else m)

    full = merged(full_profile)
    trimmed = merged(profile) if profile.end_model.trim_vocabulary else full
    return trained, full, trimmed, tok


def _mode_words(sampling) -> str:
    if not sampling.do_sample:
        return "greedy"
    return (f"top-p {sampling.top_p} at temperature {sampling.temperature} with top_k off "
            "(ours' distribution)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/quick.yaml")
    ap.add_argument("--artifacts", default=None, help="artifacts/<profile> (its vocabulary)")
    ap.add_argument("--adapter", default=None, help="a LoRA checkpoint directory")
    ap.add_argument("--baseline", choices=("fair", "paper"), default="fair")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    profile = load_profile(a.profile)
    art = Artifacts(a.artifacts or f"artifacts/{profile.name}")
    sp = dataclasses.replace(Sampling.from_profile(profile), repetition_penalty=1.0,
                             no_repeat_ngram_size=0)  # fmt: skip
    inputs = [(e.context, e.query) for e in natural_pairs(a.n)]
    trained, full, ours_model, tok = _models(profile, art, a.adapter)

    def count(answers: list[str]) -> int:
        return sum(len(tok(x, add_special_tokens=False)["input_ids"]) for x in answers)

    def plain(sampling: Sampling, model=None) -> list[str]:
        if a.baseline == "fair":
            return fair_generate(model or full, tok, inputs, sampling)
        return plain_generate(model or trained, tok, inputs,
                              max_new_tokens=sampling.max_new_tokens,
                              max_input_length=sampling.max_input_length,
                              do_sample=sampling.do_sample, top_p=sampling.top_p,
                              temperature=sampling.temperature, seed=sampling.seed)  # fmt: skip

    dtype = str(next(full.parameters()).dtype).removeprefix("torch.")
    if a.baseline == "fair":
        plain_side = (f"merged adapter, {dtype}, full head, model.generate on length-sorted "
                      f"left-padded batches of {sp.batch_size}, {{mode}}, stopping at the end "
                      "of turn")  # fmt: skip
    else:
        plain_side = (
            "PEFT model as trained (float32, LoRA unmerged), model.generate one prompt at a time"
        )
    trim = vocabulary_of(ours_model)
    head = f"head trimmed to {trim.size} tokens" if trim else "full head"
    ours_side = (f"merged adapter, {dtype}, {head}, ecc_utils generate: length-sorted "
                 f"left-padded batches of {sp.batch_size}, key/value cache, exact nucleus without "
                 "sorting, finished rows stopped")  # fmt: skip
    rows = []
    for mode, sampling in (("sampled", sp), ("greedy", dataclasses.replace(sp, do_sample=False))):
        speed: dict[str, list[float]] = {"plain": [], "ours": []}
        for r in range(a.repeats):
            for name in ("plain", "ours"):
                t = time.perf_counter()
                if name == "plain":
                    answers = plain(sampling)
                else:
                    answers = generate(ours_model, tok, inputs, sampling)
                speed[name].append(count(answers) / (time.perf_counter() - t))
            print(f"{mode} repeat {r}: plain {speed['plain'][-1]:.1f}, ours "
                  f"{speed['ours'][-1]:.1f} tokens/s", flush=True)  # fmt: skip
        med = {k: statistics.median(v) for k, v in speed.items()}
        rows.append(dict(mode=mode, baseline=a.baseline, inputs=a.n,
                         max_new_tokens=sp.max_new_tokens, batch_size=sp.batch_size,
                         adapter=a.adapter or "fresh LoRA",
                         plain_settings=plain_side.format(mode=_mode_words(sampling)),
                         ours_settings=ours_side,
                         plain_tokens_per_s=round(med["plain"], 1),
                         ours_tokens_per_s=round(med["ours"], 1),
                         ratio=round(med["ours"] / med["plain"], 2),
                         plain_runs=" ".join(f"{x:.1f}" for x in speed["plain"]),
                         ours_runs=" ".join(f"{x:.1f}" for x in speed["ours"])))  # fmt: skip
    # "The same answers": greedy, float32, full head both: our decoding (batched) against
    # transformers' generate; and greedy ours with the trimmed head against the full one.
    greedy = dataclasses.replace(sp, do_sample=False)
    ours32 = generate(trained, tok, inputs, greedy)
    markers = [] if getattr(tok, "chat_template", None) else plain_turn_markers()
    reference = [cut_at_next_turn(x, markers).strip() for x in plain(greedy, trained)]
    same = sum(x == y for x, y in zip(ours32, reference, strict=True))
    trimmed_same = sum(x == y for x, y in zip(generate(ours_model, tok, inputs, greedy),
                                              generate(full, tok, inputs, greedy), strict=True))  # fmt: skip
    for r in rows:
        r.update(greedy_same_answers=f"{same}/{len(inputs)}",
                 greedy_same_trimmed_vs_full=f"{trimmed_same}/{len(inputs)}", device=machine(),
                 model=profile.end_model.spec)  # fmt: skip
    print(rows)
    write_csv(rows, Path(a.out) / f"generate_{a.tag}_{a.baseline}.csv")


if __name__ == "__main__":
    main()
