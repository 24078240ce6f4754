"""The online loop's local update: its settings per round, what it trains on, the selection of
its settings with perfect labels, and the page's sanity check and power analysis."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecc_utils import evolve
from ecc_utils.config import load_profile
from ecc_utils.evolve.selection import PREVIOUS_UPDATE
from ecc_utils.evolve.state import LoopState, ProbeResult, RoundRecord
from ecc_utils.records import Example

ROOT = Path(__file__).resolve().parents[1]


def pair(i: int, query: str = "在吗", response: str = "在的亲") -> Example:
    return Example(id=f"p{i}", source="test", context=[], query=query, response=response)


def test_the_update_is_a_fraction_of_the_methods_rate_for_about_one_pass():
    cfg = load_profile(ROOT / "params" / "quick.yaml")
    train = cfg.train.for_method("lora")
    u = evolve.UpdateSettings.for_round(cfg.evolve, train, n_examples=16)
    assert u.learning_rate == pytest.approx(0.1 * train.learning_rate)
    # two passes over 16 pairs in batches of 4
    assert (u.steps, u.schedule, u.warmup_steps) == (8, "linear", 0)
    assert evolve.UpdateSettings.for_round(cfg.evolve, train, 17).steps == 9
    fixed = dataclasses.replace(cfg.evolve, steps_per_round=10, update_warmup_ratio=0.25)
    assert evolve.UpdateSettings.for_round(fixed, train, 3).steps == 10
    assert evolve.UpdateSettings.for_round(fixed, train, 3).warmup_steps == 2  # round(2.5)


def test_an_update_trains_on_the_new_labels_and_replays_the_training_split():
    cfg = load_profile(ROOT / "params" / "quick.yaml")
    pool = [pair(i) for i in range(100)]
    new, old = [pair(1000), pair(1001)], [pair(999)]
    got = evolve.update_examples(new, old + new, pool, cfg.evolve, random.Random(0))
    assert got[:2] == new and len(got) == 2 + 3 * 2  # replay_ratio 3
    assert all(e in pool for e in got[2:])
    assert got == evolve.update_examples(new, old + new, pool, cfg.evolve, random.Random(0))
    assert evolve.update_examples([], old, pool, cfg.evolve, random.Random(0)) == []  # no label
    whole = dataclasses.replace(cfg.evolve, update_on="buffer", replay_ratio=1.0)
    got = evolve.update_examples(new, old + new, pool[:2], whole, random.Random(0))
    assert got[:3] == old + new and len(got) == 5  # replay capped by its pool
    assert len(evolve.replay_sample(pool, None)) == 100 and len(evolve.replay_sample(pool, 8)) == 8


def _state(ppl: list[float], human: list[list[float]] | None = None, n: int = 32,
           jitter: float = 0.01) -> LoopState:  # fmt: skip
    """An arm whose probe's human-reply perplexity is about `ppl` per round: each query's
    log-perplexity moves from round 0 by the round's change plus seeded noise (`jitter`)."""
    s = LoopState("cloud")
    human = human or [[0.3] * n for _ in ppl]
    rng = np.random.default_rng(0)
    for k, p in enumerate(ppl):
        tokens = [10] * n
        noise = rng.normal(0, jitter, n) if k else np.zeros(n)
        nll = [float(np.log(p) + e) * 10 for e in noise]
        s.probes.append(ProbeResult([""] * n, human[k], human[k], nll, tokens))
        rec = RoundRecord.start("cloud", probe_mean_score=0.3, probe_mean_sim=0.5,
                                probe_human_score=float(np.mean(human[k])),
                                probe_human_perplexity=p)  # fmt: skip
        s.records.append(dataclasses.replace(rec, round=k, update_steps=4 * (k > 0)))
    s.escalated_ids = [[] for _ in ppl[1:]]
    return s


SETTING = {"update_lr_scale": 0.1, "update_schedule": "linear", "update_warmup_ratio": 0.0,
           "update_on": "new", "update_epochs": 2.0, "steps_per_round": None,
           "replay_ratio": 3.0, "replay_size": None}  # fmt: skip


