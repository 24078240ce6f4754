"""ecc_utils.endmodel.peft_methods: the Table IV configs, field by field."""

from __future__ import annotations

import pytest
from peft import LoraConfig, PrefixTuningConfig, TaskType

from ecc_utils.endmodel.load import count_parameters, tiny_random
from ecc_utils.endmodel.peft_methods import (
    DEVIATION_NOTE,
    METHODS,
    PeftSpec,
    apply_method,
    attention_projection_modules,
    check_gradient_checkpointing,
    peft_config,
)
from ecc_utils.paper import TABLE4


def test_prefix_tuning_is_table_iv():
    c = peft_config(PeftSpec("prefix"))
    assert type(c) is PrefixTuningConfig and c.task_type == TaskType.CAUSAL_LM
    assert c.num_virtual_tokens == TABLE4.num_virtual_tokens and c.prefix_projection is True


def test_ptuning_v2_is_deep_prefix_without_projection():
    c = peft_config(PeftSpec("ptuning_v2"))
    assert type(c) is PrefixTuningConfig and c.task_type == TaskType.CAUSAL_LM
    assert c.num_virtual_tokens == TABLE4.num_virtual_tokens and c.prefix_projection is False


def test_lora_is_table_iv():
    c = peft_config(PeftSpec("lora"))
    assert type(c) is LoraConfig and c.task_type == TaskType.CAUSAL_LM
    assert (c.r, c.lora_alpha, c.lora_dropout) == (
        TABLE4.lora_r,
        TABLE4.lora_alpha,
        TABLE4.lora_dropout,
    )
    assert set(c.target_modules) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    spec = PeftSpec("lora", target_modules=("query_key_value",))
    assert peft_config(spec).target_modules == {"query_key_value"}


def test_spec_from_the_profile_section(root):
    from ecc_utils.config import load_profile

    t = load_profile(root / "params" / "smoke.yaml").train
    spec = PeftSpec.from_train("ptuning_v2", t)
    assert (spec.num_virtual_tokens, spec.lora_r, spec.label) == (
        t.num_virtual_tokens,
        t.lora_r,
        "P-Tuning v2",
    )


def test_labels_and_unknown_methods():
    with pytest.raises(ValueError, match="'prefix', 'ptuning_v2', 'lora'"):
        PeftSpec("p-tuning")
    with pytest.raises(ValueError, match="num_virtual_tokens=0"):
        PeftSpec("prefix", num_virtual_tokens=0)
    assert "PromptEncoderConfig" in DEVIATION_NOTE


def test_gradient_checkpointing_is_refused_for_prefix_methods():
    for m in ("prefix", "ptuning_v2"):
        with pytest.raises(ValueError, match="gradient_checkpointing"):
            check_gradient_checkpointing(m, True)
        check_gradient_checkpointing(m, False)
    check_gradient_checkpointing("lora", True)


def test_attention_projections_are_found():
    import torch.nn as nn

    model, _ = tiny_random()
    assert attention_projection_modules(model) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    glm = nn.ModuleDict({"self_attention": nn.ModuleDict({"query_key_value": nn.Linear(2, 6)})})
    assert attention_projection_modules(glm) == ["query_key_value"]
    with pytest.raises(ValueError, match="target_modules"):
        attention_projection_modules(nn.Linear(2, 2))


def test_trainable_parameter_counts_match_the_methods():
    # tiny-random: 2 layers, hidden 64, q/o 64->64, k/v 64->32 (2 KV heads of 16).
    counts = {}
    for m in METHODS:
        model, _ = tiny_random()
        base = count_parameters(model)[1]
        peft_model = apply_method(model, PeftSpec(m, num_virtual_tokens=8))
        counts[m] = count_parameters(peft_model)[0]
        assert count_parameters(peft_model)[1] == base + counts[m]
    layers, kv_dim, r = 2, 32, 8
    assert counts["lora"] == layers * r * ((64 + 64) * 2 + (64 + 32) * 2)
    # P-Tuning v2: a key and a value prefix per layer, trained directly.
    assert counts["ptuning_v2"] == 8 * layers * 2 * kv_dim
    # Prefix-Tuning: an embedding plus the two-layer MLP reparameterisation.
    assert counts["prefix"] == 8 * kv_dim + (kv_dim * kv_dim + kv_dim) + (
        kv_dim * layers * 2 * kv_dim + layers * 2 * kv_dim
    )


