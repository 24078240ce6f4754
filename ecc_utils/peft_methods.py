"""The three parameter-efficient fine-tuning methods of the paper's Table IV as PEFT configs.

| name         | label          | PEFT config                                                     |
|--------------|----------------|-----------------------------------------------------------------|
| "prefix"     | Prefix-Tuning  | PrefixTuningConfig(num_virtual_tokens=128, prefix_projection=True)  |
| "ptuning_v2" | P-Tuning v2    | PrefixTuningConfig(num_virtual_tokens=128, prefix_projection=False) |
| "lora"       | LoRA           | LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1), attention q/k/v/o |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ecc_utils.paper import METHOD_NAMES, METHODS, PREFIX_METHODS, TABLE4

if TYPE_CHECKING:
    from ecc_utils.config import TrainConfig

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
    "PEFT's prefix methods cannot be combined with gradient checkpointing, so it stays off."
)


def method_label(method: str) -> str:
    """The paper's display label of `method` ("prefix" -> "Prefix-Tuning")."""
    check_method(method)
    return METHOD_NAMES[method]


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

    def __post_init__(self) -> None:
        check_method(self.method)
        if self.method in PREFIX_METHODS and self.num_virtual_tokens < 1:
            raise ValueError(f"num_virtual_tokens={self.num_virtual_tokens}: must be >= 1")

    @classmethod
    def from_train(cls, method: str, cfg: TrainConfig) -> PeftSpec:
        return cls(method, cfg.num_virtual_tokens, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)

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


def apply_method(model, spec: PeftSpec):
    """Wrap `model` in a PeftModel for `spec`; only the method's parameters stay trainable.

    For LoRA the attention projections of `model` are found automatically unless
    ``spec.target_modules`` is given. LoRA modifies `model` in place (see
    `generate.unload_adapter`).
    """
    from dataclasses import replace

    from peft import get_peft_model

    if spec.method == "lora" and spec.target_modules is None:
        spec = replace(spec, target_modules=tuple(attention_projection_modules(model)))
    return get_peft_model(model, peft_config(spec))