def test_the_selection_picks_a_harmless_setting_that_lowers_the_perplexity_most():
    rows = []
    for scale, ppl in ((1.0, [20, 200, 60]), (0.1, [20, 20.01, 19.5]), (0.03, [20, 19.95, 19.8]),
                       (0.3, [20, 21, 19.0])):  # fmt: skip
        rows += evolve.selection_rows(_state(ppl), SETTING | {"update_lr_scale": scale})
    table = pd.DataFrame(rows)
    assert len(table) == 4 * 3 and set(table["round"]) == {0, 1, 2}
    ratio = table[(table["update_lr_scale"] == 0.1) & (table["round"] == 2)]["ppl_ratio"].iloc[0]
    assert ratio == pytest.approx(19.5 / 20, rel=0.01)
    # 0.3 ends lowest but rose at round 1 (every probe query: the whole interval above 1);
    # 0.1 rose too, by a hair, but not significantly (its queries vary), and ends lower than 0.03
    chosen = evolve.pick(table)
    assert chosen["update_lr_scale"] == 0.1 and "rate x0.1 linear" in chosen.name
    view = evolve.selection_view(table)
    assert view.index[1].endswith("(the pick)") and "perplexity, round 2" in view.columns
    harmful = table[table["update_lr_scale"].isin([1.0, 0.3])]
    assert evolve.pick(harmful)["update_lr_scale"] == 0.3  # none harmless: the one rising least
    cfg = load_profile(ROOT / "params" / "quick.yaml")
    agree = evolve.agreement(table, cfg)
    assert agree["agrees"].all(), agree
    other = dataclasses.replace(cfg, evolve=dataclasses.replace(cfg.evolve, update_lr_scale=1.0))
    assert not evolve.agreement(table, other).loc["update_lr_scale", "agrees"]


def test_the_committed_selection_reads_and_the_profile_follows_its_pick():
    cfg = load_profile(ROOT / "params" / "quick.yaml")
    table = evolve.read_selection(evolve.selection_file(ROOT / "params", "quick"))
    assert {"setting", "round", "ppl_ratio", "ppl_ratio_low", "human_gain"} <= set(table.columns)
    assert evolve.agreement(table, cfg)["agrees"].all()
    previous = table[(table["steps_per_round"] == 10) & (table["round"] > 0)]
    assert previous["ppl_ratio"].max() > 1.25  # the update the loop used before harms
    first = previous[previous["round"] == 1].iloc[0]
    sentence = evolve.previous_sentence(table)
    assert f"to {first['ppl_human']:.2f} after one round" in sentence
    assert evolve.previous_sentence(table[table["steps_per_round"] != 10]) == ""
    with pytest.raises(FileNotFoundError, match="bench/sweep_update.py"):
        evolve.read_selection(ROOT / "params" / "sweeps" / "nothing_update.csv")


def test_the_sanity_sentence_says_whether_perfect_labels_helped():
    states = {"cloud": _state([20, 19, 18]), "no-update": _state([20, 20, 20], jitter=0)}
    helped = evolve.compare_controls(states, seed=0)
    text = evolve.oracle_sentence(helped)
    assert text.startswith(
        "Updating on perfect labels (the human reply as the cloud's answer) helped"
    )
    assert "-2.0" in text and "(supported)" in text
    hurt = evolve.compare_controls(
        {"cloud": _state([20, 40, 60]), "no-update": states["no-update"]}
    )
    assert " hurt: " in evolve.oracle_sentence(hurt)
    same = evolve.compare_controls({"cloud": _state([20, 20, 20], jitter=0.2),
                                    "no-update": states["no-update"]})  # fmt: skip
    assert "made no difference this run can detect" in evolve.oracle_sentence(same)
    assert "did not run" in evolve.oracle_sentence(pd.DataFrame())
    table = evolve.perplexity_table({"cloud": _state([20, 40, 30]), "no-update": _state([20] * 3)})
    assert list(table.columns) == ["round 0", "round 1", "round 2", "worst / start"]
    assert table.loc["cloud", "worst / start"] == pytest.approx(2.0)
    assert table.loc["no-update", "worst / start"] == pytest.approx(1.0)


