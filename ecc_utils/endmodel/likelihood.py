"""The end model's own likelihood of a reply given its dialogue.

`reply_logprobs` scores replies under exactly the prompt format and forward pass of training
(`endmodel.format`): the log-probability of each reply's tokens (its end-of-turn included) given
the dialogue context. Every prompt is run once and its key/value cache reused for all of its
replies (ten ECD candidates, or the human and the teacher reply), which is the bulk of the
cost on a CPU. Prefix-Tuning and P-Tuning v2 adapters enter as the key/value prefix that PEFT
itself prepends in training, so the numbers are those of the training loss. The metrics built
on it (perplexity, response selection, the likelihood matcher) are in `scoring.likelihood`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecc_utils.endmodel.decoding import prefix_of
from ecc_utils.endmodel.format import encode_prompt, encode_response
from ecc_utils.endmodel.head import to_positions, vocabulary_of
from ecc_utils.records import Turn

Prompt = tuple[Sequence[Turn], str]  # (context, query)
EMPTY_PROMPT: Prompt = ((), "")  # the "reply alone" of PMI: an empty customer turn


@dataclass(frozen=True)
class ReplyScores:
    """Per reply: summed log-probability of its tokens and their number."""

    logprob: np.ndarray
    tokens: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.logprob / np.maximum(self.tokens, 1)


def _head(core: Any):
    """(decoder, output head, final logit soft-capping) of a causal LM, so that vocabulary
    logits are computed only at the positions that are scored (replies are ragged)."""
    decoder, head = core.get_decoder(), core.get_output_embeddings()
    return decoder, head, getattr(core.config, "final_logit_softcapping", None)


def _logprobs(head: Any, cap: float | None, hidden: Any, targets: Any) -> Any:
    """log p(target) of each row of `hidden` (one position each) under the output head (over
    its kept tokens when it is trimmed)."""
    import torch

    logits = head(hidden).float()
    if cap:
        logits = torch.tanh(logits / cap) * cap
    columns = to_positions(head, targets)
    return logits.gather(-1, columns.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)


def _score_group(model: Any, prompt: list[int], replies: list[list[int]], pad_id: int, chunk: int):
    """Log-probabilities of every token of each reply after `prompt`; the prompt is run once
    and its cache copied for each chunk of replies, and the vocabulary head runs only on the
    positions that predict a reply token."""
    import copy

    import torch
    from transformers import DynamicCache

    core, make_prefix, n_prefix = prefix_of(model)
    decoder, head, cap = _head(core)
    device = next(model.parameters()).device
    longest = max(len(r) for r in replies)
    cache = make_prefix(1, len(prompt) + longest) if make_prefix else DynamicCache()
    ids = torch.tensor([prompt], device=device)
    mask = torch.ones(1, n_prefix + len(prompt), dtype=torch.long, device=device)
    out = decoder(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True)
    last = out.last_hidden_state[:, -1]  # predicts each reply's first token
    order = sorted(range(len(replies)), key=lambda i: len(replies[i]))  # little padding
    rows: list[list[float]] = [[] for _ in replies]
    for start in range(0, len(order), chunk):
        idx = order[start : start + chunk]
        part = [replies[i] for i in idx]
        n = max(len(r) for r in part)
        c = copy.deepcopy(out.past_key_values)
        c.batch_repeat_interleave(len(part))
        body = torch.tensor([r + [pad_id] * (n - len(r)) for r in part], device=device)
        keep = torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in part], device=device)
        full_mask = torch.cat([mask.expand(len(part), -1), keep], dim=1)
        hidden = decoder(input_ids=body, attention_mask=full_mask, past_key_values=c)
        scored = keep[:, 1:].bool()  # position t predicts token t + 1
        later = _logprobs(head, cap, hidden.last_hidden_state[:, :-1][scored], body[:, 1:][scored])
        first = _logprobs(head, cap, last.expand(len(part), -1), body[:, 0])
        later = later.tolist()
        k = 0
        for j, (i, r) in enumerate(zip(idx, part, strict=True)):
            rows[i] = [float(first[j]), *later[k : k + len(r) - 1]]
            k += len(r) - 1
    return rows


def reply_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    replies: Sequence[Sequence[str]],
    *,
    max_input_length: int,
    max_reply_tokens: int | None = None,
    chunk: int = 16,
) -> list[ReplyScores]:
    """For each prompt (context, query) and its replies: their summed log-probabilities and
    token counts, in order. Replies are cut to `max_reply_tokens` as in training; `chunk`
    replies are scored at once."""
    import torch

    if len(prompts) != len(replies):
        raise ValueError(f"{len(prompts)} prompts but {len(replies)} reply lists")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    vocab = vocabulary_of(model)
    was_training = model.training
    model.eval()
    results = []
    with torch.inference_mode():
        for (context, query), group in zip(prompts, replies, strict=True):
            ids = encode_prompt(tokenizer, context, query, max_input_length)
            toks = [encode_response(tokenizer, context, query, r) for r in group]
            toks = [t[:max_reply_tokens] if max_reply_tokens else t for t in toks]
            toks = [t or [pad] for t in toks]  # an empty reply still scores its end-of-turn
            if vocab is not None:  # a trimmed head: tokens it lacks are spelled in bytes
                toks = [vocab.fit(tokenizer, t) for t in toks]
            rows = _score_group(model, ids, toks, pad, chunk)
            results.append(
                ReplyScores(np.array([sum(r) for r in rows]), np.array([len(r) for r in rows]))
            )
    model.train(was_training)
    return results
