"""Top-p (nucleus) sampling with temperature, exactly as transformers defines it, without
sorting the vocabulary at every step.

transformers' `TopPLogitsWarper` sorts all logits of every row at every step and then draws
from the whole vocabulary; with Gemma's 262k tokens that sort and draw cost more than the
model's own forward pass on a CPU. The nucleus of a top-p of 0.8 almost always lies within a
few dozen tokens, so `NucleusSampler` takes the `candidates` largest logits (a partial
selection), normalises them against the full softmax, and keeps the same tokens the warper
keeps: a token stays when the probability mass of the tokens ranked above it is below top_p
(the most likely token always stays). A row whose nucleus is wider than `candidates` falls
back to the full sort, so the kept set and the probabilities are always the warper's. Only the
random stream differs from transformers' own sampler (it draws among the kept tokens, not among
the whole vocabulary), so the same seed gives other (equally distributed) text.

`NucleusSampler.sample` draws the next tokens for `ecc_utils.endmodel.decoding`; called as a logits
processor it returns scores in which only the drawn token is finite (for a greedy `generate`).
"""

from __future__ import annotations

import torch


def nucleus_mask(scores: torch.Tensor, top_p: float, candidates: int = 256) -> torch.Tensor:
    """Boolean (rows, vocab) mask of the tokens that top-p keeps for each row of `scores`
    (already divided by the temperature); the same set as transformers' `TopPLogitsWarper`."""
    rows, vocab = scores.shape
    if top_p >= 1.0:  # the warper removes nothing
        return torch.ones_like(scores, dtype=torch.bool)
    k = min(candidates, vocab)
    top, idx = torch.topk(scores, k, dim=-1)
    probs = torch.exp(top - torch.logsumexp(scores, dim=-1, keepdim=True))
    before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above each one
    keep_top = before < top_p
    keep_top[:, 0] = True
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask.scatter_(1, idx, keep_top)
    wide = (before[:, -1] + probs[:, -1]) < top_p  # the nucleus may reach past `candidates`
    if k < vocab and bool(wide.any()):
        full = scores[wide]
        order = torch.sort(full, dim=-1, descending=True)
        p = torch.softmax(order.values, dim=-1)
        keep = (torch.cumsum(p, dim=-1) - p) < top_p
        keep[:, 0] = True
        sub = torch.zeros_like(full, dtype=torch.bool)
        sub.scatter_(1, order.indices, keep)
        mask[wide] = sub
    return mask


class NucleusSampler:
    """A logits processor that draws the next token by top-p sampling at `temperature` and
    returns scores with only that token finite (pair it with greedy decoding)."""

    def __init__(self, top_p: float, temperature: float, candidates: int = 256):
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p={top_p}: must be in (0, 1]")
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be > 0 (use greedy decoding)")
        self.top_p, self.temperature, self.candidates = top_p, temperature, candidates

    def sample(self, scores: torch.Tensor) -> torch.Tensor:
        """One token id per row of `scores`, drawn from its nucleus (global torch RNG)."""
        scaled = scores.float() / self.temperature
        mask = nucleus_mask(scaled, self.top_p, self.candidates)
        k = int(mask.sum(dim=-1).max())
        top, idx = torch.topk(scaled.masked_fill(~mask, float("-inf")), k, dim=-1)
        choice = torch.multinomial(torch.softmax(top, dim=-1), 1)
        return idx.gather(1, choice).squeeze(1)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """As a logits processor: scores with only the drawn token finite."""
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, self.sample(scores)[:, None], 0.0)
