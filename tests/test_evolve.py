"""The online evolutive learning loop on a tiny model, with fake scorers and teachers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecc_utils import evolve, privacy
from ecc_utils.cloud import (
    Answering,
    Backend,
    Completion,
    LabelCache,
    Teacher,
    TeacherOptions,
    build_prompt,
)
from ecc_utils.config import load_profile
from ecc_utils.evolve import EvolveError, LoopInputs, escalate, run_gate
from ecc_utils.records import Example
from ecc_utils.scoring import Scorer

SMOKE = Path(__file__).resolve().parents[1] / "params" / "smoke.yaml"

torch = pytest.importorskip("torch")


class CharEmbedder:
    """Bag-of-characters cosine: a deterministic stand-in for the SimBERT role."""

    spec = "chars"

    def similarity(self, a, b):
        out = []
        for x, y in zip(a, b, strict=True):
            sx, sy = set(x), set(y)
            out.append(len(sx & sy) / max(1.0, np.sqrt(len(sx) * len(sy))))
        return np.array(out)


class ConstMatcher:
    """Match = a fixed value per query (a dict), so the gates can be steered exactly."""

    spec, kind = "const", "dual"

    def __init__(self, values=None, default=0.5):
        self.values, self.default = values or {}, default

    def match(self, queries, answers):
        return np.array([self.values.get(q, self.default) for q in queries], dtype=float)


class SpyBackend(Backend):
    """Records every query it receives; answers with a constant, optionally fails."""

    def __init__(self, answer="好的亲", fail_after=None):
        self.answer, self.fail_after, self.seen = answer, fail_after, []

    def complete(self, prompt, query):
        if self.fail_after is not None and len(self.seen) >= self.fail_after:
            raise RuntimeError("503 from the cloud")
        self.seen.append(query)
        return Completion(answer=self.answer, input_tokens=10, output_tokens=3)


def make_teacher(tmp_path, backend):
    prompt = build_prompt([("你好", "亲在的")], n_shots=1, language="zh")
    answering = Answering("spy", "spy-1", lambda: backend, {"temperature": 0.0})
    options = TeacherOptions(progress=False)
    return Teacher(answering, prompt, LabelCache(tmp_path / "cache.jsonl"), options)


def ex(i, q):
    return Example(id=f"q{i}", source="test", context=[], query=q, response="在的")


@pytest.fixture
def tiny_lora():
    from ecc_utils.endmodel.load import tiny_random
    from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method

    model, tok = tiny_random(seed=0)
    # LoRA draws its A matrices from the global RNG: seeded here, so that no test depends on
    # what ran before it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return apply_method(model, PeftSpec("lora")), tok


def loop_profile(
    rounds: int,
    queries_per_round: int,
    steps_per_round: int = 2,
    percentile: float | None = None,
    update_lr_scale: float | None = None,
):
    """The smoke profile with the loop's settings of these tests: a fixed threshold of 0.5,
    or the percentile rule when `percentile` is given; the update's rate scale of the profile,
    or `update_lr_scale` at a constant rate when given."""
    cfg = load_profile(SMOKE)
    update = {"update_lr_scale": update_lr_scale, "update_schedule": "constant"}
    return dataclasses.replace(
        cfg,
        evolve=dataclasses.replace(
            cfg.evolve,
            rounds=rounds,
            queries_per_round=queries_per_round,
            threshold=None if percentile else 0.5,
            escalate_percentile=percentile,
            steps_per_round=steps_per_round,
            **(update if update_lr_scale is not None else {}),
        ),
        generation=dataclasses.replace(cfg.generation, max_new_tokens=6),
        train=dataclasses.replace(
            cfg.train, learning_rate=1e-2, max_input_length=48, max_output_length=16
        ),
    )


def _run(
    tmp_path,
    model,
    tok,
    teacher,
    scorer,
    gate,
    stream,
    rounds=2,
    steps_per_round=2,
    percentile=None,
    update_lr_scale=None,
):
    inputs = LoopInputs(stream, stream[:2], ["好的亲"] * 2, [ex(99, "在吗")])
    cfg = loop_profile(rounds, len(stream) // rounds, steps_per_round, percentile, update_lr_scale)
    loop = evolve.Loop(model, tok, teacher, scorer, inputs, cfg)
    return run_gate(gate, loop, tmp_path / gate, progress=False)


def test_escalate_rules():
    """A gate escalates on its one score (final or match) below its threshold."""
    final = np.array([0.1, 0.5, 0.9])
    assert escalate(final, 0.5).tolist() == [True, False, False]
    assert escalate(np.array([0.1, 0.2, 0.3]), 0.2).tolist() == [True, False, False]
    unhappy = np.array([False, False, True])
    assert escalate(final, 0.5, dissatisfied=unhappy).tolist() == [True, False, True]


def test_match_only_buffer_gets_exactly_the_low_match_queries(tmp_path, tiny_lora):
    model, tok = tiny_lora
    stream = [ex(i, q) for i, q in enumerate(["你好", "可以便宜吗", "今天发货吗", "快递呢"])]
    matcher = ConstMatcher({"可以便宜吗": 0.05, "快递呢": 0.1}, default=0.9)
    backend = SpyBackend()
    scorer = Scorer(CharEmbedder(), matcher, alpha=0.8, theta=0.2)
    records, state = _run(
        tmp_path, model, tok, make_teacher(tmp_path, backend), scorer, "match-only", stream
    )
    assert [b.id for b in state.buffer] == ["pseudo-q1", "pseudo-q3"]
    assert state.escalated_ids == [["q1"], ["q3"]]
    assert sorted(backend.seen) == ["可以便宜吗", "快递呢"]  # nothing else left the device
    assert [r.cloud_calls for r in records] == [0, 1, 1]
    assert [r.round for r in records] == [0, 1, 2]


def test_cloud_gate_escalates_below_threshold_and_masks_pii(tmp_path, tiny_lora):
    model, tok = tiny_lora
    pii = ["我的手机13812345678", "订单号 520401029636 怎么还没到", "邮箱 a.b@example.com", "好的"]
    stream = [ex(i, q) for i, q in enumerate(pii)]
    backend = SpyBackend(answer="好的亲")
    scorer = Scorer(CharEmbedder(), ConstMatcher(default=0.9), alpha=0.8, theta=0.2)
    records, state = _run(
        tmp_path, model, tok, make_teacher(tmp_path, backend), scorer, "cloud", stream
    )
    assert len(backend.seen) == 4  # the paper's gate: every query goes to the cloud
    for q in backend.seen:
        assert not privacy.find_pii(q), q
    for b in state.buffer:
        assert not privacy.find_pii(b.query)
    dec = {d.id: d for d in state.decisions}
    for d in dec.values():
        assert d.escalated == (d.gate_score < 0.5)
    assert [b.id for b in state.buffer] == [f"pseudo-{i}" for i, d in dec.items() if d.escalated]


def test_probe_score_rises_when_the_teacher_always_gives_the_same_answer(tmp_path, tiny_lora):
    """The teacher's answers reach the end model: an update strong enough to learn one
    constant answer (the method's full rate, constant, 30 steps a round) teaches it to the
    tiny random model. The profile's gentle update is tested for harm in test_loop_update."""
    model, tok = tiny_lora
    stream = [
        ex(i, q) for i, q in enumerate(["你好", "在吗", "发货吗", "包邮吗", "能便宜吗", "几天到"])
    ]
    backend = SpyBackend(answer="好的亲")
    scorer = Scorer(CharEmbedder(), ConstMatcher(default=0.9), alpha=1.0, theta=0.2)
    records, _ = _run(
        tmp_path,
        model,
        tok,
        make_teacher(tmp_path, backend),
        scorer,
        "cloud",
        stream,
        rounds=3,
        steps_per_round=30,
        update_lr_scale=1.0,
    )
    probe = [r.probe_mean_score for r in records]
    # Six LoRA seeds (0-5) all reach at least 0.41 in some round (from 0.0); the scores of
    # six-token replies move in steps of about 0.2, so a single round's value is not the test.
    assert max(probe[1:]) > probe[0] + 0.2, probe


def test_teacher_failure_mid_loop_keeps_state_and_rerun_continues(tmp_path, tiny_lora):
    model, tok = tiny_lora
    stream = [ex(i, q) for i, q in enumerate(["你好", "在吗", "发货吗", "包邮吗"])]
    scorer = Scorer(CharEmbedder(), ConstMatcher(default=0.9), alpha=0.8, theta=0.2)
    failing = SpyBackend(fail_after=3)  # round 1 (2 calls) succeeds, round 2 fails
    with pytest.raises(EvolveError, match=r"gate cloud, round 2: the teacher failed.*re-run"):
        _run(tmp_path, model, tok, make_teacher(tmp_path, failing), scorer, "cloud", stream)
    state = evolve.LoopState.load(tmp_path / "cloud" / "state.json", "cloud")
    assert state.rounds_done == 1 and len(state.records) == 2
    adapter = tmp_path / "cloud" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    kept = len(state.buffer)
    healthy = SpyBackend()
    records, state = _run(
        tmp_path, model, tok, make_teacher(tmp_path, healthy), scorer, "cloud", stream
    )
    assert [r.round for r in records] == [0, 1, 2]
    assert state.rounds_done == 2 and len(state.buffer) >= kept
    # round 1's labels came from the cache; round 2's third query too (cached before the failure)
    assert len(healthy.seen) <= 2


def test_stream_split_excludes_table_vi_inputs():
    pool = [ex(i, f"q{i}") for i in range(10)]
    pool[0].label = "Hello"
    probe, stream = evolve.split_stream(pool, n_probe=3, n_stream=6, seed=1)
    ids = {e.id for e in probe + stream}
    assert "q0" not in ids and len(ids) == 9
    with pytest.raises(ValueError, match="raise data.n_eval"):
        evolve.split_stream(pool, n_probe=3, n_stream=7)


def test_state_of_another_run_is_not_reused(tmp_path):
    path = tmp_path / "state.json"
    s = evolve.LoopState("cloud", run_key="a")
    s.escalated_ids.append(["q1"])
    s.save(path)
    assert evolve.LoopState.load(path, "cloud", "a").rounds_done == 1
    assert evolve.LoopState.load(path, "cloud", "b").rounds_done == 0
    assert evolve.LoopState.load(path, "match-only", "a").rounds_done == 0
    f = tmp_path / "w.bin"
    f.write_bytes(b"1")
    k1 = evolve.run_key({"x": 1}, files=[f])
    f.write_bytes(b"2")
    assert evolve.run_key({"x": 1}, files=[f]) != k1 != evolve.run_key({"x": 2}, files=[f])


def test_dissatisfaction_from_ecd_labels(tmp_path):
    import json

    path = tmp_path / "candidates.jsonl"
    path.write_text(
        json.dumps({"id": "q0", "candidates": ["今天发货", "不发货的"], "true_index": 0}) + "\n"
    )
    d = evolve.Dissatisfaction.from_jsonl(path, CharEmbedder())
    batch = [ex(0, "发货吗"), ex(0, "发货吗"), ex(5, "在吗")]
    got = d(batch, ["今天发货", "不发货的", "随便"])
    assert got.tolist() == [False, True, False]
    assert not evolve.Dissatisfaction.from_jsonl(tmp_path / "none.jsonl", CharEmbedder()).candidates


def test_replay_sample_is_seeded_and_capped():
    train = [ex(i, f"q{i}") for i in range(5)]
    a = evolve.replay_sample(train, 3, seed=1)
    assert [e.id for e in a] == [e.id for e in evolve.replay_sample(train, 3, seed=1)]
    assert len(a) == 3 and len({e.id for e in a}) == 3
    assert len(evolve.replay_sample(train, 10)) == 5


# --- the threshold rule -----------------------------------------------------------------


def test_percentile_rule_escalates_the_expected_minority_for_both_gates():
    ev = loop_profile(3, 16, percentile=25).evolve
    scores = np.random.default_rng(0).uniform(0.05, 0.3, size=16)
    for gate in ("cloud", "match-only"):
        t = evolve.gate_threshold(gate, ev, scores, theta=0.2)
        assert t == pytest.approx(np.percentile(scores, 25))
        mask = escalate(scores, t)
        assert mask.sum() == 4  # a quarter of 16 distinct scores: the lowest four
        assert set(np.flatnonzero(mask)) == set(np.argsort(scores)[:4])
    # match-only escalates even when every match is above Theta (the fixed rule's dead end)
    high = np.linspace(0.5, 0.9, 8)
    t = evolve.gate_threshold("match-only", ev, high, theta=0.2)
    assert escalate(high, t).sum() == 2
    assert not escalate(high, 0.2).any()
    tied = np.full(8, 0.3)  # ties at the percentile are not escalated
    t = evolve.gate_threshold("cloud", ev, tied)
    assert not escalate(tied, t).any()
    assert "25th percentile" in evolve.threshold_rule(ev)


def test_fixed_threshold_rule_is_the_papers():
    ev = loop_profile(2, 4).evolve  # threshold 0.5, no percentile
    assert evolve.gate_threshold("cloud", ev, [0.9, 0.9]) == 0.5
    assert evolve.gate_threshold("match-only", ev, [0.9, 0.9], theta=0.2) == 0.2
    assert "fixed" in evolve.threshold_rule(ev, theta=0.2)
    with pytest.raises(ValueError, match="gate="):
        evolve.gate_threshold("vote", ev, [0.1])


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            "  threshold: null\n",
            "  threshold: 0.5\n",
            "threshold: 0.5",
            "evolve.threshold: give exactly one escalation rule",
        ),
        (
            "  escalate_percentile: 25\n",
            "  escalate_percentile: 100\n",
            "escalate_percentile: 100",
            "evolve.escalate_percentile: must be in (0, 100), got 100",
        ),
        (
            "  escalate_percentile: 25\n",
            "  escalate_percentile: null\n",
            "escalate_percentile: null",
            "evolve.escalate_percentile: give exactly one escalation rule",
        ),
        (
            "  controls: [no-update, random]\n",
            "  controls: [no-update, shuffle]\n",
            "controls:",
            "evolve.controls: must be a list of",
        ),
        (
            "  gates: [cloud, match-only]\n",
            "  gates: []\n",
            "controls:",
            "evolve.controls: 'random' escalates as many",
        ),
    ],
)
def test_bad_escalation_settings_name_file_line_and_key(tmp_path, old, new, needle, message):
    from ecc_utils.config import ProfileError

    text = SMOKE.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "smoke.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    lines = enumerate(path.read_text().splitlines(), 1)
    line = next(i for i, x in lines if x.lstrip().startswith(needle))
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)
    assert message in str(e.value)


