"""Metrics built on the end model's likelihood of a reply (`endmodel.likelihood`): held-out
perplexity and response selection.

* `perplexity` inputs: per input, the summed negative log-likelihood and the token count
  (`endmodel.likelihood.reply_logprobs`);
* `selection_scores`: each ECD candidate scored three ways, summed log-probability,
  length-normalised mean log-probability, and pointwise mutual information against the reply
  alone (log p(reply | context) - log p(reply | an empty customer turn));
* `LikelihoodMatcher`: the likelihood as the RocketQA role's query-answer match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecc_utils.endmodel.reply_likelihood import EMPTY_PROMPT, Prompt, ReplyScores, reply_logprobs

__all__ = ["EMPTY_PROMPT", "LikelihoodMatcher", "Prompt", "ReplyScores", "length_scores",
           "reply_logprobs", "selection_scores"]  # fmt: skip


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
