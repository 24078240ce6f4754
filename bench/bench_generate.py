"""Benchmark: our batched generation against `model.generate` one prompt at a time.

On the profile's end model with a LoRA adapter (a trained one from `--adapter`, else PEFT's
fresh one, which answers as the base model but costs what an adapter costs) and real ECD
queries, with the profile's sampling (top-p 0.8, temperature 0.6, its repetition guard off,
since transformers' generate applies its own to the prompt too):

- plain: the PEFT model as trained (float32, LoRA layers unmerged), `model.generate` on one
  prompt at a time (`baseline.plain_generate`);
- ours: `ecc_utils.endmodel.generate.generate`: the adapter merged into the weights, the profile's
  inference dtype (bfloat16 where the CPU has it), length-sorted batches, a key/value cache,
  finished rows stopped.

Tokens/s counts the answer tokens each path produced over its wall time; runs alternate
`--repeats` times. Greedy decoding decides "the same answers": ours in float32 batched
against plain one prompt at a time, cut where ours ends a plain-transcript answer (the share
of identical answers). Prefix-Tuning and
P-Tuning v2 have no plain baseline: transformers' generate drops PEFT's prefix after the first
token (`ecc_utils.endmodel.decoding`). Writes ``generate_<tag>.csv`` under `--out`::

    ECC_DATA_DIR=../shared/data python bench/bench_generate.py --n 32 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from baseline import plain_generate  # noqa: E402
from common import RESULTS, machine, natural_pairs, write_csv  # noqa: E402

from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.endmodel.generate import (  # noqa: E402
    Sampling,
    cut_at_next_turn,
    generate,
    load_adapter,
    plain_turn_markers,
)
from ecc_utils.endmodel.load import load_end_model, ready_for_inference  # noqa: E402
from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/quick.yaml")
    ap.add_argument("--adapter", default=None, help="a LoRA checkpoint directory")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    profile = load_profile(a.profile)
    sp = dataclasses.replace(Sampling.from_profile(profile), repetition_penalty=1.0,
                             no_repeat_ngram_size=0)  # fmt: skip
    inputs = [(e.context, e.query) for e in natural_pairs(a.n)]

    base32, tok = load_end_model(profile)  # as trained: float32
    if a.adapter:
        plain_model = load_adapter(base32, a.adapter)
    else:
        plain_model = apply_method(base32, PeftSpec("lora", lora_r=profile.train.lora_r))
    plain_model.eval()
    fast, _ = load_end_model(profile, inference=True)
    fast_model = load_adapter(fast, a.adapter).merge_and_unload() if a.adapter else fast
    fast_model = ready_for_inference(fast_model)

    def count(answers: list[str]) -> int:
        return sum(len(tok(x, add_special_tokens=False)["input_ids"]) for x in answers)

    def plain(sampling: Sampling) -> list[str]:
        return plain_generate(plain_model, tok, inputs, max_new_tokens=sampling.max_new_tokens,
                              max_input_length=sampling.max_input_length,
                              do_sample=sampling.do_sample, top_p=sampling.top_p,
                              temperature=sampling.temperature, seed=sampling.seed)  # fmt: skip

    rows = []
    for mode, sampling in (("sampled", sp), ("greedy", dataclasses.replace(sp, do_sample=False))):
        speed: dict[str, list[float]] = {"plain": [], "ours": []}
        for r in range(a.repeats):
            for name in ("plain", "ours"):
                t = time.perf_counter()
                if name == "plain":
                    answers = plain(sampling)
                else:
                    answers = generate(fast_model, tok, inputs, sampling)
                speed[name].append(count(answers) / (time.perf_counter() - t))
            print(f"{mode} repeat {r}: plain {speed['plain'][-1]:.1f}, ours "
                  f"{speed['ours'][-1]:.1f} tokens/s", flush=True)  # fmt: skip
        med = {k: statistics.median(v) for k, v in speed.items()}
        rows.append(dict(mode=mode, inputs=a.n, max_new_tokens=sp.max_new_tokens,
                         batch_size=sp.batch_size, adapter=a.adapter or "fresh LoRA",
                         plain_tokens_per_s=round(med["plain"], 1),
                         ours_tokens_per_s=round(med["ours"], 1),
                         ratio=round(med["ours"] / med["plain"], 2),
                         plain_runs=" ".join(f"{x:.1f}" for x in speed["plain"]),
                         ours_runs=" ".join(f"{x:.1f}" for x in speed["ours"])))  # fmt: skip
    # "The same answers": greedy, float32 both, ours batched against plain one at a time.
    greedy = dataclasses.replace(sp, do_sample=False)
    ours32 = generate(plain_model, tok, inputs, greedy)
    # Ours also ends an answer at the next transcript line when the tokenizer has no chat
    # template (the packaged Gemma's has none); plain generate runs on to max_new_tokens.
    markers = [] if getattr(tok, "chat_template", None) else plain_turn_markers()
    reference = [cut_at_next_turn(x, markers).strip() for x in plain(greedy)]
    same = sum(x == y for x, y in zip(ours32, reference, strict=True))
    for r in rows:
        r.update(greedy_same_answers=f"{same}/{len(inputs)}", device=machine(),
                 model=profile.end_model.spec)  # fmt: skip
    print(rows)
    write_csv(rows, Path(a.out) / f"generate_{a.tag}.csv")


if __name__ == "__main__":
    main()
