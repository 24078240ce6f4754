"""The end model's own likelihood of a reply given its dialogue.

`reply_logprobs` scores replies under exactly the prompt format and forward pass of training
(`endmodel.format`): the log-probability of each reply's tokens (its end-of-turn included) given
the dialogue context. Every prompt is run once and its key/value cache reused for all of its
replies (ten ECD candidates, or the human and the teacher reply), which is the bulk of the
cost on a CPU; prompts of similar length run together, left-padded, so that every forward
pass is wide enough to use the cores. Prefix-Tuning and P-Tuning v2 adapters enter as the key/value prefix that PEFT
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


# A forward pass of about this many (padded) tokens keeps two CPU cores busy: 16 x 64 tokens
# run 1.6 times as many tokens per second as 1 x 64, and more gain nothing (Gemma 3 270M).
_TOKENS = 1024
_BLOCK_REPLIES = 128  # replies of the prompts run together (sorted by length: little padding)


@dataclass(frozen=True)
class _Block:
    """Prompts scored together: their token ids and, per prompt, its replies' token ids."""

    prompts: list[list[int]]
    replies: list[list[list[int]]]


def _blocks(prompts: list[list[int]], replies: list[list[list[int]]], rows: int, fits):
    """(indices, block) of prompts sorted by length (little left padding), each block holding
    prompts until their replies reach `rows` (a prompt with more replies is a block alone).
    A block for which ``fits(block)`` is false is split into blocks of one prompt."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    runs: list[list[int]] = [[]]
    for i in order:
        if runs[-1] and sum(len(replies[j]) for j in runs[-1]) + len(replies[i]) > rows:
            runs.append([])
        runs[-1].append(i)
    for idx in runs:
        block = _Block([prompts[j] for j in idx], [replies[j] for j in idx])
        if len(idx) == 1 or fits(block):
            yield idx, block
        else:
            for j in idx:
                yield [j], _Block([prompts[j]], [replies[j]])


def _unpadded_window(model: Any):
    """Whether a block can be left-padded without changing any score: always, unless the model
    attends within a sliding window and has an adapter's key/value prefix. The window counts
    cache slots, padding included, so a padded row would lose sight of the prefix earlier than
    in training; a block whose prefix, longest prompt and longest reply fit in the window
    loses nothing (Gemma 3 270M: a window of 512)."""
    core, _, n_prefix = prefix_of(model)
    window = getattr(getattr(core, "config", None), "sliding_window", None)
    if not n_prefix or not window:
        return lambda block: True

    def fits(block: _Block) -> bool:
        longest = max((len(r) for rs in block.replies for r in rs), default=0)
        return n_prefix + max(len(p) for p in block.prompts) + longest <= window

    return fits


def _chunks(items: list, lengths: list[int], rows: int, tokens: int = _TOKENS):
    """Consecutive runs of `items` (sorted by length) of at most `rows` items whose padded
    size (items x longest) stays within `tokens`."""
    part: list = []
    for item, n in zip(items, lengths, strict=True):
        if part and (len(part) >= rows or (len(part) + 1) * n > tokens):
            yield part
            part = []
        part.append(item)
    if part:
        yield part


def _score_block(model: Any, block: _Block, pad_id: int, chunk: int) -> list[list[list[float]]]:
    """Log-probabilities of every token of each reply after its prompt. The block's prompts
    run once, left-padded together, and their cache rows are copied for each chunk of replies
    (sorted by length: little padding); positions count from each prompt's own start (after
    an adapter's prefix), as in training, and the vocabulary head runs only on the positions
    that predict a reply token."""
    import copy

    import torch
    from transformers import DynamicCache

    core, make_prefix, n_prefix = prefix_of(model)
    decoder, head, cap = _head(core)
    device = next(model.parameters()).device
    rows: list[list[list[float]]] = [[[] for _ in rs] for rs in block.replies]
    pairs = [(p, r) for p, rs in enumerate(block.replies) for r in range(len(rs))]
    if not pairs:
        return rows
    pairs.sort(key=lambda pr: len(block.replies[pr[0]][pr[1]]))
    lengths = [len(p) for p in block.prompts]
    n, g = max(lengths), len(lengths)
    longest = max(len(r) for rs in block.replies for r in rs)
    cache = make_prefix(g, n + longest) if make_prefix else DynamicCache()
    ids = torch.tensor([[pad_id] * (n - len(p)) + p for p in block.prompts], device=device)
    mask = torch.tensor([[0] * (n - k) + [1] * k for k in lengths], device=device)
    mask = torch.cat([torch.ones(g, n_prefix, dtype=mask.dtype, device=device), mask], 1)
    positions = n_prefix + (mask[:, n_prefix:].cumsum(-1) - 1).clamp(min=0)
    out = decoder(input_ids=ids, attention_mask=mask, position_ids=positions,
                  past_key_values=cache, use_cache=True)  # fmt: skip
    last = out.last_hidden_state[:, -1]  # predicts each reply's first token
    for part in _chunks(pairs, [len(block.replies[p][r]) for p, r in pairs], chunk):
        toks = [block.replies[p][r] for p, r in part]
        of = torch.tensor([p for p, _ in part], device=device)
        m = max(len(t) for t in toks)
        c = copy.deepcopy(out.past_key_values)
        c.reorder_cache(of)
        body = torch.tensor([t + [pad_id] * (m - len(t)) for t in toks], device=device)
        keep = torch.tensor([[1] * len(t) + [0] * (m - len(t)) for t in toks], device=device)
        start_at = torch.tensor([n_prefix + lengths[p] for p, _ in part], device=device)
        hidden = decoder(input_ids=body, attention_mask=torch.cat([mask[of], keep], 1),
                         position_ids=start_at[:, None] + torch.arange(m, device=device),
                         past_key_values=c).last_hidden_state  # fmt: skip
        scored = keep[:, 1:].bool()  # position t predicts token t + 1
        later = _logprobs(head, cap, hidden[:, :-1][scored], body[:, 1:][scored]).tolist()
        first = _logprobs(head, cap, last[of], body[:, 0]).tolist()
        k = 0
        for j, ((p, r), t) in enumerate(zip(part, toks, strict=True)):
            rows[p][r] = [first[j], *later[k : k + len(t) - 1]]
            k += len(t) - 1
    return rows


def reply_logprobs(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    replies: Sequence[Sequence[str]],
    *,
    max_input_length: int,
    max_reply_tokens: int | None = None,
    chunk: int = 64,
) -> list[ReplyScores]:
    """For each prompt (context, query) and its replies: their summed log-probabilities and
    token counts, in order. Replies are cut to `max_reply_tokens` as in training. Prompts of
    similar length run together until they have 128 replies; their replies are scored in
    runs of similar length, at most `chunk` at once and about 1024 padded tokens."""
    import torch

    if len(prompts) != len(replies):
        raise ValueError(f"{len(prompts)} prompts but {len(replies)} reply lists")
    if chunk < 1:
        raise ValueError(f"chunk={chunk}: must be >= 1")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    vocab = vocabulary_of(model)
    ids, toks = [], []
    for (context, query), group in zip(prompts, replies, strict=True):
        ids.append(encode_prompt(tokenizer, context, query, max_input_length))
        ts = [encode_response(tokenizer, context, query, r) for r in group]
        ts = [t[:max_reply_tokens] if max_reply_tokens else t for t in ts]
        ts = [t or [pad] for t in ts]  # an empty reply still scores its end-of-turn
        if vocab is not None:  # a trimmed head: tokens it lacks are spelled in bytes
            ts = [vocab.fit(tokenizer, t) for t in ts]
        toks.append(ts)
    results = [ReplyScores(np.zeros(0), np.zeros(0, dtype=int))] * len(prompts)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for where, block in _blocks(ids, toks, _BLOCK_REPLIES, _unpadded_window(model)):
            for i, rows in zip(where, _score_block(model, block, pad, chunk), strict=True):
                results[i] = ReplyScores(
                    np.array([sum(r) for r in rows]), np.array([len(r) for r in rows])
                )
    model.train(was_training)
    return results