def test_percentile_threshold_is_fixed_at_round_one_and_recorded(tmp_path, tiny_lora):
    model, tok = tiny_lora
    queries = ["你好", "可以便宜吗", "今天发货吗", "快递呢", "在吗", "包邮吗", "几天到", "退货"]
    stream = [ex(i, q) for i, q in enumerate(queries)]
    matcher = ConstMatcher({q: 0.3 + 0.05 * i for i, q in enumerate(queries)})
    scorer = Scorer(CharEmbedder(), matcher, alpha=0.8, theta=0.2)  # all matches above Theta
    backend = SpyBackend()
    records, state = _run(tmp_path, model, tok, make_teacher(tmp_path, backend), scorer,
                          "match-only", stream, percentile=25)  # fmt: skip
    first = [d.gate_score for d in state.decisions if d.round == 1]
    assert state.threshold == pytest.approx(np.percentile(first, 25))
    assert [r.threshold for r in records] == [state.threshold] * 3
    for d in state.decisions:  # round 2 escalates against round 1's threshold
        assert d.escalated == (d.gate_score < state.threshold)
    assert [r.n_escalated for r in records] == [0, 1, 0]  # the lowest of round 1 only
    assert backend.seen == ["你好"]
    table = evolve.evolution_table({"match-only": state})
    assert set(table["threshold"]) == {state.threshold} and list(table["arm"]) == ["match-only"] * 3
    esc = evolve.escalation_table({"match-only": state}).loc["match-only"]
    assert esc["threshold"] == state.threshold and esc["round-1 score, min"] == pytest.approx(0.3)
    assert (esc["escalated, round 1"], esc["escalated, round 2"]) == (0.25, 0.0)


