"""The decoding loop behind `generate`: a key/value cache, positions and masks exactly as in
training, for the base model and every adapter.

We do not call transformers' `generate` on PEFT models. With transformers 5, PEFT's
prefix-tuning hook re-injects a fresh prefix cache at every step because `generate` keeps its
own, empty cache object: from the second token on, a Prefix-Tuning or P-Tuning v2 model saw
its prefix and the last token only, never the prompt (measured here: its answers did not
depend on the adapter at all). This loop builds the cache itself: the adapter's key/value
prefix (PEFT's `get_prompt`) when there is one, then the prompt, then one token per step,
with positions counted after the prefix as in the training forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ecc_utils.endmodel.head import to_ids, trimmed_head

PickNext = Callable[[Any], Any]  # (rows, vocab) logits -> (rows,) token ids


@dataclass(frozen=True)
class Stopping:
    """Where a row ends: at a token of `ids` (kept, like transformers does) or when
    `rows(new_tokens)` says so (one bool per row); afterwards it is padded with `pad_id`."""

    pad_id: int
    ids: frozenset[int] = field(default_factory=frozenset)
    rows: Callable[[Any], list[bool]] | None = None


@dataclass(frozen=True)
class Guard:
    """The repetition guard, on the answer's tokens only (not the prompt's).

    `repetition_penalty` > 1 (Keskar et al. 2019, as transformers'
    `RepetitionPenaltyLogitsProcessor`): a positive logit of a token already in the answer is
    divided by it, a negative one multiplied. `no_repeat_ngram_size` = n > 0 forbids any
    n-gram of tokens to occur twice in the answer (as transformers'
    `NoRepeatNGramLogitsProcessor`)."""

    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0

    def apply(self, logits: Any, new: list[Any]) -> Any:
        import torch

        if self.repetition_penalty != 1.0 and new:
            logits = penalise_repeats(logits, torch.stack(new, 1), self.repetition_penalty)
        if self.no_repeat_ngram_size and len(new) >= self.no_repeat_ngram_size:
            logits = ban_repeated_ngrams(logits, torch.stack(new, 1), self.no_repeat_ngram_size)
        return logits


def prefix_of(model: Any) -> tuple[Any, Callable[[int, int], Any] | None, int]:
    """(the module to call, a maker of the adapter's prefix cache or None, its length).

    For Prefix-Tuning and P-Tuning v2 the module is the base model and the prefix is PEFT's
    key/value prompt (what PEFT prepends in training); for anything else, the model itself.
    """
    cfg = getattr(model, "peft_config", {}).get(getattr(model, "active_adapter", None))
    peft_type = getattr(getattr(cfg, "peft_type", None), "value", None)
    if peft_type == "PREFIX_TUNING":
        n = cfg.num_virtual_tokens
        return (
            model.base_model,
            (lambda rows, length: model.get_prompt(rows, max_cache_len=length + n)),
            n,
        )
    return model, None, 0


def decode(
    model: Any,
    ids: Any,
    mask: Any,
    *,
    max_new_tokens: int,
    pick: PickNext,
    stop: Stopping,
    guard: Guard = Guard(),
) -> Any:
    """New tokens for a left-padded batch (`ids`, `mask`), one step at a time with a cache.

    `pick` chooses each row's next logit column after the `guard` (a token id, or with a
    trimmed head its position among the kept tokens); a row ends as `stop` says and is padded
    afterwards. Returns a (rows, steps) tensor of the new token ids.
    """
    import torch
    from transformers import DynamicCache

    core, make_prefix, n_prefix = prefix_of(model)
    rows, n = ids.shape
    device = ids.device
    cache = make_prefix(rows, n + max_new_tokens) if make_prefix else DynamicCache()
    full_mask = torch.cat([torch.ones(rows, n_prefix, dtype=mask.dtype, device=device), mask], 1)
    positions = n_prefix + (mask.long().cumsum(-1) - 1).clamp(min=0)
    out = core(input_ids=ids, attention_mask=full_mask, position_ids=positions,
               past_key_values=cache, use_cache=True, logits_to_keep=1)  # fmt: skip
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    stops = torch.tensor(sorted(stop.ids), device=device) if stop.ids else None
    head = trimmed_head(core)  # a trimmed head's logit columns are positions, not token ids
    new: list[Any] = []  # token ids
    picked: list[Any] = []  # their logit columns, which the guard works on
    position = positions[:, -1:]
    for _ in range(max_new_tokens):
        column = pick(guard.apply(out.logits[:, -1], picked))
        token = torch.where(finished, torch.full_like(column, stop.pad_id), to_ids(head, column))
        picked.append(column)
        new.append(token)
        if stops is not None:
            finished |= torch.isin(token, stops)
        if stop.rows is not None:
            finished |= torch.tensor(stop.rows(torch.stack(new, 1)), device=device)
        if bool(finished.all()):
            break
        full_mask = torch.cat([full_mask, torch.ones(rows, 1, dtype=mask.dtype, device=device)], 1)
        position = position + 1
        out = core(input_ids=token[:, None], attention_mask=full_mask, position_ids=position,
                   past_key_values=out.past_key_values, use_cache=True)  # fmt: skip
    if not new:
        return torch.zeros(rows, 0, dtype=ids.dtype, device=device)
    return torch.stack(new, 1)


def penalise_repeats(logits: Any, previous: Any, penalty: float) -> Any:
    """`logits` (rows, vocab) with the tokens of `previous` (rows, steps) made less likely."""
    seen = logits.gather(1, previous)
    seen = seen.where(seen < 0, seen / penalty).where(seen >= 0, seen * penalty)
    return logits.scatter(1, previous, seen)


def ban_repeated_ngrams(logits: Any, previous: Any, n: int) -> Any:
    """`logits` with -inf on every token that would repeat an n-gram of `previous` in its row."""
    rows = previous.tolist()
    logits = logits.clone()
    for r, toks in enumerate(rows):
        tail = tuple(toks[len(toks) - n + 1 :]) if n > 1 else ()
        banned = {toks[i + n - 1] for i in range(len(toks) - n + 1)
                  if tuple(toks[i : i + n - 1]) == tail}  # fmt: skip
        if banned:
            logits[r, list(banned)] = float("-inf")
    return logits
