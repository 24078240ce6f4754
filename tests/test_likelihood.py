"""The end model's likelihood of replies: it equals the training loss, and a model trained to
prefer a reply ranks it first among candidates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecc_utils.endmodel.load import tiny_random
from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method
from ecc_utils.records import Example, Turn
from ecc_utils.scoring.model_as_judge import (
    LikelihoodMatcher,
    length_scores,
    reply_logprobs,
    selection_scores,
)
from ecc_utils.train import PadCollator, encode_example

CTX = [Turn("customer", "你好"), Turn("agent", "在的亲")]


def _randomise(model):
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


@pytest.mark.parametrize("method", [None, "lora", "prefix", "ptuning_v2"])
def test_reply_logprobs_equal_the_training_loss(method):
    """Each reply's summed log-probability is minus the summed training loss of that pair,
    for the original model and every method (prefixes enter as in training)."""
    model, tok = tiny_random(seed=0)
    if method:
        model = _randomise(apply_method(model, PeftSpec(method, num_virtual_tokens=4)))
    replies = ["好的亲", "今天发货哦亲，请放心", "x"]
    got = reply_logprobs(model, tok, [(CTX, "发货么")], [replies], max_input_length=256, chunk=2)
    for k, r in enumerate(replies):
        ex = Example("a", "t", CTX, "发货么", r)
        batch = PadCollator(tok.pad_token_id)([encode_example(tok, ex, 256, 512)])
        with torch.no_grad():
            out = model(**batch)
        n = int((batch["labels"] != -100).sum())
        assert got[0].tokens[k] == n
        assert got[0].logprob[k] == pytest.approx(-out.loss.item() * n, rel=1e-4, abs=1e-3)


SHORT = [((), "在吗"), ((), "好"), ((), "可以便宜点吗")]
LONG = [(CTX, "发货么"), ((), "在吗"), (CTX[:1], "这个能便宜点吗，我买两件"), ((), "好")]


@pytest.mark.parametrize("method", [None, "lora", "prefix", "ptuning_v2"])
@pytest.mark.parametrize("prompts", [SHORT, LONG], ids=["short", "long"])
def test_prompts_scored_together_equal_prompts_scored_alone(method, prompts):
    """Prompts of different lengths run together, left-padded, with their replies in runs of
    similar length: each reply's log-probability is the one it gets with its prompt alone
    (float32), for the original model and every method, and a prompt without replies gets
    none. The tiny model attends within a window of 64 slots: with a prefix adapter the long
    prompts would lose sight of it when padded, so they are scored one at a time."""
    from ecc_utils.endmodel.reply_likelihood import _Block, _unpadded_window

    model, tok = tiny_random(seed=0)
    if method:
        model = _randomise(apply_method(model, PeftSpec(method, num_virtual_tokens=4)))
    replies = [["好的亲", "今天发货哦亲，请放心", "x"], [], ["在的"], ["亲亲，可以的哦", "不行"]]
    replies = replies[: len(prompts)]
    together = reply_logprobs(model, tok, prompts, replies, max_input_length=256, chunk=3)
    assert [len(r.logprob) for r in together] == [len(r) for r in replies]
    for p, rs, got in zip(prompts, replies, together, strict=True):
        if not rs:
            continue
        alone = reply_logprobs(model, tok, [p], [rs], max_input_length=256, chunk=1)[0]
        assert list(got.tokens) == list(alone.tokens)
        assert got.logprob == pytest.approx(alone.logprob, rel=1e-5, abs=1e-4)
    ids = [tok(q)["input_ids"] * (20 if prompts is LONG else 1) for _, q in prompts]
    batched = _unpadded_window(model)(_Block(ids, [[[1, 2, 3]]] * len(ids)))
    assert batched == (prompts is SHORT or method in (None, "lora"))


def test_a_model_trained_on_a_reply_selects_it(tmp_path):
    """Trained to answer shipping questions with one reply and discount questions with
    another, the model picks the shipping reply for a shipping question by its mean log-
    probability and by PMI (the discount reply is likely too, but not after this question)."""
    from ecc_utils.config import TrainConfig
    from ecc_utils.endmodel.generate import adapter_applied
    from ecc_utils.train import TrainingPairs, train_method

    model, tok = tiny_random(seed=0)
    ship, discount = "亲，今天下午五点前拍下当天发货哦", "亲亲这个已经是最低价了呢"
    cands = ["好的", ship, discount, "您好在的请问有什么可以帮您"]
    pairs = [Example(f"s{i}", "t", [], q, ship) for i, q in enumerate(["发货么", "今天发吗"])]
    pairs += [Example(f"d{i}", "t", [], q, discount) for i, q in enumerate(["优惠么", "便宜点"])]
    cfg = TrainConfig(methods=("lora",), milestones={"lora": (60,)}, max_steps=60,
                      learning_rate=3e-2, batch_size=4, teacher_mix=0.0)  # fmt: skip
    res = train_method(model, tok, PeftSpec("lora"), TrainingPairs(pairs, []), tmp_path, cfg)
    prompts = [((), "发货么")]
    before = selection_scores(model, tok, prompts, [cands], max_input_length=64)
    with adapter_applied(model, res.checkpoints[60]) as tuned:
        after = selection_scores(tuned, tok, prompts, [cands], max_input_length=64)

    def margin(scores):  # the shipping reply's lead over the best other candidate
        return scores[1] - max(np.delete(scores, 1))

    for kind in ("mean", "pmi"):
        assert int(after[kind][0].argmax()) == 1, (kind, after[kind][0])
    assert after["mean"][0][1] > before["mean"][0][1] + 2  # nats per token
    # The discount reply became likely too; PMI discounts what is likely after any question.
    assert margin(after["pmi"][0]) > margin(after["mean"][0])
    # The summed log-probability still prefers the shortest reply: it mostly measures length.
    assert int(after["sum"][0].argmax()) == 0


def test_length_baseline_and_the_likelihood_matcher():
    shortest = length_scores([["a b c", "ab", "abcd"]])[0]
    assert list(shortest) == [-3.0, -2.0, -4.0]
    model, tok = tiny_random(seed=0)
    m = LikelihoodMatcher(model, tok, max_input_length=64)
    q, a = ["你好", "你好", "发货么"], ["在的", "在的亲", "今天发"]
    got = m.match(q, a)
    one = [m.match([x], [y])[0] for x, y in zip(q, a, strict=True)]
    assert got == pytest.approx(one)  # grouping by query changes nothing
    assert m.kind == "likelihood" and (got < 0).all()
