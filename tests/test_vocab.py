"""ecc_utils.endmodel.vocab / head: a head trimmed to the profile's tokens is the full model
conditioned on those tokens, for likelihoods, decoding and training alike."""

from __future__ import annotations

import json

import pytest
import torch

from ecc_utils.artifacts import Artifacts
from ecc_utils.endmodel.decoding import Stopping, decode
from ecc_utils.endmodel.format import encode_prompt
from ecc_utils.endmodel.generate import Sampling, generate
from ecc_utils.endmodel.head import TrimmedHead, trim_head, vocabulary_of
from ecc_utils.endmodel.load import count_parameters, tiny_random
from ecc_utils.endmodel.reply_likelihood import reply_logprobs
from ecc_utils.endmodel.vocab import Vocabulary, build_vocabulary, byte_tokens, profile_vocabulary
from ecc_utils.records import Example, Turn

WORDS = ["你好", "亲", "发货", "优惠", "谢谢"]
UNUSED = [f"unused{i}" for i in range(40)]
TEXTS = [
    Example(
        "a", "ecd", [Turn("customer", "你好"), Turn("agent", "在的 亲")], "发货 么", "亲 发货了"
    ),
    Example("b", "ecd", [], "优惠 么", "谢谢 亲"),
]


def _model_with_words(seed: int = 0):
    """The tiny byte-level model with whole-word tokens added: a vocabulary that can be trimmed
    (the unused words) while every byte stays."""
    from transformers import Gemma3ForCausalLM

    model, tok = tiny_random(seed)
    tok.add_tokens(WORDS + UNUSED)
    cfg = model.config
    cfg.vocab_size = len(tok)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        bigger = Gemma3ForCausalLM(cfg)
    bigger.generation_config = model.generation_config
    return bigger.eval(), tok


def _trimmed(seed: int = 0):
    model, tok = _model_with_words(seed)
    full, _ = _model_with_words(seed)
    vocab = build_vocabulary(tok, TEXTS, 64)
    return trim_head(model, vocab), full, tok, vocab


def test_vocabulary_keeps_the_texts_tokens_the_specials_and_every_byte():
    _, tok = _model_with_words()
    vocab = build_vocabulary(tok, TEXTS, 64)
    ids = set(tok.convert_tokens_to_ids(WORDS))
    assert ids <= set(vocab.kept)
    assert not set(tok.convert_tokens_to_ids(UNUSED)) & set(vocab.kept)
    assert set(byte_tokens(tok)) <= set(vocab.kept) and set(tok.all_special_ids) <= set(vocab.kept)
    assert vocab.size == len(tok) - len(UNUSED)
    # A token outside is spelled in bytes: the same text, every token kept.
    text = "unused7 亲"
    fitted = vocab.fit(tok, tok(text, add_special_tokens=False)["input_ids"])
    assert set(fitted) <= set(vocab.kept) and tok.decode(fitted) == text
    assert Vocabulary.from_json(json.loads(json.dumps(vocab.to_json()))) == vocab


def test_a_tokenizer_without_byte_tokens_is_refused_by_name():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")
    with pytest.raises(ValueError, match="end_model.trim_vocabulary"):
        byte_tokens(tok)


def test_reply_logprobs_are_the_full_models_renormalised_over_the_kept_tokens():
    model, full, tok, vocab = _trimmed()
    prompts, replies = [([], "发货 么")], [["亲 发货了", "unused3 谢谢"]]
    got = reply_logprobs(model, tok, prompts, replies, max_input_length=64)[0]
    kept = torch.tensor(vocab.kept)
    expect = []
    for reply in replies[0]:
        from ecc_utils.endmodel.format import encode_response

        target = vocab.fit(tok, encode_response(tok, [], "发货 么", reply))
        prompt = encode_prompt(tok, [], "发货 么", 64)
        with torch.no_grad():
            logits = full(torch.tensor([prompt + target])).logits[0, len(prompt) - 1 : -1]
        logp = logits[:, kept].log_softmax(-1)
        pos = torch.tensor(vocab.positions(target))
        expect.append(float(logp.gather(1, pos[:, None]).sum()))
    assert got.logprob.tolist() == pytest.approx(expect, abs=1e-4)
    assert got.tokens[1] > got.tokens[0] - 3  # the unused word was spelled in bytes


