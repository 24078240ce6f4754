"""The three parameter-efficient fine-tuning methods of the paper's Table IV as PEFT configs.

| name         | label          | PEFT config                                                     |
|--------------|----------------|-----------------------------------------------------------------|
| "prefix"     | Prefix-Tuning  | PrefixTuningConfig(num_virtual_tokens=128, prefix_projection=True)  |
| "ptuning_v2" | P-Tuning v2    | PrefixTuningConfig(num_virtual_tokens=128, prefix_projection=False) |
| "lora"       | LoRA           | LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1), attention q/k/v/o |
"""

from __future__ import annotations

from dataclasses import dataclass

from ecc_utils.config import PREFIX_INITS, TrainConfig
from ecc_utils.paper import METHOD_NAMES, METHODS, PREFIX_METHODS, TABLE4

# transformers 5 warns about its own renamed attribute whenever PEFT touches a model.
DEPRECATION_NOISE = ".*is_gradient_checkpointing.* is deprecated"

# Attention projections per architecture family, checked in this order against module names.
_ATTENTION_PROJECTIONS: tuple[tuple[str, ...], ...] = (
    ("q_proj", "k_proj", "v_proj", "o_proj"),  # Llama, Gemma, Qwen, Mistral, SmolLM
    ("query_key_value",),  # ChatGLM3 (fused q/k/v), as in its own fine-tuning demo
    ("c_attn", "c_proj"),  # GPT-2
)
DEFAULT_LORA_TARGETS: tuple[str, ...] = _ATTENTION_PROJECTIONS[0]

DEVIATION_NOTE = (
    "PEFT has no class named after either prompt method of the paper, so we map them as the "
    "methods' authors define them. Prefix-Tuning (Li & Liang, 2021) learns key/value prefixes "
    "for every attention layer through an MLP reparameterisation: PEFT's PrefixTuningConfig "
    "with prefix_projection=True. P-Tuning v2 (Liu et al., 2022) is the same deep prompt in "
    "every layer trained directly, without the reparameterisation; it is what ChatGLM3's own "
    "fine-tuning demo calls P-Tuning v2 (a prefix encoder with prefix_projection off): PEFT's "
    "PrefixTuningConfig with prefix_projection=False. PEFT's PromptEncoderConfig is P-Tuning v1 "
    "(a prompt encoder feeding virtual tokens to the input layer only), so we do not use it. "
    "Both prompt methods use num_virtual_tokens=128 as in Table IV; LoRA uses r=8, alpha=32, "
    "dropout 0.1 on the attention projections (q/k/v/o; query_key_value for ChatGLM3). "
    "PEFT's prefix methods cannot be combined with gradient checkpointing, so it stays off. "
    "P-Tuning v2's key/value prefix starts as the model's own keys and values over real "
    "training conversations (Li & Liang's initialisation from real words), not PEFT's N(0, 1) "
    "draw, which is far from the scale of real keys and values and made the untrained "
    "Gemma 3 270M 7x more perplexed than without a prefix."
)


def check_method(method: str) -> str:
    """Return `method` if it is one of METHODS, else raise a ValueError naming the choices."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {', '.join(map(repr, METHODS))}")
    return method


def attention_projection_modules(model) -> list[str]:
    """Names (suffixes) of `model`'s attention projection layers, the LoRA targets of Table IV."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for family in _ATTENTION_PROJECTIONS:
        if all(n in names for n in family):
            return list(family)
    raise ValueError(
        f"cannot find attention projections in {type(model).__name__}; pass target_modules= "
        "(the names of its q/k/v/o linear layers)"
    )


def check_gradient_checkpointing(method: str, gradient_checkpointing: bool) -> None:
    """Raise if gradient checkpointing is asked for a prefix method (PEFT does not support it)."""
    if gradient_checkpointing and check_method(method) in PREFIX_METHODS:
        raise ValueError(
            f"gradient_checkpointing=True with method={method!r}: PEFT's prefix tuning passes "
            "past_key_values that gradient checkpointing drops; set it False for "
            "'prefix' and 'ptuning_v2'"
        )


