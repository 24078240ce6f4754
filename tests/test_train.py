"""ecc_utils.train: prompt format, response-only labels, data mix, Trainer runs, resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from ecc_utils.artifacts import Artifacts
from ecc_utils.config import EndModelConfig, TrainConfig, load_profile
from ecc_utils.endmodel.load import tiny_random
from ecc_utils.endmodel.peft_methods import PeftSpec
from ecc_utils.records import Example, Turn, write_jsonl
from ecc_utils.train import (
    IGNORE_INDEX,
    PadCollator,
    TrainingPairs,
    TrainOptions,
    conversation_messages,
    encode_example,
    encode_prompt,
    mix_training_pairs,
    read_teacher_labels,
    read_train_log,
    run_from_profile,
    train_method,
)

SMOKE = Path(__file__).resolve().parents[1] / "params" / "smoke.yaml"


def tcfg(method: str, milestones: tuple[int, ...], **kw) -> TrainConfig:
    """Profile section `train` with `milestones` for `method` (Table IV's values otherwise)."""
    return TrainConfig(methods=(method,), milestones={method: milestones}, **kw)


def ecd_examples(data_dir: Path, n: int) -> list[Example]:
    """The first `n` true (context, response) pairs of the real ECD test sample."""
    out = []
    for i, line in enumerate((data_dir / "ecd_sample" / "test").read_text("utf-8").splitlines()):
        label, *utts, response = line.split("\t")
        if label != "1":
            continue
        turns = [Turn("customer" if j % 2 == 0 else "agent", u) for j, u in enumerate(utts)]
        # The last customer utterance is the query; ECD contexts end with the customer.
        out.append(Example(f"ecd-{i}", "ecd", turns[:-1], turns[-1].text, response))
        if len(out) == n:
            break
    return out


def toy(n: int, source: str = "ecd") -> list[Example]:
    ctx = [Turn("customer", "你好"), Turn("agent", "亲 在 的")]
    return [
        Example(f"{source}{i}", source, ctx, f"可以 优惠 么 {i}", "亲 不 好意思 哦")
        for i in range(n)
    ]


@pytest.fixture
def tiny():
    return tiny_random(seed=0)


def test_messages_alternate_starting_with_the_customer():
    ctx = [
        Turn("agent", "欢迎"),
        Turn("customer", "在 吗"),
        Turn("customer", "问 一下"),
        Turn("agent", "在 的"),
    ]
    msgs = conversation_messages(ctx, "发货 么")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"] == "在 吗\n问 一下" and msgs[-1]["content"] == "发货 么"


def test_label_mask_covers_exactly_the_response_tokens(tiny):
    _, tok = tiny
    ex = toy(1)[0]
    enc = encode_example(tok, ex, 256, 512)
    prompt = encode_prompt(tok, ex.context, ex.query, 256)
    n = len(prompt)
    assert enc["input_ids"][:n] == prompt
    assert enc["labels"][:n] == [IGNORE_INDEX] * n
    target = enc["input_ids"][n:]
    assert enc["labels"][n:] == target and IGNORE_INDEX not in target
    assert tok.decode(target) == ex.response + "<end_of_turn>\n"
    # The prompt ends with the generation prompt, so the model starts answering right after it.
    assert tok.decode(prompt).endswith("<start_of_turn>model\n")


def test_label_mask_in_plain_format_without_chat_template(tiny):
    _, tok = tiny
    tok.chat_template = None
    ex = toy(1)[0]
    enc = encode_example(tok, ex, 256, 512)
    masked = [
        i for i, lab in zip(enc["input_ids"], enc["labels"], strict=True) if lab == IGNORE_INDEX
    ]
    target = [lab for lab in enc["labels"] if lab != IGNORE_INDEX]
    assert tok.decode(masked).endswith("Customer: 可以 优惠 么 0\nAgent:")
    assert tok.decode(target) == " 亲 不 好意思 哦<eos>"
    assert masked[0] == tok.bos_token_id


def test_truncation_keeps_the_latest_turns(tiny):
    _, tok = tiny
    ctx = [
        Turn("customer", "最早 的 一句 话 " * 5),
        Turn("agent", "好的"),
        Turn("customer", "第二 句"),
        Turn("agent", "最近 的 回复"),
    ]
    full = encode_prompt(tok, ctx, "发货 么", 10_000)
    short = encode_prompt(tok, ctx, "发货 么", len(full) - 5)
    text = tok.decode(short)
    assert len(short) < len(full) - 5
    assert (
        "最早" not in text
        and "最近 的 回复" in text
        and text.startswith("<bos><start_of_turn>user")
    )
    assert len(encode_prompt(tok, [], "很 长 的 问题 " * 50, 20)) == 20
    enc = encode_example(tok, Example("x", "t", [], "q", "回复 " * 100), 256, 7)
    assert sum(lab != IGNORE_INDEX for lab in enc["labels"]) == 7


def test_mix_has_the_teacher_fraction_and_is_seeded():
    nat, tea = toy(30), toy(20, "teacher")
    mixed = mix_training_pairs(nat, tea, 0.4, seed=1)
    n_t = sum(e.source == "teacher" for e in mixed)
    assert n_t == 20 and len(mixed) == 50 and len({e.id for e in mixed}) == 50
    assert [e.id for e in mixed] == [e.id for e in mix_training_pairs(nat, tea, 0.4, seed=1)]
    assert [e.id for e in mixed] != [e.id for e in mix_training_pairs(nat, tea, 0.4, seed=2)]
    assert all(e.source == "ecd" for e in mix_training_pairs(nat, tea, 0.0, seed=1))
    few = mix_training_pairs(nat, toy(3, "teacher"), 0.5, seed=0)
    assert sum(e.source == "teacher" for e in few) == 3 and len(few) == 6
    with pytest.raises(ValueError, match="teacher_mix"):
        mix_training_pairs(nat, tea, 1.5, seed=0)
    with pytest.raises(ValueError, match="no training pairs"):
        mix_training_pairs([], tea, 0.0, seed=0)


def test_read_teacher_labels(tmp_path):
    p = tmp_path / "labels.jsonl"
    write_jsonl(
        p,
        [
            {"id": "a", "query": "在 吗", "answer": "在 的", "split": "teacher_queries"},
            {"id": "b", "query": "发货 么", "answer": "今天 发", "split": "eval"},
            {"id": "c", "query": "贵", "answer": "", "split": "teacher_queries"},
        ],
    )
    queries = {"a": Example("a", "ecd", [Turn("customer", "你好")], "在 吗", "x")}
    got = read_teacher_labels(p, queries)
    assert [(e.id, e.source, e.response, len(e.context)) for e in got] == [
        ("a", "teacher", "在 的", 1)
    ]
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "query": "q"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: .*answer"):
        read_teacher_labels(tmp_path / "bad.jsonl")


def test_collator_pads_right_and_masks(tiny):
    _, tok = tiny
    batch = PadCollator(tok.pad_token_id, pad_to_multiple_of=8)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [5], "labels": [5]}]
    )
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"][1].tolist() == [1] + [0] * 7
    assert batch["labels"][1].tolist() == [5] + [IGNORE_INDEX] * 7


