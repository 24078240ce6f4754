"""Benchmark: Eq. (1)'s encoders with our per-text cache against the encoder's own calls.

The workload is the scoring page's: for each of `--models` end models, the similarity of its
answers to the cloud answers and the match of its answers to the queries, on `--n` inputs.
Queries and cloud answers recur for every model; each model's answers are other human
replies of the ECD sample (its candidates; distinct per model, as real models' answers are),
which keeps their length realistic.

- plain, `--baseline fair` (default; what an experienced user writes): the encoder's own
  batched call on each list (cloud answers, answers, queries, answers as matches) for every
  model (`baseline.fair_encode`);
- plain, `--baseline paper`: the encoder called on one text at a time, every time a text is
  needed;
- ours: `Scorer.from_config(profile.scoring)`: each distinct (prefix, text) encoded once per
  process, in batches.

Runs alternate `--repeats` times (ours starts each repeat with an empty cache); the scores
of both paths agree to 1e-5. Writes ``encode_<tag>_<baseline>.csv`` under `--out`::

    ECC_DATA_DIR=../shared/data python bench/bench_encode.py --n 100 --models 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np  # noqa: E402
from baseline import fair_encode, plain_encode  # noqa: E402
from common import RESULTS, machine, natural_pairs, reply_pool, write_csv  # noqa: E402

from ecc_utils import encoders  # noqa: E402
from ecc_utils.config import load_profile  # noqa: E402
from ecc_utils.scoring import scorers  # noqa: E402
from ecc_utils.scoring.eq1 import Scorer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/quick.yaml")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", choices=("fair", "paper"), default="fair")
    ap.add_argument("--tag", default="cpu")
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args()
    cfg = load_profile(a.profile).scoring
    if cfg.embedder not in scorers.OFFLINE_ENCODERS or cfg.matcher not in scorers.DUAL_MATCHERS:
        raise SystemExit(f"{a.profile}: the benchmark needs offline encoders (scoring section)")
    pairs = natural_pairs(a.n)
    queries = [e.query for e in pairs]
    cloud = [e.response for e in pairs]
    pool = reply_pool(a.models * a.n, exclude=cloud)
    if len(pairs) < a.n or len(pool) < a.models * a.n:
        raise SystemExit(f"--n {a.n} --models {a.models}: the ECD sample has {len(pairs)} "
                         f"pairs and {len(pool)} other replies, {a.n} and {a.models * a.n} "
                         "needed")  # fmt: skip
    # Model k answers input i with another human reply of the sample, distinct per model.
    answers = [pool[k * a.n : (k + 1) * a.n] for k in range(a.models)]
    scorer = Scorer.from_config(cfg)
    backend = encoders.shared_encoder(cfg.embedder).backend
    q_prefix, a_prefix = scorers.DUAL_MATCHERS[cfg.matcher][1:]
    emb_prefix = scorer.embedder.prefix

    def one(text: str, prefix: str) -> np.ndarray:
        v = backend.encode([text], prefix)[0]
        return v / np.linalg.norm(v)

    def batched(texts: list[str], prefix: str) -> np.ndarray:
        v = fair_encode(lambda ts: backend.encode(ts, prefix), texts)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def fair() -> list[np.ndarray]:
        out = []
        for ans in answers:
            c, e = batched(cloud, emb_prefix), batched(ans, emb_prefix)
            q, m = batched(queries, q_prefix), batched(ans, a_prefix)
            out += [(c * e).sum(1), (q * m).sum(1)]
        return out

    def plain() -> list[np.ndarray]:
        if a.baseline == "fair":
            return fair()
        out = []
        for ans in answers:
            c = plain_encode(lambda t: one(t, emb_prefix), cloud)
            e = plain_encode(lambda t: one(t, emb_prefix), ans)
            q = plain_encode(lambda t: one(t, q_prefix), queries)
            m = plain_encode(lambda t: one(t, a_prefix), ans)
            out.append(np.array([c_ @ e_ for c_, e_ in zip(c, e, strict=True)]))
            out.append(np.array([q_ @ m_ for q_, m_ in zip(q, m, strict=True)]))
        return out

    def ours() -> list[np.ndarray]:
        encoders.shared_encoder(cfg.embedder)._cache.clear()
        out = []
        for ans in answers:
            out.append(scorer.embedder.similarity(cloud, ans))
            out.append(scorer.matcher.match(queries, ans))
        return out

    ours()  # load the encoder (both paths share it)
    times: dict[str, list[float]] = {"plain": [], "ours": []}
    for r in range(a.repeats):
        for name, fn in (("plain", plain), ("ours", ours)):
            t = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t)
            if name == "plain":
                reference = result
            else:
                gap = max(
                    float(np.abs(x - y).max()) for x, y in zip(result, reference, strict=True)
                )
                assert gap < 1e-5, f"the two paths disagree by {gap}"
        print(f"repeat {r}: plain {times['plain'][-1]:.2f} s, ours {times['ours'][-1]:.2f} s",
              flush=True)  # fmt: skip
    n_texts = a.models * 4 * a.n
    med = {k: statistics.median(v) for k, v in times.items()}
    plain_side = ("the encoder's batched encode on each list, for every model" if
                  a.baseline == "fair" else "the encoder on one text at a time, every time")  # fmt: skip
    row = dict(
        encoder=cfg.embedder, matcher=cfg.matcher, baseline=a.baseline, plain_settings=plain_side,
        ours_settings="Scorer: each distinct (prefix, text) encoded once, in batches",
        inputs=a.n, models=a.models,
        texts_needed=n_texts, distinct_texts=len({*queries, *cloud, *(t for ans in answers for t in ans)}),
        plain_s=round(med["plain"], 3), ours_s=round(med["ours"], 3),
        plain_texts_per_s=round(n_texts / med["plain"], 1),
        ours_texts_per_s=round(n_texts / med["ours"], 1),
        ratio=round(med["plain"] / med["ours"], 2), max_score_difference=gap,
        plain_runs=" ".join(f"{x:.3f}" for x in times["plain"]),
        ours_runs=" ".join(f"{x:.3f}" for x in times["ours"]), device=machine(),
    )  # fmt: skip
    print(row)
    write_csv([row], Path(a.out) / f"encode_{a.tag}_{a.baseline}.csv")


if __name__ == "__main__":
    main()