# --- the controls ------------------------------------------------------------------------


def test_random_picks_have_the_count_and_are_seeded():
    a = evolve.random_picks(16, 4, seed=0, k=1)
    assert len(a) == 4 and len(set(a.tolist())) == 4 and all(0 <= i < 16 for i in a)
    assert a.tolist() == evolve.random_picks(16, 4, seed=0, k=1).tolist()
    others = [evolve.random_picks(16, 4, seed=s, k=k).tolist() for s, k in [(0, 2), (1, 1)]]
    assert all(o != a.tolist() for o in others)
    assert len(evolve.random_picks(3, 5, seed=0, k=1)) == 3
    assert len(evolve.random_picks(3, 0, seed=0, k=1)) == 0


def _lora_weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def test_no_update_control_leaves_the_adapter_unchanged_and_asks_nobody(tmp_path, tiny_lora):
    from ecc_utils.endmodel.generate import generate

    model, tok = tiny_lora
    stream = [ex(i, q) for i, q in enumerate(["你好", "在吗", "发货吗", "包邮吗"])]
    probe = [ex(10 + i, q) for i, q in enumerate(["多久到", "有赠品吗", "能开发票吗"])]
    cfg = loop_profile(2, 2)
    inputs = LoopInputs(stream, probe, ["好的亲"] * 3, [ex(99, "在吗")])
    scorer = Scorer(CharEmbedder(), ConstMatcher(default=0.9), alpha=0.8, theta=0.2)
    before = _lora_weights(model)
    loop = evolve.Loop(model, tok, None, scorer, inputs, cfg)  # no teacher: it must not ask
    state = evolve.run_control("no-update", loop, tmp_path / "nu", progress=False)
    after = _lora_weights(model)
    assert before and all(torch.equal(before[k], after[k]) for k in before)
    assert state.buffer == [] and state.rounds_done == 2
    assert [r.cloud_calls for r in state.records] == [0, 0, 0]
    # round k answers with seed + k: the probe answers are those of the unchanged adapter
    for k, answers in enumerate(state.probe_answers):
        assert answers == generate(model, tok, probe, evolve.round_sampling(cfg, k))
    with pytest.raises(ValueError, match="control="):
        evolve.run_control("shuffle", loop, tmp_path / "x")


