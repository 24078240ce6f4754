"""Top-p sampling without sorting the vocabulary keeps exactly transformers' nucleus."""

from __future__ import annotations

import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

from ecc_utils.endmodel.nucleus import NucleusSampler, nucleus_mask


def _hf_mask(scores, top_p):
    out = TopPLogitsWarper(top_p)(None, scores.clone())
    return torch.isfinite(out)


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.8, 0.95, 1.0])
def test_the_kept_tokens_are_the_warpers(top_p):
    g = torch.Generator().manual_seed(0)
    peaked = torch.randn(6, 5000, generator=g) * 4  # nucleus of a few tokens
    flat = torch.randn(3, 5000, generator=g) * 0.01  # nucleus wider than the candidates
    for scores in (peaked, flat):
        assert torch.equal(nucleus_mask(scores, top_p, candidates=64), _hf_mask(scores, top_p))


def test_sampling_follows_the_renormalised_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    sampler = NucleusSampler(top_p=0.8, temperature=1.0, candidates=2)
    torch.manual_seed(0)
    draws = [int(sampler(None, logits).argmax()) for _ in range(4000)]
    freq = [draws.count(k) / len(draws) for k in range(4)]
    # the nucleus is {0, 1} (0.5 before token 1 < 0.8, 0.8 before token 2 is not), renormalised
    assert freq[2] == freq[3] == 0.0
    assert freq[0] == pytest.approx(0.5 / 0.8, abs=0.03)
    out = sampler(None, logits)
    assert torch.isfinite(out).sum() == 1 and out.max() == 0.0


def test_temperature_sharpens_before_the_cut():
    logits = torch.log(torch.tensor([[0.4, 0.35, 0.25]]))
    # at temperature 0.2 the first token holds 63 % of the mass, past top_p = 0.5 on its own
    assert nucleus_mask(logits / 0.2, 0.5).tolist() == [[True, False, False]]
    assert nucleus_mask(logits, 0.5).tolist() == [[True, True, False]]
    with pytest.raises(ValueError, match="temperature"):
        NucleusSampler(0.8, 0.0)
