"""Batched sampling from the end model with the paper's settings (top_p 0.8, temperature 0.6).

The prompt is built exactly as in training (`endmodel.format.encode_prompt`). `generate` works
with a base model alone (the paper's "Original" row) or with a milestone adapter loaded by
`load_adapter` / `adapter_applied`. Its settings are one `Sampling` (from the profile's
section `generation`, with `Sampling.from_profile`).

Inputs are batched by prompt length (little padding) and answered in their original order.
Top-p sampling is transformers' own definition computed without sorting the vocabulary at
every step (`ecc_utils.endmodel.nucleus`): the same distribution, drawn faster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from ecc_utils.endmodel.format import PLAIN_ROLES, encode_prompt
from ecc_utils.endmodel.load import ready_for_inference
from ecc_utils.endmodel.peft_methods import DEPRECATION_NOISE
from ecc_utils.paper import TABLE4
from ecc_utils.records import Example, Turn

if TYPE_CHECKING:
    from ecc_utils.config import Profile

# End-of-turn markers of common chat templates; generation stops at any that the vocab has.
_END_OF_TURN_TOKENS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|user|>", "<|observation|>")


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """EOS ids of `model`'s generation config and `tokenizer`, plus known end-of-turn tokens."""
    ids: list[int] = []
    gen = getattr(model, "generation_config", None)
    eos = getattr(gen, "eos_token_id", None)
    ids += eos if isinstance(eos, list) else ([eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    vocab = tokenizer.get_vocab()
    ids += [vocab[t] for t in _END_OF_TURN_TOKENS if t in vocab]
    return sorted(set(ids))


def plain_turn_markers() -> list[str]:
    """Where a plain-format answer ends: the start of the next transcript line."""
    return [f"\n{role}:" for role in PLAIN_ROLES.values()]


def cut_at_next_turn(text: str, markers: Sequence[str]) -> str:
    """`text` up to the first of `markers` (a base model tends to continue the transcript)."""
    ends = [i for i in (text.find(m) for m in markers) if i >= 0]
    return text[: min(ends)] if ends else text


def _turn_marker_stop(tokenizer, markers: Sequence[str]):
    """Rows whose answer has reached the start of the next transcript line; decoding a short
    tail is cheap (transformers' own ``stop_strings`` precomputes tables over the whole
    vocabulary on every call, seconds with Gemma's 262k tokens)."""

    def stop(new_tokens) -> list[bool]:
        tails = tokenizer.batch_decode(new_tokens[:, -8:])
        return [any(m in t for m in markers) for t in tails]

    return stop


def _as_pair(item: Example | tuple | str) -> tuple[list[Turn], str]:
    if isinstance(item, Example):
        return list(item.context), item.query
    if isinstance(item, str):
        return [], item
    context, query = item
    return list(context), query


@dataclass(frozen=True)
class Sampling:
    """How `generate` samples: the paper's top-p 0.8 and temperature 0.6 by default
    (``do_sample=False`` or temperature 0: greedy).

    Sampling is seeded per batch (``seed + batch index``, batches formed after sorting the
    inputs by prompt length); `max_input_length` is the prompt budget of training (answers see
    prompts built as in training).
    """

    max_new_tokens: int = 512
    top_p: float = TABLE4.top_p
    temperature: float = TABLE4.temperature
    do_sample: bool = True
    seed: int = 0
    batch_size: int = 8
    max_input_length: int = TABLE4.max_input_length
    # The repetition guard (a deviation from the paper, see `decoding.decode`): > 1 / > 0 on.
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    # Guarded: whether the scoring page also answers with the paper's plain sampling.
    compare_unguarded: bool = True

    @classmethod
    def from_profile(cls, cfg: Profile) -> Sampling:
        """Section `generation`, the training input length and the seed of a profile."""
        g = cfg.generation
        return cls(
            max_new_tokens=g.max_new_tokens,
            top_p=g.top_p,
            temperature=g.temperature,
            batch_size=g.batch_size,
            max_input_length=cfg.train.max_input_length,
            seed=cfg.seed,
            repetition_penalty=g.repetition_penalty,
            no_repeat_ngram_size=g.no_repeat_ngram_size,
            compare_unguarded=g.compare_unguarded,
        )

    @property
    def guarded(self) -> bool:
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0

    def unguarded(self) -> Sampling:
        """The same sampling without the repetition guard: the paper's plain sampling."""
        return dataclasses.replace(self, repetition_penalty=1.0, no_repeat_ngram_size=0)


def generate(
    model: Any,
    tokenizer: Any,
    inputs: Sequence[Example | tuple[Sequence[Turn], str] | str],
    sampling: Sampling | None = None,
    *,
    progress: bool = False,
) -> list[str]:
    """The decoded answers (prompt and special tokens removed) for `inputs`, in order.

    Each input is an Example, a (context, query) pair or a bare query. Inputs are sorted by
    prompt length into left-padded batches. Sampling is seeded per batch (``seed + batch
    index``), so the same inputs, seed and batch_size give the same text; the caller's global
    RNG state is left untouched.
    """
    import torch

    from ecc_utils.endmodel.decoding import decode

    sp = sampling or Sampling()
    if sp.batch_size < 1:
        raise ValueError(f"batch_size={sp.batch_size}: must be >= 1 (generation.batch_size)")
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    device = next(model.parameters()).device
    # Without a chat template the prompt is a plain transcript (train._render): stop at the
    # next "Customer:"/"Agent:" line as well as at EOS.
    markers = [] if getattr(tokenizer, "chat_template", None) else plain_turn_markers()
    prompts = [encode_prompt(tokenizer, *_as_pair(x), sp.max_input_length) for x in inputs]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    pick, stop, guard = _decoding_rules(sp, tokenizer, model, pad_id, markers)
    answers: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    starts = range(0, len(prompts), sp.batch_size)
    for b, start in enumerate(tqdm(starts, desc="generate", disable=not progress)):
        rows = order[start : start + sp.batch_size]
        batch = [prompts[i] for i in rows]
        n = max(len(p) for p in batch)
        ids = torch.tensor([[pad_id] * (n - len(p)) + p for p in batch], device=device)
        mask = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in batch], device=device)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(sp.seed + b)
            out = decode(model, ids, mask, max_new_tokens=sp.max_new_tokens, pick=pick,
                         stop=stop, guard=guard)  # fmt: skip
        for i, row in zip(rows, out, strict=True):
            text = tokenizer.decode(row, skip_special_tokens=True)
            # One kind of line break: a bare "\r" would split a row of every CSV it lands in.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            answers[i] = cut_at_next_turn(text, markers).strip()
    model.train(was_training)
    return answers


