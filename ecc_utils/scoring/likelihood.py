"""The end model's own likelihood of a reply: held-out perplexity and response selection.

`reply_logprobs` scores replies under exactly the prompt format and forward pass of training
(`train.format`): the log-probability of each reply's tokens (its end-of-turn included) given
the dialogue context. Every prompt is run once and its key/value cache reused for all of its
replies (ten ECD candidates, or the human and the teacher reply), which is the bulk of the
cost on a CPU. Prefix-Tuning and P-Tuning v2 adapters enter as the key/value prefix that PEFT
itself prepends in training, so the numbers are those of the training loss.

On top of it:

* `perplexity` inputs: per input, the summed negative log-likelihood and the token count;
* `selection_scores`: each ECD candidate scored three ways, summed log-probability,
  length-normalised mean log-probability, and pointwise mutual information against the reply
  alone (log p(reply | context) - log p(reply | an empty customer turn)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecc_utils.decoding import prefix_of
from ecc_utils.records import Turn
from ecc_utils.train.format import encode_prompt, encode_response

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
    """log p(target) of each row of `hidden` (one position each) under the output head."""
    import torch

    logits = head(hidden).float()
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)


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
    was_training = model.training
    model.eval()
    results = []
    with torch.inference_mode():
        for (context, query), group in zip(prompts, replies, strict=True):
            ids = encode_prompt(tokenizer, context, query, max_input_length)
            toks = [encode_response(tokenizer, context, query, r) for r in group]
            toks = [t[:max_reply_tokens] if max_reply_tokens else t for t in toks]
            toks = [t or [pad] for t in toks]  # an empty reply still scores its end-of-turn
            rows = _score_group(model, ids, toks, pad, chunk)
            results.append(
                ReplyScores(np.array([sum(r) for r in rows]), np.array([len(r) for r in rows]))
            )
    model.train(was_training)
    return results


def selection_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    candidates: Sequence[Sequence[str]],
    *,
    max_input_length: int,
) -> dict[str, list[np.ndarray]]:
    """The model as a response selector: per group, one score per candidate under "sum"
    (summed log-probability), "mean" (per token) and "pmi" (against the reply alone)."""
    cond = reply_logprobs(model, tokenizer, prompts, candidates, max_input_length=max_input_length)
    flat = [c for group in candidates for c in group]
    alone = reply_logprobs(
        model, tokenizer, [EMPTY_PROMPT], [flat], max_input_length=max_input_length
    )[0]
    out: dict[str, list[np.ndarray]] = {"sum": [], "mean": [], "pmi": []}
    start = 0
    for c in cond:
        k = len(c.logprob)
        out["sum"].append(c.logprob)
        out["mean"].append(c.mean)
        out["pmi"].append(c.logprob - alone.logprob[start : start + k])
        start += k
    return out


def length_scores(candidates: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """The length-only baseline: the shorter a candidate (in characters), the higher."""
    return [
        -np.array([len("".join(c.split())) for c in group], dtype=float) for group in candidates
    ]


class LikelihoodMatcher:
    """The end model's own likelihood as a query-answer matcher (the RocketQA role): the mean
    log-probability per token of the answer after the query as the customer's only turn.
    Raw values are log-probabilities; `calibration.fit_calibrator` maps them to [0, 1]."""

    kind = "likelihood"

    def __init__(self, model: Any, tokenizer: Any, max_input_length: int, spec: str = "end-model"):
        self.model, self.tokenizer, self.spec = model, tokenizer, spec
        self.max_input_length = max_input_length

    def match(self, queries: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """Mean log-probability of answers[i] after queries[i]; a query's answers are scored
        together (its prompt runs once)."""
        queries, answers = list(queries), list(answers)
        if len(queries) != len(answers):
            raise ValueError(f"{len(queries)} queries but {len(answers)} answers")
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(q, []).append(i)
        scores = reply_logprobs(
            self.model,
            self.tokenizer,
            [((), q) for q in groups],
            [[answers[i] for i in idx] for idx in groups.values()],
            max_input_length=self.max_input_length,
        )
        out = np.zeros(len(queries))
        for idx, s in zip(groups.values(), scores, strict=True):
            out[idx] = s.mean
        return out

    def __repr__(self) -> str:
        return f"LikelihoodMatcher({self.spec!r})"