def test_random_control_escalates_as_many_as_the_gate_and_pairs_seeds(tmp_path):
    from ecc_utils.endmodel.load import tiny_random
    from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method

    queries = ["你好", "可以便宜吗", "今天发货吗", "快递呢", "在吗", "包邮吗", "几天到", "退货"]
    stream = [ex(i, q) for i, q in enumerate(queries)]
    matcher = ConstMatcher({q: 0.3 + 0.05 * i for i, q in enumerate(queries)})
    scorer = Scorer(CharEmbedder(), matcher, alpha=0.8, theta=0.2)  # distinct final scores
    cfg = loop_profile(2, 4, percentile=50)
    inputs = LoopInputs(stream, stream[:2], ["好的亲"] * 2, [ex(99, "在吗")])
    gate_model, tok = tiny_random(seed=0)
    gate_model = apply_method(gate_model, PeftSpec("lora"))
    gate_teacher = make_teacher(tmp_path / "g", SpyBackend())
    gate_loop = evolve.Loop(gate_model, tok, gate_teacher, scorer, inputs, cfg)
    _, gate = run_gate("cloud", gate_loop, tmp_path / "cloud", progress=False)
    counts = evolve.escalation_counts(gate)
    assert counts == [2, sum(d.escalated for d in gate.decisions if d.round == 2)]
    model, _ = tiny_random(seed=0)
    model = apply_method(model, PeftSpec("lora"))
    before = _lora_weights(model)
    spy = SpyBackend()
    loop = evolve.Loop(model, tok, make_teacher(tmp_path / "r", spy), scorer, inputs, cfg)
    state = evolve.run_control("random", loop, tmp_path / "random", counts=counts,
                               progress=False)  # fmt: skip
    assert evolve.escalation_counts(state) == counts
    assert [r.cloud_calls for r in state.records[1:]] == counts  # equal cloud labels
    assert len(state.buffer) == len(gate.buffer) == sum(counts)
    picked = [i for ids in state.escalated_ids for i in ids]
    assert sorted(spy.seen) == sorted(e.query for e in stream if e.id in picked)
    assert any(not torch.equal(before[k], v) for k, v in _lora_weights(model).items())
    assert state.probe_answers[0] == gate.probe_answers[0]  # same adapter, same seed
    with pytest.raises(ValueError, match="run the reference gate first"):
        evolve.run_control("random", loop, tmp_path / "r2", counts=[1])


