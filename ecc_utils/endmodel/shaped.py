"""Random-weight models shaped like the paper's end model, ChatGLM3-6B, for checks without the hub.

ChatGLM3-6B runs on its own remote code, which an offline machine cannot fetch. transformers'
`GlmForCausalLM` (model type "glm", the GLM-4 family) is the nearest architecture that ships
with transformers: RMSNorm, SwiGLU, grouped key/value heads (ChatGLM3's "multi-query" with 2
groups), bias on q/k/v and rotary embedding on half of each head, as in ChatGLM3. With
ChatGLM3-6B's shapes (its config.json: 28 layers, hidden 4096, FFN 13696, 32 heads, 2 key/value
groups, vocabulary 65024) it does the same arithmetic per token; the weights are random, so
what it measures is time, memory and the code path, never quality. One difference: LoRA sees
separate q/k/v projections where ChatGLM3 has one fused ``query_key_value`` (the same FLOPs).

The tokenizer is one token per character over a fixed set (ASCII, CJK punctuation, the CJK
Unified Ideographs block): Chinese text gets about as many tokens as characters, a little more
than ChatGLM3's own tokenizer gives (so timings err on the slow side). Its chat template is
ChatGLM3's (``[gMASK]sop<|user|>\\n...<|assistant|>\\n...``).

Specs (`models.load_model`): ``chatglm3-shaped`` (6B shapes; a GPU in bfloat16) and
``chatglm3-shaped-small`` (the same architecture at CPU size, for tests).
"""

from __future__ import annotations

from typing import Any

CHATGLM3_6B_SHAPE: dict[str, int] = {
    "hidden_size": 4096,
    "intermediate_size": 13696,
    "num_hidden_layers": 28,
    "num_attention_heads": 32,
    "num_key_value_heads": 2,
    "head_dim": 128,
}
SMALL_SHAPE: dict[str, int] = {
    "hidden_size": 64,
    "intermediate_size": 214,  # ChatGLM3's FFN ratio, 13696 / 4096
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
SHAPED_MODELS: dict[str, dict[str, int]] = {
    "chatglm3-shaped": CHATGLM3_6B_SHAPE,
    "chatglm3-shaped-small": SMALL_SHAPE,
}
VOCAB_SIZE = 65024  # ChatGLM3's

_SPECIALS = ("<pad>", "<eos>", "<unk>", "[gMASK]", "sop", "<|system|>", "<|user|>",
             "<|assistant|>", "<|observation|>")  # fmt: skip
_CHAT_TEMPLATE = (
    "[gMASK]sop{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% if loop.last and m['role'] == 'assistant' %}<eos>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _alphabet() -> list[str]:
    ranges = [(0x20, 0x7E), (0x3000, 0x303F), (0xFF00, 0xFFEF), (0x4E00, 0x9FFF)]
    chars = ["\n", "\t"] + [chr(c) for lo, hi in ranges for c in range(lo, hi + 1)]
    return chars + ["…", "—", "“", "”", "‘", "’", "·"]


def char_tokenizer() -> Any:
    """A fast tokenizer with one token per character of `_alphabet` (others: ``<unk>``), EOS
    ``<eos>``, pad ``<pad>`` and ChatGLM3's chat template and role tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(_SPECIALS)}
    for ch in _alphabet():
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(_SPECIALS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        unk_token="<unk>",
        additional_special_tokens=list(_SPECIALS[3:]),
    )
    fast.chat_template = _CHAT_TEMPLATE
    return fast


def shaped_config(spec: str) -> Any:
    """The `GlmConfig` of `spec` (a key of `SHAPED_MODELS`)."""
    from transformers import GlmConfig

    if spec not in SHAPED_MODELS:
        raise ValueError(f"spec={spec!r}: use one of {', '.join(map(repr, SHAPED_MODELS))}")
    return GlmConfig(
        vocab_size=VOCAB_SIZE,
        partial_rotary_factor=0.5,
        attention_bias=True,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=[1, _SPECIALS.index("<|user|>"), _SPECIALS.index("<|observation|>")],
        bos_token_id=None,
        **SHAPED_MODELS[spec],
    )


def shaped_model(spec: str, *, seed: int = 0, dtype: Any = None, device: str = "cpu"):
    """``(model, tokenizer)``: a seeded random `GlmForCausalLM` with the shapes of `spec`,
    built directly on `device` in `dtype` (6B parameters in bfloat16 take 12 GB and seconds on
    a GPU), in eval mode; the global RNG state is left as it was."""
    import torch
    from transformers import GlmForCausalLM

    config = shaped_config(spec)
    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices), torch.device(device):
        torch.manual_seed(seed)
        model = GlmForCausalLM._from_config(config, dtype=dtype or torch.float32)
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.eval()
    return model, char_tokenizer()
