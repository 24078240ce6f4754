"""ecc_utils.endmodel.generate: seeded sampling, left-padded batches, adapters saved and reloaded."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ecc_utils.endmodel.generate import (
    Sampling,
    adapter_applied,
    answering_copy,
    generate,
    load_adapter,
    stop_token_ids,
)
from ecc_utils.endmodel.load import tiny_random
from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method
from ecc_utils.records import Example, Turn

QUERIES = [
    Example(
        "a", "ecd", [Turn("customer", "你好"), Turn("agent", "在 的 亲")], "可以 优惠价 么", "x"
    ),
    "今天 拍 发货 么",
    ([], "真是 要命 了 这个 快递 从 昨天 一直 等到 现在 门 都 不敢 出"),
]


def _adapter_with_values(method: str):
    """The tiny model with a `method` adapter whose every weight has a value (LoRA starts as a
    no-op, B = 0), and its tokenizer."""
    model, tok = tiny_random()
    peft_model = apply_method(model, PeftSpec(method, num_virtual_tokens=4))
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in peft_model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return peft_model, tok


def test_same_seed_same_text_other_seed_other_text():
    model, tok = tiny_random()
    a = generate(model, tok, QUERIES, Sampling(max_new_tokens=12, seed=5, batch_size=2))
    assert a == generate(model, tok, QUERIES, Sampling(max_new_tokens=12, seed=5, batch_size=2))
    assert a != generate(model, tok, QUERIES, Sampling(max_new_tokens=12, seed=6, batch_size=2))
    assert len(a) == 3 and all(isinstance(x, str) for x in a)


def test_left_padded_batch_equals_one_by_one_and_returns_only_the_answer():
    model, tok = tiny_random()
    batched = generate(
        model, tok, QUERIES, Sampling(max_new_tokens=10, do_sample=False, batch_size=3)
    )
    single = generate(
        model, tok, QUERIES, Sampling(max_new_tokens=10, do_sample=False, batch_size=1)
    )
    assert batched == single
    # The plain baseline (bench/baseline.py): transformers' generate, one prompt at a time.
    # Our batched answers are exactly its new tokens, for every input.
    from ecc_utils.endmodel.generate import _as_pair
    from ecc_utils.train import encode_prompt

    for i, q in enumerate(QUERIES):
        ids = torch.tensor([encode_prompt(tok, *_as_pair(q), 256)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10,
                             do_sample=False, eos_token_id=stop_token_ids(tok))  # fmt: skip
        assert batched[i] == tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


@pytest.mark.parametrize("method", ["prefix", "ptuning_v2", "lora"])
def test_adapter_saved_and_reloaded_generates_the_same(method, tmp_path):
    peft_model, tok = _adapter_with_values(method)
    peft_model.save_pretrained(tmp_path)
    expected = generate(peft_model, tok, QUERIES, Sampling(max_new_tokens=12, seed=1))

    base, tok2 = tiny_random()
    original = generate(base, tok2, QUERIES, Sampling(max_new_tokens=12, seed=1))
    ids = torch.tensor([tok2("可以 优惠价 么")["input_ids"]])
    with torch.no_grad():
        base_logits = base(ids).logits
    with adapter_applied(base, tmp_path) as reloaded:
        assert generate(reloaded, tok2, QUERIES, Sampling(max_new_tokens=12, seed=1)) == expected
        with torch.no_grad():  # the adapter is really in use
            assert not torch.allclose(reloaded(input_ids=ids).logits, base_logits)
    with torch.no_grad():
        assert torch.equal(base(ids).logits, base_logits)
    # After the context manager the base model is the "Original" again.
    assert generate(base, tok2, QUERIES, Sampling(max_new_tokens=12, seed=1)) == original


@pytest.mark.parametrize("method", ["prefix", "lora"])
def test_answering_copy_answers_as_the_trained_model_and_leaves_it_training(method):
    """The online loop answers with `answering_copy` of the model it keeps training: a LoRA
    adapter merged into a copy (in float32 the same logits up to rounding, the same greedy
    answers), the trainable model untouched; a prefix adapter is used as it is."""
    peft_model, tok = _adapter_with_values(method)
    before = {n: p.detach().clone() for n, p in peft_model.named_parameters()}
    greedy = Sampling(max_new_tokens=12, do_sample=False)
    peft_model.eval()
    expected = generate(peft_model, tok, QUERIES, greedy)
    ids = torch.tensor([tok("可以 优惠价 么")["input_ids"]])
    with torch.no_grad():
        logits = peft_model(input_ids=ids).logits
    peft_model.train()  # as the local update leaves it mid-loop (dropout on)
    with answering_copy(peft_model, torch.float32) as m:
        assert (m is peft_model) == (method == "prefix")
        assert not m.training
        assert generate(m, tok, QUERIES, greedy) == expected
        with torch.no_grad():
            torch.testing.assert_close(m(input_ids=ids).logits, logits, rtol=1e-4, atol=1e-4)
    if method == "lora":
        assert peft_model.training  # the loop's model is left as the trainer had it
        assert any("lora_" in n for n, _ in peft_model.named_parameters())
    for n, p in peft_model.named_parameters():
        assert torch.equal(p, before[n]), n


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_reused_answering_copy_has_the_bits_of_a_fresh_one(dtype):
    """The online loop keeps one answering copy: after the adapter has changed, writing the
    LoRA layers' merged weights into it gives exactly the weights of a fresh merged copy, and
    another adapter on the same base (the next arm) reuses it too."""
    peft_model, tok = _adapter_with_values("lora")
    reuse: dict = {}
    with answering_copy(peft_model, dtype, reuse=reuse) as first:
        pass
    with torch.no_grad():  # a local update moves the LoRA weights
        for n, p in peft_model.named_parameters():
            if "lora_" in n:
                p.add_(torch.randn_like(p) * 0.1)
    with answering_copy(peft_model, dtype) as fresh:
        want = {n: p.detach().clone() for n, p in fresh.state_dict().items()}
    with answering_copy(peft_model, dtype, reuse=reuse) as again:
        assert again is first
        got = again.state_dict()
        assert set(got) == set(want)
        for n in want:
            assert torch.equal(got[n], want[n]), n
        assert generate(again, tok, QUERIES, Sampling(max_new_tokens=8, do_sample=False)) == (
            generate(fresh, tok, QUERIES, Sampling(max_new_tokens=8, do_sample=False))
        )


def test_load_adapter_names_a_missing_checkpoint(tmp_path):
    model, _ = tiny_random()
    with pytest.raises(FileNotFoundError, match="03_train"):
        load_adapter(model, tmp_path / "checkpoint-30")


def test_plain_format_answers_end_at_the_next_turn():
    from ecc_utils.endmodel.generate import cut_at_next_turn, plain_turn_markers

    markers = plain_turn_markers()
    assert cut_at_next_turn("好的 亲\nCustomer: 谢谢\nAgent: 不客气", markers) == "好的 亲"
    assert cut_at_next_turn("好的\nAgent: 好的", markers) == "好的"
    assert cut_at_next_turn("Agent: 好的", markers) == "Agent: 好的"
    model, tok = tiny_random()
    tok.chat_template = None  # plain transcript prompts, stop strings on
    answers = generate(model, tok, QUERIES, Sampling(max_new_tokens=8, seed=0))
    assert len(answers) == 3 and not any("\nAgent:" in a for a in answers)


def test_profile_helpers_carry_the_profile_settings(root):
    from ecc_utils.config import load_profile
    from ecc_utils.endmodel.load import load_end_model

    cfg = load_profile(root / "params" / "paper.yaml")
    sp = Sampling.from_profile(cfg)
    assert (sp.top_p, sp.temperature) == (cfg.generation.top_p, cfg.generation.temperature)
    assert sp.max_new_tokens == cfg.generation.max_new_tokens
    assert sp.batch_size == cfg.generation.batch_size
    assert sp.max_input_length == cfg.train.max_input_length and sp.seed == cfg.seed
    quick = Sampling.from_profile(load_profile(root / "params" / "quick.yaml"))
    assert quick.guarded and (quick.repetition_penalty, quick.no_repeat_ngram_size) == (1.2, 2)
    plain = quick.unguarded()  # what the sweep and the scoring page call "no guard"
    assert not plain.guarded and plain == dataclasses.replace(
        quick, repetition_penalty=1.0, no_repeat_ngram_size=0)  # fmt: skip
    smoke = load_profile(root / "params" / "smoke.yaml")
    with pytest.raises(ValueError, match="pass art="):  # the trimmed head needs its texts
        load_end_model(smoke)
    smoke = dataclasses.replace(
        smoke, end_model=dataclasses.replace(smoke.end_model, trim_vocabulary=False)
    )
    model, tok = load_end_model(smoke)
    assert model.device.type == "cpu" and tok.pad_token_id is not None


@pytest.mark.parametrize("method", ["prefix", "ptuning_v2", "lora"])
def test_greedy_answers_are_the_training_forwards_argmax(method):
    """Decoding with the cache gives, token by token, the argmax of the training forward pass
    (PEFT's own forward, no cache) on the prompt plus the answer so far: the adapter, its
    prefix included, is in use at every step (transformers' generate drops PEFT's prefix
    after the first token)."""
    from ecc_utils.train import encode_prompt

    peft_model, tok = _adapter_with_values(method)
    peft_model.eval()
    [answer] = generate(peft_model, tok, [QUERIES[1]], Sampling(max_new_tokens=6, do_sample=False))
    ids = encode_prompt(tok, [], QUERIES[1], 256)
    want = []
    with torch.no_grad():
        for _ in range(6):
            logits = peft_model(input_ids=torch.tensor([ids + want])).logits[0, -1]
            want.append(int(logits.argmax()))
    assert answer == tok.decode(want, skip_special_tokens=True).strip()


def test_repetition_penalty_lowers_only_the_answers_own_tokens():
    from ecc_utils.endmodel.decoding import penalise_repeats

    logits = torch.tensor([[2.0, -1.0, 3.0, 0.5]])
    out = penalise_repeats(logits, torch.tensor([[0, 1, 0]]), 2.0)
    assert out.tolist() == [[1.0, -2.0, 3.0, 0.5]]  # 0 and 1 were said; 2 and 3 untouched


def test_no_repeat_ngram_bans_the_token_that_would_repeat_an_ngram():
    from ecc_utils.endmodel.decoding import ban_repeated_ngrams

    prev = torch.tensor([[5, 6, 7, 5, 6], [1, 2, 3, 4, 5]])
    out = ban_repeated_ngrams(torch.zeros(2, 10), prev, 3)
    assert out[0, 7] == float("-inf") and torch.isfinite(out[0]).sum() == 9  # "5 6 7" again
    assert torch.isfinite(out[1]).all()  # nothing to repeat


@pytest.mark.parametrize("guard", [{"no_repeat_ngram_size": 2}, {"repetition_penalty": 1e6}])
def test_the_guard_leaves_no_repeat_in_greedy_answers(guard):
    from ecc_utils.endmodel.decoding import Guard, Stopping, decode
    from ecc_utils.train import encode_prompt

    model, tok = tiny_random()
    ids = torch.tensor([encode_prompt(tok, [], "你好 你好", 64)])
    mask = torch.ones_like(ids)
    kw = dict(max_new_tokens=24, pick=lambda x: x.argmax(-1), stop=Stopping(pad_id=0))
    plain = decode(model, ids, mask, **kw)[0].tolist()
    t = decode(model, ids, mask, **kw, guard=Guard(**guard))[0].tolist()
    grams = list(zip(t, t[1:], strict=False))
    assert len(set(zip(plain, plain[1:], strict=False))) < len(plain) - 1  # greedy alone loops here
    if "no_repeat_ngram_size" in guard:
        assert len(grams) == len(set(grams)), t
    else:
        assert len(t) == len(set(t)), t  # an enormous penalty: no token twice