def fixed_batch_loss(model, tok, examples) -> float:
    batch = PadCollator(tok.pad_token_id)([encode_example(tok, e, 256, 512) for e in examples])
    with torch.no_grad():
        return model(**batch).loss.item()


@pytest.mark.parametrize("method", ["prefix", "ptuning_v2", "lora"])
def test_each_method_lowers_the_loss_on_a_fixed_batch(method, tiny, tmp_path):
    from ecc_utils.endmodel.generate import adapter_applied

    model, tok = tiny
    data = toy(4)
    lr = 3e-2 if method == "lora" else 0.3  # prefixes of a random tiny model need big steps
    res = train_method(
        model,
        tok,
        PeftSpec(method, num_virtual_tokens=8),
        TrainingPairs(data, toy(4, "teacher")),
        tmp_path,
        tcfg(method, (1, 20), max_steps=20, learning_rate=lr, batch_size=4, logging_steps=10),
    )
    assert sorted(res.checkpoints) == [1, 20]
    losses = []
    for step in (1, 20):
        with adapter_applied(model, res.checkpoints[step]) as m:
            losses.append(fixed_batch_loss(m, tok, data))
    assert losses[1] < losses[0] - 0.3, losses


def test_checkpoints_at_milestones_only_adapter_only_and_log(tiny, tmp_path):
    model, tok = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = tcfg("lora", (2, 3, 5), max_steps=30, learning_rate=1e-3, logging_steps=1)
    pairs = TrainingPairs(toy(6), toy(6, "teacher"))
    res = train_method(model, tok, PeftSpec("lora"), pairs, tmp_path / "runs" / "lora", cfg)
    run = tmp_path / "runs" / "lora"
    assert sorted(p.name for p in run.glob("checkpoint-*")) == [
        f"checkpoint-{s}" for s in (2, 3, 5)
    ]
    ck = run / "checkpoint-5"
    names = {p.name for p in ck.iterdir()}
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"} <= names
    assert not names & {"model.safetensors", "pytorch_model.bin", "tokenizer.json"}
    assert sum(p.stat().st_size for p in ck.iterdir()) < 1_000_000
    log = read_train_log(run)
    assert log.checkpoints == {"2": "checkpoint-2", "3": "checkpoint-3", "5": "checkpoint-5"}
    assert [h["step"] for h in log.history] == [1, 2, 3, 4, 5]
    assert log.tokens_per_s > 0 and res.tokens_per_s == log.tokens_per_s
    assert log.trainable_params == res.trainable_params < log.total_params
    assert (log.method, log.label, log.milestones, log.max_steps) == ("lora", "LoRA", [2, 3, 5], 30)
    # The LR schedule spans max_steps (linear to 0 at 30), not the last milestone.
    assert log.history[-1]["learning_rate"] == pytest.approx(1e-3 * (30 - 4) / 30, rel=1e-3)
    # The caller's model is returned unchanged, without LoRA layers.
    assert not any("lora" in n for n, _ in model.named_modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # A re-run finds the last milestone and trains nothing.
    again = train_method(model, tok, PeftSpec("lora"), pairs, run, cfg)
    assert again.skipped and sorted(again.checkpoints) == [2, 3, 5]
    assert again.history == res.history and again.tokens_per_s == res.tokens_per_s


@pytest.mark.parametrize("method", ["lora", "prefix", "ptuning_v2"])
def test_resume_after_interruption_ends_at_the_same_weights(method, tmp_path):
    from safetensors.torch import load_file

    kw = dict(max_steps=8, learning_rate=1e-2, batch_size=2, logging_steps=1)
    spec, pairs = PeftSpec(method, num_virtual_tokens=4), TrainingPairs(toy(6), toy(6, "teacher"))

    def train(out: str, milestones: tuple[int, ...]):
        m, tok = tiny_random()
        cfg = tcfg(method, milestones, **kw)
        return train_method(m, tok, spec, pairs, tmp_path / out, cfg, options=TrainOptions(seed=3))

    train("a", (3, 6))
    # "Interrupted" run: stops at step 3 (same schedule over 8 steps), then is re-executed.
    train("b", (3,))
    res = train("b", (3, 6))
    assert res.resumed_from == 3 and not res.skipped
    a = load_file(tmp_path / "a" / "checkpoint-6" / "adapter_model.safetensors")
    b = load_file(tmp_path / "b" / "checkpoint-6" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(
        a[next(iter(a))],
        load_file(tmp_path / "b" / "checkpoint-3" / "adapter_model.safetensors")[next(iter(a))],
    )
    hist = read_train_log(tmp_path / "b").history
    assert [h["step"] for h in hist] == [1, 2, 3, 4, 5, 6]
    # The resumed adapter loads onto a fresh base model and answers.
    from ecc_utils.endmodel.generate import Sampling, generate, load_adapter

    base, tok = tiny_random()
    tuned = load_adapter(base, tmp_path / "b" / "checkpoint-6")
    sampling = Sampling(max_new_tokens=6, do_sample=False, batch_size=2)
    answers = generate(tuned, tok, ["你好", "我的订单什么时候发货"], sampling)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    from peft import get_peft_model_state_dict

    loaded = get_peft_model_state_dict(tuned)
    assert loaded.keys() == b.keys()
    assert all(torch.equal(loaded[k].to(b[k].dtype), b[k]) for k in b)


def test_batch_size_two_on_real_ecd_pairs(data_dir, tmp_path):
    model, tok = tiny_random()
    pairs = ecd_examples(data_dir, 8)
    assert len(pairs) == 8
    cfg = tcfg(
        "ptuning_v2",
        (2,),
        max_steps=4,
        batch_size=2,
        max_input_length=64,
        max_output_length=32,
        pad_to_multiple_of=16,
        group_by_length=True,
        teacher_mix=0.25,
    )
    spec = PeftSpec("ptuning_v2", num_virtual_tokens=4)
    res = train_method(model, tok, spec, TrainingPairs(pairs[:6], pairs[6:]), tmp_path, cfg)
    assert sorted(res.checkpoints) == [2] and res.n_pairs == 8 and res.n_teacher_pairs == 2


def test_bucketed_batches_see_every_pair_once_per_epoch_with_less_padding(tiny, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    """Length-bucketed batches (group_by_length) reorder the pairs, they do not change which
    pairs an epoch sees: over one epoch each pair comes exactly once, as with random batches."""
    from collections import Counter

    model, tok = tiny
    pairs = [
        Example(f"p{i}", "ecd", [Turn("customer", "你好 " * (i % 5))], f"问 {'多 ' * (i % 7)}{i}",
                f"答 {'好 ' * ((3 * i) % 11)}")
        for i in range(24)
    ]  # fmt: skip
    seen: dict[bool, list] = {}
    original = PadCollator.__call__

    def recording(self, items):
        batch_log.append([tuple(it["input_ids"]) for it in items])
        return original(self, items)

    monkeypatch.setattr(PadCollator, "__call__", recording)
    for bucketed in (False, True):
        batch_log: list[list[tuple]] = []
        cfg = tcfg("lora", (6,), batch_size=4, teacher_mix=0.0, max_input_length=64,
                   max_output_length=32, group_by_length=bucketed)  # fmt: skip
        train_method(model, tok, PeftSpec("lora"), TrainingPairs(pairs, []),
                     tmp_path / str(bucketed), cfg)  # fmt: skip
        seen[bucketed] = batch_log
    everything = Counter(tuple(encode_example(tok, p, 64, 32)["input_ids"]) for p in pairs)
    for batches in seen.values():
        assert len(batches) == 6 and Counter(x for b in batches for x in b) == everything

    def padding(batches):
        return sum(max(map(len, b)) * len(b) - sum(map(len, b)) for b in batches)

    assert padding(seen[True]) < padding(seen[False])
    assert seen[True] != seen[False]


def test_bad_arguments_name_the_parameter(tiny, tmp_path):
    model, tok = tiny
    pairs = TrainingPairs(toy(2), [])
    with pytest.raises(ValueError, match="gradient_checkpointing"):
        cfg = tcfg("prefix", (1,), max_steps=2, gradient_checkpointing=True)
        train_method(model, tok, PeftSpec("prefix"), pairs, tmp_path, cfg)
    with pytest.raises(ValueError, match=r"train.milestones.lora=\(5,\).*max_steps=2"):
        train_method(model, tok, PeftSpec("lora"), pairs, tmp_path, tcfg("lora", (5,), max_steps=2))
    with pytest.raises(ValueError, match="train.milestones: no milestones for method 'prefix'"):
        train_method(model, tok, PeftSpec("prefix"), pairs, tmp_path, tcfg("lora", (1,)))
    with pytest.raises(ValueError, match="method="):
        PeftSpec("ptuning")


def test_run_from_profile_reads_the_artifact_contract(tmp_path):
    art = Artifacts(tmp_path / "art")
    write_jsonl(art.split("train"), toy(4))
    write_jsonl(
        art.labels,
        [
            {"id": f"t{i}", "query": "发货 么", "answer": "今天 发", "split": "teacher_queries"}
            for i in range(4)
        ],
    )
    smoke = load_profile(SMOKE)
    cfg = dataclasses.replace(
        smoke,
        data=dataclasses.replace(smoke.data, n_train=3),
        end_model=EndModelConfig(spec="tiny-random", device="cpu"),
        train=tcfg(
            "lora",
            (2,),
            max_steps=10,
            learning_rate=1e-3,
            max_input_length=64,
            max_output_length=32,
            logging_steps=1,
        ),
    )
    res = run_from_profile(cfg, "lora", art)
    assert res.n_pairs == 6 and art.checkpoint("lora", 2).is_dir()
    assert json.loads(art.train_log("lora").read_text())["method"] == "lora"
    with pytest.raises(FileNotFoundError, match="01_data"):
        run_from_profile(cfg, "lora", Artifacts(tmp_path / "empty"))


@pytest.mark.parametrize("method", [None, "prefix"])
def test_response_logits_only_gives_the_same_loss(method, tiny):
    from ecc_utils.endmodel.peft_methods import apply_method
    from ecc_utils.train import accepts_logits_to_keep

    model, tok = tiny
    if method:
        model = apply_method(model, PeftSpec(method, num_virtual_tokens=4))
    assert accepts_logits_to_keep(model)
    items = [
        encode_example(tok, e, 256, 512) for e in toy(2) + [Example("b", "t", [], "发货", "明天")]
    ]
    full = PadCollator(tok.pad_token_id)(items)
    cut = PadCollator(tok.pad_token_id, response_logits_only=True)(items)
    n_labels = int((full["labels"] != IGNORE_INDEX).sum())
    assert int(cut["logits_to_keep"].sum()) == len(cut["shift_labels"]) == n_labels
    assert n_labels < full["input_ids"].numel() / 2
    with torch.no_grad():
        assert model(**cut).loss.item() == pytest.approx(model(**full).loss.item(), rel=1e-5)