def test_decoding_picks_kept_tokens_only_and_equals_the_masked_full_model():
    model, full, tok, vocab = _trimmed()
    prompt = torch.tensor([encode_prompt(tok, [], "你好", 64)])
    mask = torch.ones_like(prompt)
    stop = Stopping(tok.pad_token_id)
    blocked = torch.ones(len(tok), dtype=torch.bool)
    blocked[list(vocab.kept)] = False
    with torch.no_grad():
        ours = decode(model, prompt, mask, max_new_tokens=12, pick=lambda x: x.argmax(-1),
                      stop=stop)  # fmt: skip
        masked = decode(full, prompt, mask, max_new_tokens=12,
                        pick=lambda x: x.masked_fill(blocked, float("-inf")).argmax(-1),
                        stop=stop)  # fmt: skip
    assert ours.tolist() == masked.tolist()
    answers = generate(model, tok, ["你好", "发货 么"], Sampling(max_new_tokens=16, seed=3))
    assert all(isinstance(a, str) for a in answers)


def test_training_learns_labels_as_kept_columns_and_the_head_stays_trimmed(tmp_path):
    from ecc_utils.config import TrainConfig
    from ecc_utils.endmodel.peft_methods import PeftSpec
    from ecc_utils.train.pairs import PairDataset, TrainingPairs
    from ecc_utils.train.trainer import train_method

    model, _, tok, vocab = _trimmed()
    # A base model with a config on disk: PEFT compares its vocabulary size with the model's
    # to decide whether the embeddings were resized (and must be saved with every adapter).
    _model_with_words()[0].config.save_pretrained(tmp_path / "base")
    model.config._name_or_path = str(tmp_path / "base")
    data = PairDataset(tok, [*TEXTS, Example("c", "ecd", [], "q", "unused5")], 64, 64, vocab)
    labels = [lab for it in data.items for lab in it["labels"] if lab != -100]
    assert max(labels) < vocab.size
    cfg = TrainConfig(max_steps=4, milestones={"lora": (4,)}, batch_size=2, learning_rate=1e-2,
                      teacher_mix=0.0, logging_steps=1, max_input_length=64,
                      max_output_length=64)  # fmt: skip
    result = train_method(model, tok, PeftSpec.from_train("lora", cfg), TrainingPairs(TEXTS * 2, []),
                          tmp_path / "lora", cfg)  # fmt: skip
    losses = [h["loss"] for h in result.history]
    assert losses and all(loss == loss for loss in losses)  # finite: labels are in range
    assert isinstance(model.get_output_embeddings(), TrimmedHead)
    assert vocabulary_of(model) == vocab
    from safetensors import safe_open

    with safe_open(str(result.checkpoints[4] / "adapter_model.safetensors"), "pt") as f:
        saved = list(f.keys())
    assert saved and all("lora_" in k for k in saved), saved  # the adapter only, no embeddings
    # The trimmed rows copy part of the tied embeddings: not counted as parameters.
    assert count_parameters(model)[1] == count_parameters(_model_with_words()[0])[1]


def test_profile_vocabulary_is_cached_and_follows_its_texts(tmp_path):
    _, tok = _model_with_words()
    art = Artifacts(tmp_path)
    art.write_split("train", TEXTS)
    first = profile_vocabulary(art, tok, 64)
    assert art.vocabulary.is_file() and profile_vocabulary(art, tok, 64) == first
    art.write_split("eval", [Example("c", "ecd", [], "q", "unused9")])
    again = profile_vocabulary(art, tok, 64)
    assert tok.convert_tokens_to_ids("unused9") in again.kept
    assert tok.convert_tokens_to_ids("unused9") not in first.kept


def test_the_trimmed_loss_counts_the_kept_classes_however_the_model_passes_the_size():
    from ecc_utils.endmodel.head import TrimmedLoss

    seen = []
    loss = TrimmedLoss(lambda logits, labels, vocab_size, **kw: seen.append(vocab_size), 7)
    loss("logits", "labels", 262144, num_items_in_batch=3)  # Gemma 3: its attribute
    loss(logits="logits", labels="labels", vocab_size=262144)  # Llama: its config's
    assert seen == [7, 7]