@pytest.mark.slow
def test_ptuning_v2_starts_near_the_untrained_model_not_far_above_it(data_dir):
    """Regression: PEFT's N(0, 1) prefix made the untrained P-Tuning v2 Gemma several times
    more perplexed than Gemma itself, and 30 training steps could not undo it; the prefix now
    starts as Gemma's own keys/values over training conversations."""
    import copy

    import numpy as np

    from ecc_utils.data.ecd import read_ecd
    from ecc_utils.endmodel.format import transcript_ids
    from ecc_utils.endmodel.load import load_model
    from ecc_utils.records import Example
    from ecc_utils.scoring.model_as_judge import reply_logprobs

    groups = read_ecd(data_dir / "ecd_sample" / "test").groups
    pairs = [Example(f"g{g.index}", "ecd", list(g.context[:-1]), g.context[-1].text,
                     g.true_response) for g in groups[:40]]  # fmt: skip
    model, tok = load_model("gemma3-270m", device="cpu", dtype="float32")
    held_out = pairs[20:]

    def perplexity(m) -> float:
        s = reply_logprobs(m, tok, [(e.context, e.query) for e in held_out],
                           [[e.response] for e in held_out], max_input_length=64)  # fmt: skip
        return float(np.exp(-sum(x.logprob[0] for x in s) / sum(x.tokens[0] for x in s)))

    base = perplexity(model)
    init = transcript_ids(tok, pairs[:20], 128, 64, 64)
    spec = PeftSpec("ptuning_v2", num_virtual_tokens=128)
    fresh = copy.deepcopy(model)  # a second load would take seven times as long
    text = perplexity(apply_method(model, spec, init_ids=init).eval())
    model = fresh
    random_spec = PeftSpec("ptuning_v2", num_virtual_tokens=128, prefix_init="random")
    random_start = perplexity(apply_method(model, random_spec, init_ids=init).eval())
    assert random_start > 2.5 * base, (random_start, base)  # the cause, still PEFT's default
    assert text < 1.25 * base, (text, base)


def test_ptuning_v2_prefix_starts_as_the_models_own_keys_and_values():
    import torch

    model, _ = tiny_random()
    ids = list(range(3, 15))
    peft_model = apply_method(model, PeftSpec("ptuning_v2", num_virtual_tokens=8), init_ids=ids)
    with torch.no_grad():
        cache = model(input_ids=torch.tensor([ids[:8]]), use_cache=True).past_key_values
        prefix = peft_model.get_prompt(1, max_cache_len=20)
    assert torch.allclose(prefix.layers[0].keys, cache.layers[0].keys, atol=1e-6)
    assert torch.allclose(prefix.layers[-1].values, cache.layers[-1].values, atol=1e-6)
    random_start = apply_method(tiny_random()[0], PeftSpec("ptuning_v2", num_virtual_tokens=8,
                                                           prefix_init="random"), init_ids=ids)  # fmt: skip
    emb = random_start.prompt_encoder["default"].embedding.weight
    assert 0.8 < float(emb.std()) < 1.2  # PEFT's N(0, 1)
    with pytest.raises(ValueError, match="4 tokens of text, but num_virtual_tokens=8"):
        apply_method(tiny_random()[0], PeftSpec("ptuning_v2", num_virtual_tokens=8),
                     init_ids=ids[:4])  # fmt: skip
    with pytest.raises(ValueError, match="prefix_init='zeros'"):
        PeftSpec("ptuning_v2", prefix_init="zeros")