def _four_arms_setup(tmp_path):
    """What the tests of `run_arms` share: a starting LoRA adapter saved under `tmp_path`, the
    tokenizer, a scorer whose match rises with the query, a 2-round profile and 4 queries."""
    from ecc_utils.endmodel.load import tiny_random
    from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method

    model, tok = tiny_random(seed=0)
    start = tmp_path / "start"
    apply_method(model, PeftSpec("lora")).save_pretrained(str(start))
    queries = ["你好", "可以便宜吗", "今天发货吗", "快递呢"]
    stream = [ex(i, q) for i, q in enumerate(queries)]
    matcher = ConstMatcher({q: 0.3 + 0.1 * i for i, q in enumerate(queries)})
    scorer = Scorer(CharEmbedder(), matcher, alpha=0.8, theta=0.2)
    inputs = LoopInputs(stream, stream[:2], ["好的亲"] * 2, [ex(99, "在吗")])
    return start, tok, scorer, loop_profile(2, 2, percentile=25), inputs


def test_run_arms_runs_gates_then_controls_and_a_rerun_continues(tmp_path):
    from ecc_utils.artifacts import Artifacts
    from ecc_utils.endmodel.load import tiny_random

    start, tok, scorer, cfg, inputs = _four_arms_setup(tmp_path)
    base, _ = tiny_random(seed=0)
    art = Artifacts(tmp_path / "art")
    spy = SpyBackend()
    loop = evolve.Loop(base, tok, make_teacher(tmp_path, spy), scorer, inputs, cfg)
    states = evolve.run_arms(loop, art, start=start, progress=False)
    assert list(states) == ["cloud", "match-only", "no-update", "random"]
    assert evolve.escalation_counts(states["random"]) == evolve.escalation_counts(states["cloud"])
    assert all((art.evolve_dir(a) / "state.json").is_file() for a in states)
    assert set(evolve.thresholds(states)) == {"cloud", "match-only"}
    firsts = {a: s.probe_scores[0] for a, s in states.items()}
    assert all(v == firsts["cloud"] for v in firsts.values())  # paired at round 0
    for s in states.values():  # the probe also scored against the human replies, every round
        assert len(s.probe_human_scores) == len(s.probe_human_nll) == len(s.probe_scores)
        assert all(t > 0 for t in s.probe_human_tokens[-1])
        assert all(np.isfinite(s.probe_human_nll[-1])) and min(s.probe_human_nll[-1]) > 0
    table = evolve.evolution_table(states)
    assert (table["probe_human_perplexity"] > 1).all()
    failing = SpyBackend(fail_after=0)  # a re-run has nothing left to do: no teacher call
    loop = evolve.Loop(base, tok, make_teacher(tmp_path / "f", failing), scorer, inputs, cfg)
    again = evolve.run_arms(loop, art, start=start, progress=False)
    assert {a: s.probe_scores for a, s in again.items()} == {
        a: s.probe_scores for a, s in states.items()
    }
    assert failing.seen == []