def _decoding_rules(sp: Sampling, tokenizer: Any, model: Any, pad_id: int, markers: list[str]):
    """(how the next token is picked, where a row stops, the repetition guard) for `sp`:
    the nucleus with temperature when sampling, else the most likely token."""
    from ecc_utils.endmodel.decoding import Guard, Stopping
    from ecc_utils.endmodel.nucleus import NucleusSampler

    if sp.do_sample and sp.temperature > 0:
        pick = NucleusSampler(sp.top_p, sp.temperature).sample
    else:
        pick = lambda logits: logits.argmax(-1)  # noqa: E731
    stops = frozenset(stop_token_ids(tokenizer, model))
    stop = Stopping(pad_id, stops, _turn_marker_stop(tokenizer, markers) if markers else None)
    return pick, stop, Guard(sp.repetition_penalty, sp.no_repeat_ngram_size)


def load_adapter(base_model: Any, checkpoint_dir: str | os.PathLike) -> Any:
    """`base_model` with the PEFT adapter saved in `checkpoint_dir` (e.g. ``runs/lora/checkpoint-30``).

    LoRA layers are injected into `base_model` in place; `unload_adapter` takes them out again.
    """
    from peft import PeftModel

    path = Path(checkpoint_dir)
    if not (path / "adapter_config.json").exists():
        raise FileNotFoundError(
            f"{path} holds no adapter (adapter_config.json); train this method first "
            "(notebook 03_train) or check the milestone step"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DEPRECATION_NOISE)
        # In the base model's dtype (PEFT would keep the adapter in float32, so a bfloat16
        # model would cast at every layer).
        model = PeftModel.from_pretrained(
            base_model, str(path), is_trainable=False, autocast_adapter_dtype=False
        )
    dtype = next(base_model.parameters()).dtype
    for p in model.parameters():
        if p.dtype != dtype and p.is_floating_point():
            p.data = p.data.to(dtype)
    return ready_for_inference(model)