def test_the_minimum_detectable_effect_follows_the_tests_standard_error():
    controls = pd.DataFrame([
        {"claim": "cloud gate above no update", "metric": evolve.report.PERPLEXITY_METRIC,
         "better": "cloud", "other": "no-update", "higher_is_better": False,
         "difference": -0.5, "low": -1.5, "high": 0.46, "n": 32, "verdict": "inconclusive"},
        {"claim": "cloud gate above random", "metric": evolve.report.PERPLEXITY_METRIC,
         "better": "cloud", "other": "random", "higher_is_better": False,
         "difference": 0.0, "low": -1.0, "high": 1.0, "n": 32, "verdict": "inconclusive"},
    ])  # fmt: skip
    table = evolve.detectable({"knn": controls})
    assert len(table) == 1  # against no update only
    r = table.iloc[0]
    se = (0.46 + 1.5) / 3.919927969
    assert r["minimum detectable effect"] == pytest.approx(2.8015852 * se, rel=1e-6)
    assert r["largest plausible effect"] == pytest.approx(1.5)  # the better side: lower ppl
    assert r["probe queries needed"] == int(np.ceil(32 * (2.8015852 * se / 1.5) ** 2))
    text = evolve.detectable_sentence(table, available=94, answers_per_query=18)
    assert f"{r['minimum detectable effect']:.2f}" in text and "Over 32 probe queries" in text
    # a comparison whose interval lies wholly on the harmful side beside one that does not
    # (the column mixes counts and None): no probe size would help it
    worse = controls.assign(low=0.1, high=2.0, difference=1.0)
    both = evolve.detectable({"knn": worse, "oracle": controls})
    assert (
        pd.isna(both.iloc[0]["probe queries needed"]) and both.iloc[1]["probe queries needed"] > 0
    )
    assert "no probe size would help" in evolve.detectable_sentence(both, 94, 18)
    small = controls.assign(low=-0.2, high=0.1, difference=-0.05)
    text = evolve.detectable_sentence(evolve.detectable({"knn": small}), 94, 18)
    assert "would need about" in text and "stays undetected here" in text


def _held_out_loss(model, tok, pairs, train) -> float:
    """The human replies' negative log-likelihood per token under `model` (`pairs` held out)."""
    from ecc_utils.endmodel.reply_likelihood import reply_logprobs

    s = reply_logprobs(model, tok, [(e.context, e.query) for e in pairs],
                       [[e.response] for e in pairs], max_input_length=train.max_input_length,
                       max_reply_tokens=train.max_output_length)  # fmt: skip
    return -sum(float(x.logprob[0]) for x in s) / sum(int(x.tokens[0]) for x in s)


@pytest.fixture(scope="module")
def smoke_start(tmp_path_factory):
    """The smoke profile's end model (tiny, random) with a LoRA adapter trained 100 steps of 8
    on its training pairs at a rate of 1e-2 decayed to zero (held-out loss about 4.65 a token,
    against 5.55 for bytes drawn at random), the held-out pairs (32 to measure, 12 for the
    stream: four perfect labels a round) and the training section it was trained with."""
    import os

    import torch

    from ecc_utils import data
    from ecc_utils.config import DataConfig
    from ecc_utils.endmodel.load import tiny_random
    from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method

    cfg = load_profile(ROOT / "params" / "smoke.yaml")
    real = os.environ.get("ECC_DATA_DIR")
    where = DataConfig(source="dir", data_dir=real) if real else \
        DataConfig(source="synthetic", synthetic_contexts=400)  # fmt: skip
    src = data.resolve_source(where, cache_dir=tmp_path_factory.mktemp("data"))
    sizes = dataclasses.replace(cfg.data, n_eval=60)
    splits = data.make_splits(data.load_corpora(src, use_jddc=True), sizes, seed=0)
    held = [e for e in splits.eval if e.label is None and e.response]
    train = dataclasses.replace(cfg.train.for_method("lora"), batch_size=8, learning_rate=1e-2)
    model, tok = tiny_random(seed=0)
    torch.manual_seed(0)
    model = apply_method(model, PeftSpec("lora"))
    evolve.local_update(model, tok, splits.train, train, evolve.UpdateSettings(1e-2, 100, "linear"),
                        seed=0, work_dir=tmp_path_factory.mktemp("start"))  # fmt: skip
    return model, tok, splits.train, held[:32], held[32:44], train


