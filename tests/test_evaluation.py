"""Degenerate answers, the reported metrics, the paper's claims and the scorer choice, on
constructed tables whose answers are known."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecc_utils import paper
from ecc_utils import scoring as S
from ecc_utils.config import load_profile
from ecc_utils.scoring.selection import SelectionGroup
from ecc_utils.scoring.validity import Separation


@pytest.mark.parametrize(
    "answer",
    ["", "   ", "亲爱的亲爱的亲爱的亲爱的亲爱的亲", "好好好好好好", "。。。。", "在的在的在的",
     "您好您好您好您好您好您好您好"],
)  # fmt: skip
def test_loops_and_empty_answers_are_degenerate(answer):
    assert S.is_degenerate(answer)


@pytest.mark.parametrize(
    "answer",
    ["好的", "好的好的", "哈哈哈，好的亲，今天就给您发货哦", "您好，请问有什么可以帮您？",
     "525873142019", "亲 在的 呢", "2021-10-24 发货"],
)  # fmt: skip
def test_ordinary_replies_are_not(answer):
    assert not S.is_degenerate(answer)


def test_distinct_n():
    assert S.distinct_n(["a b c", "a b d"], 1, tokenizer="space") == pytest.approx(4 / 6)
    assert S.distinct_n(["a b c", "a b d"], 2, tokenizer="space") == pytest.approx(3 / 4)
    assert S.distinct_n([""], 1) == 0.0


def _tables(n=40, seed=0):
    """Per-input and per-group tables of three models: 'good' beats 'base' on every metric by
    a wide margin, 'twin' equals 'base'."""
    rng = np.random.default_rng(seed)
    rows, groups = [], []
    base_final = rng.uniform(0.2, 0.4, n)
    for model, shift in (("base", 0.0), ("good", 0.3), ("twin", 0.0)):
        for i in range(n):
            rows.append({"model": model, "id": f"e{i}", "final_score": base_final[i] + shift,
                         "nll_human": 40.0 - 20 * shift, "tokens_human": 10,
                         "nll_teacher": 30.0, "tokens_teacher": 10,
                         "degenerate": (i % 4 == 0) and model != "good",
                         "degenerate_unguarded": i % 2 == 0,
                         "rouge_l": 0.1 + shift, "bleu4": 0.05 + shift / 3})  # fmt: skip
        for j in range(n):
            good = model == "good"
            groups.append({"model": model, "group": f"g{j}", "rank_length": 1 + (j % 2),
                           "rank_mean": 1 if good else 3, "rank_pmi": 2, "rank_sum": 1})  # fmt: skip
    return {"input": pd.DataFrame(rows), "group": pd.DataFrame(groups)}


def test_metric_intervals_of_known_tables():
    m = S.metric_intervals(_tables(), ["base", "good"]).set_index(["model", "metric"])
    assert m.loc[("good", "perplexity, human reply"), "estimate"] == pytest.approx(np.exp(3.4))
    assert m.loc[("base", "perplexity, human reply"), "estimate"] == pytest.approx(np.exp(4.0))
    assert m.loc[("base", "degenerate answers"), "estimate"] == pytest.approx(0.25)
    assert m.loc[("good", "degenerate answers, no guard"), "estimate"] == pytest.approx(0.5)
    assert m.loc[("good", "selector R10@1 (mean log-prob)"), "estimate"] == 1.0
    assert m.loc[("good", "selector R10@1 margin over length"), "estimate"] == pytest.approx(0.5)
    assert m.loc[("base", "selector R10@1 (summed log-prob)"), "estimate"] == 1.0
    assert set(m.index.get_level_values("metric")) == set(S.METRICS)


def test_claims_are_decided_by_paired_tests():
    tables = _tables()
    claims = [S.Claim("good above base", "good", "base"), S.Claim("twin above base", "twin", "base"),
              S.Claim("base above good", "base", "good")]  # fmt: skip
    res = S.decide_claims(claims, tables, seed=0)
    v = res.set_index(["claim", "metric"])["verdict"]
    for metric in S.CLAIM_METRICS:
        assert v[("good above base", metric)] == "supported", metric
        assert v[("twin above base", metric)] == "inconclusive", metric
        assert v[("base above good", metric)] == "contradicted", metric
    ppl = res[(res["claim"] == "good above base") & (res["metric"] == "perplexity, human reply")]
    assert ppl["difference"].iloc[0] == pytest.approx(np.exp(3.4) - np.exp(4.0))  # lower: better
    sentence = S.summary_sentence(res)
    assert sentence.startswith("good above base: supported by final score (Eq. 1), perplexity")
    assert "twin above base: inconclusive on 5 of 5 metrics." in sentence
    assert S.claim_status(res, "good above base") == "reproduced"
    assert S.claim_status(res, "base above good") == "not reproduced"
    assert S.claim_status(res, "twin above base") == "inconclusive"


def test_paper_claims_use_the_profiles_labels():
    claims = S.paper_claims({"prefix": (30,), "ptuning_v2": (30,), "lora": (30, 50, 150)},
                            ["prefix", "ptuning_v2", "lora"])  # fmt: skip
    got = [(c.text, c.better, c.other) for c in claims]
    assert got[:3] == [
        ("LoRA above Prefix-Tuning at equal training samples (30)", "LoRA 30 steps",
         "Prefix-Tuning 30 steps"),
        ("LoRA above P-Tuning v2 at equal training samples (30)", "LoRA 30 steps",
         "P-Tuning v2 30 steps"),
        ("LoRA improves with more training samples (150 vs 30)", "LoRA 150 steps",
         "LoRA 30 steps"),
    ]  # fmt: skip
    assert ("LoRA (30 training samples) above the original model", "LoRA 30 steps",
            paper.ORIGINAL_LABEL) in got  # fmt: skip
    assert [c.key for c in claims] == [
        "lora>prefix",
        "lora>ptuning_v2",
        "lora:more",
        "prefix>original",
        "ptuning_v2>original",
        "lora>original",
    ]
    assert [c.text for c in S.paper_claims({"prefix": (2,)}, ["prefix"])] == [
        "Prefix-Tuning (2 training samples) above the original model"
    ]


def test_claims_name_what_they_compare_at_unequal_batches():
    # The quick profile: LoRA 64 steps of 4 against Prefix-Tuning 256 steps of 1 is a
    # comparison at equal samples, not at equal steps.
    ms = {"prefix": (256,), "ptuning_v2": (64,), "lora": (64, 107, 320)}
    claims = S.paper_claims(ms, ["prefix", "ptuning_v2", "lora"], {"prefix": 1, "ptuning_v2": 4,
                                                                   "lora": 4})  # fmt: skip
    assert claims[0].text == "LoRA above Prefix-Tuning at equal training samples (256)"
    assert (claims[0].better, claims[0].other) == ("LoRA 64 steps", "Prefix-Tuning 256 steps")
    assert claims[2].text == "LoRA improves with more training samples (1280 vs 256)"
    # Equal steps but unequal batches: the name says both counts.
    c = S.paper_claims({"prefix": (64,), "lora": (64,)}, ["prefix", "lora"], {"prefix": 1,
                                                                             "lora": 4})[0]  # fmt: skip
    assert c.text == "LoRA above Prefix-Tuning at equal steps (64; 256 vs 64 training samples)"
    assert S.name_problems([c]) == []


def test_a_claim_whose_name_disagrees_with_its_models_is_caught():
    a, b = S.claims.Run("lora", 64, 4), S.claims.Run("prefix", 256, 1)
    wrong = S.Claim("LoRA above Prefix-Tuning at equal steps (64)", "LoRA 64 steps",
                    "Prefix-Tuning 256 steps", "lora>prefix", (a, b))  # fmt: skip
    (problem,) = S.name_problems([wrong])
    assert "equal steps (64)" in problem and "prefix 256 steps x batch 1" in problem
    unnamed = S.Claim("LoRA above Prefix-Tuning", "x", "y", "lora>prefix", (a, b))
    assert "neither steps nor training samples" in S.name_problems([unnamed])[0]
    fewer = S.Claim("LoRA improves with more training samples (256 vs 1280)", "x", "y",
                    "lora:more", (a, S.claims.Run("lora", 320, 4)))  # fmt: skip
    assert S.name_problems([fewer])


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_profiles_claims_name_what_they_compare(profile):
    cfg = load_profile(Path(__file__).parents[1] / "params" / f"{profile}.yaml")
    claims = S.claims_of(cfg.train)  # raises on a mislabelled claim
    assert len({c.key for c in claims}) == len(claims)
    assert S.name_problems(claims) == []


def test_agreement_of_aligned_and_reversed_models():
    t = _tables()
    agree = S.agreement(t, ["base", "good"]).set_index("comparison")
    assert agree.loc["models ranked by Eq. (1) vs by ROUGE-L", "estimate"] == pytest.approx(1.0)
    assert agree.loc["models ranked by Eq. (1) vs by perplexity (lower is better)", "estimate"] == (
        pytest.approx(1.0)
    )
    per_answer = agree.loc["answers: final score vs ROUGE-L"]
    assert 0 < per_answer["estimate"] <= 1 and per_answer["low"] <= per_answer["high"]


def test_validity_of_a_perfect_a_blind_and_a_length_scorer():
    groups = [SelectionGroup("q", ["right answer", "x", "yy", "zzz"], 0) for _ in range(5)]
    sep = {"matcher": Separation(["q"] * 6, ["right answer"] * 6, ["nope"] * 6),
           "embedder": Separation([], [], [])}  # fmt: skip

    def perfect(a, b):
        return np.array([1.0 if x == "right answer" else 0.0 for x in b])

    def blind(a, b):
        return np.zeros(len(b))

    table = S.measure([S.Candidate("perfect", "matcher", perfect),
                       S.Candidate("blind", "matcher", blind),
                       S.Candidate("blind-e", "embedder", blind)], groups, sep)  # fmt: skip
    assert table.loc["perfect", "R4@1"] == 1.0 and table.loc["perfect", "separation"] == 1.0
    assert table.loc["perfect", "ECD win rate"] == 1.0
    assert table.loc["blind", "R4@1"] == 0.0  # ties rank pessimistically
    assert table.loc["blind", "separation"] == 0.5 and table.loc["blind", "ECD win rate"] == 0.5
    assert np.isnan(table.loc["blind-e", "separation"])  # no second reference: not measured
    assert table.loc["chance", "R4@1"] == 0.25
    assert table.loc["length only (shortest reply)", "R4@1"] == 0.0  # the right one is longest
    assert S.best(table, "matcher") == "perfect"


def test_separation_sets_pair_references_and_random_replies():
    from ecc_utils.records import Example

    exs = [Example(f"e{i}", "jddc_dev", [], f"q{i}", f"a{i}", [f"a{i}", f"b{i}"]) for i in range(6)]
    sets = S.separation_sets(exs, seed=3)
    m, e = sets["matcher"], sets["embedder"]
    assert len(m) == len(e) == 6
    for q, h, r in zip(m.anchors, m.human, m.random, strict=True):
        assert h == "a" + q[1:] and r != h
    assert all(h == "b" + a[1:] for a, h in zip(e.anchors, e.human, strict=True))
    assert S.separation_sets(exs, seed=3)["matcher"].random == m.random


def test_with_the_guard_models_also_answer_with_plain_sampling():
    from ecc_utils.endmodel.generate import Sampling
    from ecc_utils.endmodel.load import tiny_random
    from ecc_utils.records import Example, Turn
    from ecc_utils.scoring.evaluation import (
        METRICS,
        CandidateGroup,
        EvaluationSet,
        evaluate_models,
        measured_metrics,
        metric_intervals,
        per_group_table,
        per_input_table,
    )

    model, tok = tiny_random()
    inputs = [
        Example(f"e{i}", "ecd", [Turn("customer", "你好")], f"发货 {i}", "好的") for i in range(3)
    ]
    groups = [CandidateGroup("e0", inputs[0], ["好的", "不行", "亲"], 0)]
    kw = dict(max_input_length=32, max_output_length=8)
    plain = Sampling(max_new_tokens=12, do_sample=False, max_input_length=32)
    guard = Sampling(max_new_tokens=12, do_sample=False, max_input_length=32,
                     no_repeat_ngram_size=2, repetition_penalty=1.5)  # fmt: skip
    teacher = ["好的"] * 3
    data = EvaluationSet(inputs, teacher, groups)
    a = evaluate_models(model, tok, {"Original Model": None}, data,
                        sampling=plain, max_output_length=kw["max_output_length"])  # fmt: skip
    b = evaluate_models(model, tok, {"Original Model": None}, data,
                        sampling=guard, max_output_length=kw["max_output_length"])  # fmt: skip
    assert a["Original Model"].unguarded is None
    assert b["Original Model"].unguarded == a["Original Model"].answers  # the paper's sampling
    assert b["Original Model"].answers != a["Original Model"].answers
    scores = pd.DataFrame({"model": "Original Model", "id": [e.id for e in inputs],
                           "final_score": 0.0})  # fmt: skip
    table = per_input_table(b, inputs, scores)
    assert {"degenerate", "degenerate_unguarded"} <= set(table.columns)
    # generation.compare_unguarded off: the same guarded answers, no second pass, no row.
    c = evaluate_models(model, tok, {"Original Model": None}, data,
                        sampling=dataclasses.replace(guard, compare_unguarded=False),
                        max_output_length=kw["max_output_length"])  # fmt: skip
    assert c["Original Model"].unguarded == []
    assert c["Original Model"].answers == b["Original Model"].answers
    unmeasured = per_input_table(c, inputs, scores)
    assert unmeasured["degenerate_unguarded"].isna().all()
    tables = {"input": unmeasured, "group": per_group_table(c, groups)}
    intervals = metric_intervals(tables, ["Original Model"])
    metrics = set(intervals["metric"])
    assert "degenerate answers" in metrics and "degenerate answers, no guard" not in metrics
    assert measured_metrics(intervals) == [m for m in METRICS if m in metrics]
    tables["input"] = table
    assert "degenerate answers, no guard" in set(
        metric_intervals({**tables, "group": per_group_table(b, groups)}, ["Original Model"])[
            "metric"
        ]
    )