def unload_adapter(peft_model: Any) -> Any:
    """The base model of `peft_model`, with any injected LoRA layers removed (weights untouched)."""
    if peft_model.peft_config[peft_model.active_adapter].is_prompt_learning:
        return peft_model.get_base_model()
    return peft_model.unload()


@contextlib.contextmanager
def adapter_applied(
    base_model: Any, checkpoint_dir: str | os.PathLike, merge: bool = False
) -> Iterator[Any]:
    """``with adapter_applied(base, ckpt) as model:`` generate with an adapter, then restore `base`.

    ``merge=True`` (inference only): a LoRA adapter is merged into a copy of the base model's
    weights, so answering costs what the base model costs (unmerged LoRA layers are slow in
    bfloat16 on a CPU); `base` is never modified. Prefix adapters cannot be merged.
    """
    if merge and not _is_prompt_learning(checkpoint_dir):
        import copy

        merged = load_adapter(copy.deepcopy(base_model), checkpoint_dir).merge_and_unload()
        yield ready_for_inference(merged)
        return
    model = load_adapter(base_model, checkpoint_dir)
    try:
        yield model
    finally:
        unload_adapter(model)


@contextlib.contextmanager
def answering_copy(model: Any, dtype: Any = None, reuse: dict | None = None) -> Iterator[Any]:
    """``with answering_copy(peft_model, dtype) as m:`` answer with what a trainable PEFT
    `model` has learnt so far, at inference speed: its LoRA adapter merged into a copy of the
    weights, cast to `dtype` (the profile's inference dtype; None keeps the model's), set up by
    `ready_for_inference`. `model` itself is never modified (the online loop keeps training
    it). A prefix adapter cannot be merged: then `model` itself, in eval mode.

    With a `reuse` dict (one per caller, kept between calls) the copy is made once per base
    model and dtype; later calls write only the LoRA layers' merged weights into it, computed
    as PEFT's merge computes them (base + delta in the training dtype, then cast): the same
    bits as a fresh copy, without copying the 268M weights again (0.5 s a call on two cores)."""
    import copy

    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and peft_config.is_prompt_learning:
        model.eval()
        yield model
        return
    held = reuse.get("copy") if reuse is not None else None
    if held is not None and reuse["base"] is _base_of(model) and reuse["dtype"] == dtype:
        _write_merged(model, held, dtype)
        yield held
        return
    merged = copy.deepcopy(model)
    if hasattr(merged, "merge_and_unload"):
        merged = merged.merge_and_unload()
    if dtype is not None:
        merged = merged.to(dtype)
    merged = ready_for_inference(merged)
    if reuse is not None and _only_lora_trains(model):
        reuse.update(copy=merged, base=_base_of(model), dtype=dtype)
        yield merged
        return
    try:
        yield merged
    finally:
        del merged


def _base_of(model: Any) -> Any:
    get = getattr(model, "get_base_model", None)
    return get() if get is not None else model


def _only_lora_trains(model: Any) -> bool:
    """Whether every weight that can change is a plain LoRA weight (no DoRA or other variant,
    no LoRA bias): then a merged copy differs from another merge of the same base in the LoRA
    layers' weights only."""
    from peft.tuners.lora import LoraLayer

    if not hasattr(model, "merge_and_unload"):
        return False
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    plain = all(not m.lora_variant and not any(m.lora_bias.values()) for m in layers)
    return plain and all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def _write_merged(model: Any, merged: Any, dtype: Any) -> None:
    """Write each LoRA layer of `model`, merged as PEFT merges it, into the same layer of the
    earlier merged copy `merged`."""
    import torch
    from peft.tuners.lora import LoraLayer

    layers = dict(merged.named_modules())
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            base = module.get_base_layer()
            weight = base.weight.data.clone()
            for adapter in module.active_adapters:
                weight += module.get_delta_weight(adapter).to(weight.dtype)
            target = layers[name.removeprefix("base_model.model.")]
            target.weight.copy_(weight if dtype is None else weight.to(dtype))


def _is_prompt_learning(checkpoint_dir: str | os.PathLike) -> bool:
    import json

    cfg = json.loads((Path(checkpoint_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    return cfg.get("peft_type") in ("PREFIX_TUNING", "P_TUNING", "PROMPT_TUNING")