def _oracle_rounds(start, ev, work) -> list[float]:
    """Three rounds of the loop's local update as `ev` says, on perfect labels (the stream's
    human replies), from a copy of the start adapter: the held-out loss before and after each."""
    import copy

    model, tok, train_pairs, probe, stream, train = start
    model = copy.deepcopy(model)
    losses, buffer, rng = [_held_out_loss(model, tok, probe, train)], [], random.Random(0)
    for r in range(3):
        new = stream[4 * r : 4 * r + 4]
        buffer += new
        examples = evolve.update_examples(new, buffer, train_pairs, ev, rng)
        update = evolve.UpdateSettings.for_round(ev, train, len(examples))
        evolve.local_update(model, tok, examples, train, update, seed=r, work_dir=work)
        losses.append(_held_out_loss(model, tok, probe, train))
    return losses


# Measured: the profile's update keeps the held-out loss within 0.1 % of its start (4.6464 ->
# 4.6509 at most with the real samples, 4.3553 -> 4.3524 synthetic); the previous update raises
# it by 4.2 % (4.8399) and 1.9 % (4.4379); kernels on another CPU move these by about 1e-6. A
# tolerance of 0.5 % lies five times above the first and four times below the second.
HARM_TOLERANCE = 5e-3


def test_an_update_on_perfect_labels_does_not_raise_the_held_out_loss(smoke_start, tmp_path):
    """At smoke scale, the loop's update on oracle labels (the profile's settings, relative to
    the adapter's training rate) leaves the human replies' held-out loss at or below its start
    in every round, within a tolerance well below what the previous update added: that one (the
    peak rate, constant, 10 steps on the whole buffer and a pool of 8) fails the same check."""
    cfg = load_profile(ROOT / "params" / "smoke.yaml")
    losses = _oracle_rounds(smoke_start, cfg.evolve, tmp_path)
    assert max(losses[1:]) <= losses[0] * (1 + HARM_TOLERANCE), losses
    previous = dataclasses.replace(cfg.evolve, **PREVIOUS_UPDATE)
    harmed = _oracle_rounds(smoke_start, previous, tmp_path)
    assert max(harmed[1:]) > harmed[0] * (1 + HARM_TOLERANCE), harmed


def test_the_state_round_trips_through_its_file_as_objects(tmp_path):
    s = _state([50.0, 49.0])
    s.buffer.append(Example("pseudo-q1", "teacher", [], "q", "a"))
    s.decisions.append(evolve.QueryDecision(1, "q1", "q", "ans", 0.2, True))
    s.threshold = 0.3
    f = tmp_path / "state.json"
    s.save(f)
    back = LoopState.load(f, "cloud")
    assert back == s
    assert isinstance(back.records[1], RoundRecord) and isinstance(back.probes[1], ProbeResult)
    assert back.probe_human_nll[1] == s.probes[1].nll  # the per-round views
    assert LoopState.load(f, "cloud", run_key="other") == LoopState("cloud", run_key="other")
    pooled = ProbeResult.concat([s.probes[1], s.probes[1]])
    assert len(pooled.nll) == 64 and pooled.perplexity() == pytest.approx(s.probes[1].perplexity())


def test_arm_totals_and_the_summary_come_from_the_rounds():
    rows = []
    for arm, calls, esc, score in (
        ("cloud", [0, 16, 16], [0, 4, 3], [0.3, 0.35, 0.4]),
        ("no-update", [0, 0, 0], [0, 0, 0], [0.3, 0.31, 0.29]),
    ):
        for k in range(3):
            rows.append({"arm": arm, "round": k, "cloud_calls": calls[k], "n_escalated": esc[k],
                         "n_queries": 16 * (k > 0), "train_time_s": 1.5 * (k > 0) * (arm == "cloud"),
                         "probe_mean_score": score[k]})  # fmt: skip
    totals = evolve.arm_totals(pd.DataFrame(rows[::-1]))  # any row order
    assert list(totals.index) == ["no-update", "cloud"]  # the table's order
    assert totals.loc["cloud", ["cloud_calls", "escalated", "queries"]].tolist() == [32, 7, 32]
    assert totals.loc["cloud", "train_time_s"] == 3.0
    assert totals.loc["cloud", ["probe score, start", "probe score, end"]].tolist() == [0.3, 0.4]
    assert evolve.escalated_shares(totals) == {"no-update": 0.0, "cloud": 7 / 32}
    s = LoopState("cloud", threshold=0.25)
    summary = evolve.evolution_summary(totals, "rule", {"cloud": s}, {"calls": 2})
    assert summary["thresholds"] == {"cloud": 0.25} and summary["teacher"] == {"calls": 2}
    assert [a["arm"] for a in summary["arms"]] == ["no-update", "cloud"]