# --- the report: per-round gain and the tests against the controls ------------------------


def _state(arm, scores):
    n = len(scores[0])
    probes = [evolve.ProbeResult([""] * n, list(map(float, x)), [], [], []) for x in scores]
    return evolve.LoopState(arm, escalated_ids=[[] for _ in scores[1:]], probes=probes)


def _states(gate_shift, random_shift, n=32, rounds=3):
    rng = np.random.default_rng(1)
    start = rng.uniform(0.1, 0.3, n)
    noise = [rng.normal(0, 0.01, n) for _ in range(rounds)]

    def arm(shift):
        return [start] + [start + shift * (k + 1) / rounds + noise[k] for k in range(rounds)]

    return {
        "cloud": _state("cloud", arm(gate_shift)),
        "match-only": _state("match-only", arm(0.0)),
        "no-update": _state("no-update", arm(0.0)),
        "random": _state("random", arm(random_shift)),
    }


def test_probe_gain_has_an_interval_per_arm_and_round():
    states = _states(0.2, 0.0)
    gain = evolve.probe_gain(states, seed=0)
    assert len(gain) == 4 * 4
    assert list(gain.columns[:4]) == ["arm", "kind", "round", "probe_mean_score"]
    assert {"difference", "low", "high", "n", "verdict"} <= set(gain.columns)
    zero = gain[gain["round"] == 0]
    assert (zero[["difference", "low", "high"]] == 0).all().all()
    assert (gain["n"] == 32).all()
    assert (gain["low"] <= gain["difference"]).all() and (gain["difference"] <= gain["high"]).all()
    cloud = gain[gain["arm"] == "cloud"].set_index("round")
    want = np.mean(np.subtract(states["cloud"].probe_scores[3], states["cloud"].probe_scores[0]))
    assert cloud.loc[3, "difference"] == pytest.approx(want)
    assert cloud.loc[3, "verdict"] == "supported" and cloud.loc[3, "low"] > 0.1
    assert set(gain.loc[gain["arm"] == "no-update", "kind"]) == {"control"}


def test_controls_comparison_and_sentence_say_what_helps():
    helps = evolve.compare_controls(_states(0.2, 0.0), seed=0)
    assert list(zip(helps["better"], helps["other"], strict=True)) == [
        ("cloud", "no-update"),
        ("match-only", "no-update"),
        ("cloud", "random"),
    ]
    assert (helps["round"] == 3).all() and (helps["n"] == 32).all()
    assert helps["verdict"].tolist() == ["supported", "inconclusive", "supported"]
    sentence = evolve.controls_sentence(helps)
    assert "After round 3, the cloud gate" in sentence and sentence.endswith("in this run.")
    assert f"{helps['difference'].iloc[0]:+.3f}" in sentence  # numbers from the table
    same = evolve.compare_controls(_states(0.2, 0.2), seed=0)  # random does as well
    assert same["verdict"].tolist()[2] == "inconclusive"
    assert "cannot tell whether choosing" in evolve.controls_sentence(same)
    nothing = evolve.compare_controls(_states(0.0, 0.0), seed=0)
    assert "inconclusive" in evolve.controls_sentence(nothing).split(". ")[-1]
    none = evolve.compare_controls({"cloud": _states(0.2, 0.0)["cloud"]})
    assert none.empty and "cannot tell" in evolve.controls_sentence(none)