@dataclass(frozen=True)
class PeftSpec:
    """One method's own settings (Table IV's "specific training parameters").

    Defaults are Table IV's; `from_train` takes them from profile section `train`.
    `target_modules` (LoRA only) defaults to the model's attention projections.
    """

    method: str
    num_virtual_tokens: int = TABLE4.num_virtual_tokens
    lora_r: int = TABLE4.lora_r
    lora_alpha: int = TABLE4.lora_alpha
    lora_dropout: float = TABLE4.lora_dropout
    target_modules: tuple[str, ...] | None = None
    prefix_init: str = "text"

    def __post_init__(self) -> None:
        check_method(self.method)
        if self.prefix_init not in PREFIX_INITS:
            raise ValueError(
                f"prefix_init={self.prefix_init!r}: use one of {', '.join(map(repr, PREFIX_INITS))}"
            )
        if self.method in PREFIX_METHODS and self.num_virtual_tokens < 1:
            raise ValueError(f"num_virtual_tokens={self.num_virtual_tokens}: must be >= 1")

    @classmethod
    def from_train(cls, method: str, cfg: TrainConfig) -> PeftSpec:
        return cls(
            method,
            cfg.num_virtual_tokens,
            cfg.lora_r,
            cfg.lora_alpha,
            cfg.lora_dropout,
            prefix_init=cfg.prefix_init,
        )

    @property
    def label(self) -> str:
        return METHOD_NAMES[self.method]


def peft_config(spec: PeftSpec):
    """The PEFT config of `spec` (see the module docstring for the mapping).

    LoRA's `target_modules` default to q/k/v/o projections; `apply_method` detects the right
    names for the model at hand (e.g. ChatGLM3's ``query_key_value``).
    """
    from peft import LoraConfig, PrefixTuningConfig, TaskType

    if spec.method in PREFIX_METHODS:
        return PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=spec.num_virtual_tokens,
            prefix_projection=(spec.method == "prefix"),
        )
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=spec.lora_r,
        lora_alpha=spec.lora_alpha,
        lora_dropout=spec.lora_dropout,
        target_modules=list(spec.target_modules or DEFAULT_LORA_TARGETS),
        bias="none",
    )


def apply_method(model, spec: PeftSpec, *, init_ids: list[int] | None = None):
    """Wrap `model` in a PeftModel for `spec`; only the method's parameters stay trainable.

    For LoRA the attention projections of `model` are found automatically unless
    ``spec.target_modules`` is given. LoRA modifies `model` in place (see
    `generate.unload_adapter`). For P-Tuning v2 with ``spec.prefix_init == "text"``, the
    prefix starts as the model's own keys/values over the tokens `init_ids` (real training
    conversations, `endmodel.format.transcript_ids`); without them it stays PEFT's random draw.
    """
    from dataclasses import replace

    from peft import get_peft_model

    if spec.method == "lora" and spec.target_modules is None:
        spec = replace(spec, target_modules=tuple(attention_projection_modules(model)))
    peft_model = get_peft_model(model, peft_config(spec))
    if spec.method == "ptuning_v2" and spec.prefix_init == "text" and init_ids:
        init_prefix_from_ids(peft_model, init_ids, spec.num_virtual_tokens)
    return peft_model


def init_prefix_from_ids(peft_model, ids: list[int], num_virtual_tokens: int) -> None:
    """Load the base model's keys/values over the first `num_virtual_tokens` of `ids` into a
    prefix without reparameterisation (through PEFT's own initialiser).

    Raises a ValueError naming the shortfall when `ids` is too short.
    """
    import torch
    from peft import initialize_kv_prefix_from_past_key_values

    if len(ids) < num_virtual_tokens:
        raise ValueError(
            f"prefix initialisation: {len(ids)} tokens of text, but num_virtual_tokens="
            f"{num_virtual_tokens} needs at least that many (give more training pairs)"
        )
    device = next(peft_model.parameters()).device
    x = torch.tensor([ids[:num_virtual_tokens]], device=device)
    was_training = peft_model.training
    peft_model.eval()  # no dropout in the keys/values we copy
    with peft_model.disable_adapter(), torch.no_grad():
        out = peft_model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=True)
    initialize_kv_prefix_from_past_key_values(
        peft_model, past_key_values=out.past_key_values, num_virtual_tokens=num_virtual_tokens
    )
    peft_model.train(was_training)
