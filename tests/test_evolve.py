"""The online evolutive learning loop on a tiny model, with fake scorers and teachers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ecc_utils import evolve, privacy
from ecc_utils.cloud import Backend, Completion, LabelCache, Teacher, build_prompt
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
    return Teacher(
        "spy",
        "spy-1",
        prompt,
        LabelCache(tmp_path / "cache.jsonl"),
        sampling={"temperature": 0.0},
        backend_factory=lambda: backend,
        progress=False,
    )


def ex(i, q):
    return Example(id=f"q{i}", source="test", context=[], query=q, response="在的")


@pytest.fixture
def tiny_lora():
    from ecc_utils.models import tiny_random
    from ecc_utils.peft_methods import PeftSpec, apply_method

    model, tok = tiny_random(seed=0)
    return apply_method(model, PeftSpec("lora")), tok


def loop_profile(rounds: int, queries_per_round: int, steps_per_round: int = 2):
    """The smoke profile with the loop's settings of these tests."""
    cfg = load_profile(SMOKE)
    return dataclasses.replace(
        cfg,
        evolve=dataclasses.replace(
            cfg.evolve,
            rounds=rounds,
            queries_per_round=queries_per_round,
            threshold=0.5,
            steps_per_round=steps_per_round,
        ),
        generation=dataclasses.replace(cfg.generation, max_new_tokens=6),
        train=dataclasses.replace(
            cfg.train, learning_rate=1e-2, max_input_length=48, max_output_length=16
        ),
    )


def _run(tmp_path, model, tok, teacher, scorer, gate, stream, rounds=2, steps_per_round=2):
    inputs = LoopInputs(stream, stream[:2], ["好的亲"] * 2, [ex(99, "在吗")])
    cfg = loop_profile(rounds, len(stream) // rounds, steps_per_round)
    return run_gate(gate, model, tok, teacher, scorer, inputs, cfg, tmp_path / gate, progress=False)


def test_escalate_rules():
    final = np.array([0.1, 0.5, 0.9])
    assert escalate("cloud", final=final, threshold=0.5).tolist() == [True, False, False]
    assert escalate("match-only", match=np.array([0.1, 0.2, 0.3]), theta=0.2).tolist() == [
        True,
        False,
        False,
    ]
    unhappy = np.array([False, False, True])
    assert escalate("cloud", final=final, threshold=0.5, dissatisfied=unhappy).tolist() == [
        True,
        False,
        True,
    ]
    with pytest.raises(ValueError, match="gate="):
        escalate("vote", final=final)


def test_match_only_buffer_gets_exactly_the_low_match_queries(tmp_path, tiny_lora):
    model, tok = tiny_lora
    stream = [ex(i, q) for i, q in enumerate(["你好", "可以便宜吗", "今天发货吗", "快递呢"])]
    matcher = ConstMatcher({"可以便宜吗": 0.05, "快递呢": 0.1}, default=0.9)
    backend = SpyBackend()
    scorer = Scorer(CharEmbedder(), matcher, alpha=0.8, theta=0.2)
    records, state = _run(
        tmp_path, model, tok, make_teacher(tmp_path, backend), scorer, "match-only", stream
    )
    assert [b["id"] for b in state.buffer] == ["pseudo-q1", "pseudo-q3"]
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
        assert not privacy.find_pii(b["query"])
    dec = {d["id"]: d for d in state.decisions}
    for d in dec.values():
        assert d["escalated"] == (d["gate_score"] < 0.5)
    assert [b["id"] for b in state.buffer] == [
        f"pseudo-{i}" for i, d in dec.items() if d["escalated"]
    ]


def test_probe_score_rises_when_the_teacher_always_gives_the_same_answer(tmp_path, tiny_lora):
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
        steps_per_round=15,
    )
    probe = [r.probe_mean_score for r in records]
    assert probe[-1] > probe[0] + 0.2, probe


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