def _with_human(states, human_shift, ppl_shift):
    """`states` with human-reply scores: Eq. (1) shifted by `human_shift` per arm and round,
    and summed NLLs whose perplexity moves by about `ppl_shift` (negative: better)."""
    rng = np.random.default_rng(2)
    for arm, s in states.items():
        n = len(s.probe_scores[0])
        base = rng.uniform(3.0, 4.0, n)
        tokens = rng.integers(10, 20, n)
        for k, p in enumerate(s.probes):
            shift = human_shift.get(arm, 0.0) * k
            human = list(np.asarray(s.probe_scores[0]) + shift + rng.normal(0, 0.005, n))
            nll = (base + np.log1p(ppl_shift.get(arm, 0.0) * k)) * tokens
            s.probes[k] = dataclasses.replace(
                p, human=human, nll=list(nll), tokens=[int(t) for t in tokens]
            )
    return states


def test_the_probe_is_also_judged_against_the_human_replies():
    # The gate's teacher-reference gain is large, but against the human replies it is the
    # random control that helps: the tables and the sentence say both.
    states = _with_human(_states(0.2, 0.0), {"random": 0.05}, {"random": -0.2})
    gain = evolve.probe_gain(states, seed=0)
    rnd = gain[gain["arm"] == "random"].set_index("round")
    assert rnd.loc[3, "human_verdict"] == "supported" and rnd.loc[3, "human_low"] > 0.1
    assert rnd.loc[3, "ppl_verdict"] == "supported" and rnd.loc[3, "ppl_high"] < 0
    controls = evolve.compare_controls(states, seed=0)
    assert list(dict.fromkeys(controls["metric"])) == list(evolve.report.LOOP_METRICS)
    first = controls[controls["metric"] == evolve.report.GAIN_METRIC]
    assert first["verdict"].tolist() == ["supported", "inconclusive", "supported"]
    vs_random = controls[(controls["other"] == "random")].set_index("metric")["verdict"]
    assert vs_random[evolve.report.HUMAN_GAIN_METRIC] == "contradicted"
    assert vs_random[evolve.report.PERPLEXITY_METRIC] == "contradicted"
    # the first sentence still reads the teacher-reference rows only
    assert evolve.controls_sentence(controls) == evolve.controls_sentence(first)
    sentence = evolve.human_sentence(controls)
    assert "against the human replies" in sentence and "contradicted" in sentence
    assert evolve.human_sentence(first) == ""  # not measured: nothing said


def test_gain_figure_has_error_bars_per_arm():
    from ecc_utils.report import plots

    gain = evolve.probe_gain(_states(0.2, 0.0), seed=0)
    fig = plots.evolution_gain(gain)
    ax = fig.get_axes()[0]
    assert len(ax.containers) == 4  # one errorbar series per arm
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(dict.fromkeys(gain["arm"]))


def test_arms_compute_what_the_starting_adapter_answers_once(tmp_path, monkeypatch):
    """run_arms shares the round-0 probe and the gates' round-1 answers between arms (the same
    weights and seed give the same answers): fewer generate calls, the same states."""
    from ecc_utils.artifacts import Artifacts
    from ecc_utils.endmodel import generate as gen
    from ecc_utils.endmodel.load import tiny_random

    start, tok, scorer, cfg, inputs = _four_arms_setup(tmp_path)
    calls = []
    real = gen.generate
    monkeypatch.setattr(gen, "generate", lambda *a, **k: calls.append(1) or real(*a, **k))
    states = {}
    for shared in (False, True):
        base, _ = tiny_random(seed=0)
        loop = evolve.Loop(base, tok, make_teacher(tmp_path / str(shared), SpyBackend()),
                           scorer, inputs, cfg)  # fmt: skip
        calls.clear()
        if shared:
            states[shared] = evolve.run_arms(loop, Artifacts(tmp_path / "a"), start=start,
                                             progress=False)  # fmt: skip
        else:  # each arm on its own, as before the sharing
            from ecc_utils.endmodel.generate import unload_adapter
            from ecc_utils.evolve.update import trainable_adapter

            states[shared] = {}
            for arm in ("cloud", "match-only", "no-update", "random"):
                one = dataclasses.replace(loop, model=trainable_adapter(base, start))
                if arm in ("cloud", "match-only"):
                    _, states[shared][arm] = run_gate(arm, one, tmp_path / "b" / arm,
                                                      progress=False)  # fmt: skip
                else:
                    counts = evolve.escalation_counts(states[shared]["cloud"])
                    states[shared][arm] = evolve.run_control(
                        arm, one, tmp_path / "b" / arm, counts=counts, progress=False
                    )
                base = unload_adapter(one.model)
        n_calls = len(calls)
        if not shared:
            separate = n_calls
    # 4 arms x (probe at rounds 0-2) + 2 gates x 2 rounds = 16; shared: 3 probes at round 0
    # and one gate's answers at round 1 fewer.
    assert (separate, n_calls) == (16, 12)
    for arm in states[True]:
        assert states[True][arm].probe_scores == states[False][arm].probe_scores
        assert states[True][arm].probe_answers == states[False][arm].probe_answers


def test_cost_counts_calls_per_arm_and_round_and_states_the_saving():
    rows = []
    for arm, calls, esc in (("cloud", (16, 16, 16), (4, 3, 5)), ("match-only", (6, 5, 6),
                            (6, 5, 6)), ("no-update", (0, 0, 0), (0, 0, 0)),
                            ("random", (4, 3, 5), (4, 3, 5))):  # fmt: skip
        rows.append({"arm": arm, "round": 0, "cloud_calls": 0, "n_escalated": 0,
                     "n_queries": 0})  # fmt: skip
        for k, (c, e) in enumerate(zip(calls, esc, strict=True), 1):
            rows.append({"arm": arm, "round": k, "cloud_calls": c, "n_escalated": e,
                         "n_queries": 16})  # fmt: skip
    cost = evolve.cost_table(pd.DataFrame(rows))
    assert list(cost.index) == ["cloud", "match-only", "no-update", "random"]
    assert cost.loc["cloud", "calls, round 2"] == 16 and cost.loc["random", "calls, round 3"] == 5
    assert cost["cloud calls"].tolist() == [48, 17, 0, 12]
    assert cost["escalated"].tolist() == [12, 17, 0, 12] and (cost["queries"] == 48).all()
    sentence = evolve.cost_sentence(cost)
    assert "the cloud gate 48 (12 escalated)" in sentence
    assert "saved 31 of the cloud gate's 48 calls (65%)" in sentence
    assert "saved" not in evolve.cost_sentence(cost.drop(index="match-only"))


def test_oracle_arms_learn_the_human_replies_and_share_the_start(tmp_path):
    from ecc_utils.artifacts import Artifacts
    from ecc_utils.cloud.oracle import OracleTeacher
    from ecc_utils.endmodel.load import tiny_random

    start, tok, scorer, cfg, inputs = _four_arms_setup(tmp_path)
    base, _ = tiny_random(seed=0)
    art = Artifacts(tmp_path / "art")
    spy = SpyBackend()
    loop = evolve.Loop(base, tok, make_teacher(tmp_path, spy), scorer, inputs, cfg)
    shared: dict = {}
    states = evolve.run_arms(loop, art, start=start, progress=False, shared=shared)
    asked = list(spy.seen)
    oracle = OracleTeacher()
    o_loop = dataclasses.replace(loop, teacher=oracle)
    o_states = evolve.run_arms(o_loop, art, start=start, progress=False, arms=("cloud", "random"),
                               tag="oracle-", shared=shared)  # fmt: skip
    assert list(o_states) == ["cloud", "random"] and spy.seen == asked  # the oracle asked
    assert (art.evolve_dir("oracle-cloud") / "state.json").is_file()
    assert o_states["cloud"].probe_scores[0] == states["cloud"].probe_scores[0]
    by_id = {f"pseudo-{e.id}": e.response for e in inputs.stream}
    for s in o_states.values():  # every pseudo-label is the dialogue's human reply
        assert s.buffer and all(x.response == by_id[x.id] for x in s.buffer)
    n_cloud = len(inputs.stream)  # the cloud gate asks the oracle for every query
    assert oracle.calls == n_cloud + sum(evolve.escalation_counts(o_states["random"]))
    assert evolve.escalation_counts(o_states["random"]) == evolve.escalation_counts(
        o_states["cloud"]
    )
    with pytest.raises(ValueError, match="bare query"):
        oracle.label(["在吗"])
    from ecc_utils.cloud.factory import make_teacher as build
    from ecc_utils.config import TeacherConfig

    built = build(TeacherConfig(backend="oracle"), [], tmp_path / "unused.jsonl")
    assert isinstance(built, OracleTeacher) and not (tmp_path / "unused.jsonl").exists()
    assert built.label_examples(inputs.stream[:1])[0].answer == inputs.stream[0].response
    with pytest.raises(ValueError, match="matched to a gate"):
        evolve.run_arms(o_loop, art, start=start, progress=False, arms=("random",))
