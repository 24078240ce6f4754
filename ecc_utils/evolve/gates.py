"""The gates: which queries of a round go to the cloud for a pseudo-label, and below what.

* ``cloud`` (the paper): every query is also sent to the cloud so the answer can be scored with
  Eq. (1); its gate score is the final score.
* ``match-only`` (our extension): only the query-answer match (RocketQA role) is computed on the
  device; its gate score is the match, so confident answers never leave the device.

The threshold rule (profile section `evolve`, exactly one of):

* ``escalate_percentile: p`` (the shipped profiles, p = 25): a gate escalates a query whose gate
  score falls below the p-th percentile of *its first round's* gate scores (linear
  interpolation, `numpy.percentile`). About p % of the first round is escalated; the threshold
  is then fixed, so an end model that improves shows as fewer escalations in later rounds. The
  same rule serves both gates, so the match-only gate escalates something even when its
  calibrated matches all sit above Theta. Ties at the percentile are not escalated (strictly
  below), so a round of equal scores escalates nothing.
* ``threshold: t`` (a fixed score, the paper's "preset threshold", whose value the paper does
  not give): the cloud gate escalates a final score below t, the match-only gate a match
  below ``scoring.theta``.

A simulated dissatisfaction signal (`Dissatisfaction`) escalates a query too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecc_utils.config import GATES
from ecc_utils.paper import THETA
from ecc_utils.records import Example

if TYPE_CHECKING:
    from ecc_utils.config import EvolveConfig


def escalate(
    score: np.ndarray, threshold: float, dissatisfied: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of the queries a gate sends to the cloud for a pseudo-label: those whose
    gate score (the cloud gate's Eq. (1) final score, the match-only gate's match) falls
    strictly below the gate's `threshold` (`gate_threshold`), or whose user is `dissatisfied`."""
    mask = np.asarray(score) < threshold
    if dissatisfied is not None:
        mask = mask | np.asarray(dissatisfied, dtype=bool)
    return mask


def gate_threshold(
    gate: str, ev: EvolveConfig, first_scores: Sequence[float], theta: float = THETA
) -> float:
    """The threshold `gate` escalates below for the whole loop, set at its first round from
    that round's gate scores `first_scores` (see the module's threshold rule)."""
    if gate not in GATES:
        raise ValueError(f"gate={gate!r}: one of {', '.join(GATES)}")
    if ev.escalate_percentile is not None:
        scores = np.asarray(first_scores, dtype=float)
        if scores.size == 0:
            raise ValueError(f"gate {gate}: no first-round scores to take a percentile of")
        return float(np.percentile(scores, ev.escalate_percentile))
    if ev.threshold is None:
        raise ValueError("evolve: neither threshold nor escalate_percentile is set")
    return float(ev.threshold) if gate == "cloud" else float(theta)


def threshold_rule(ev: EvolveConfig, theta: float = THETA) -> str:
    """The rule in words, for the page and `evolution_summary.json`."""
    if ev.escalate_percentile is not None:
        return (
            f"escalate a query whose gate score is below the {ev.escalate_percentile:g}th "
            "percentile of the gate's first-round scores (fixed for later rounds)"
        )
    return (
        f"fixed: escalate an Eq. (1) final score below {ev.threshold:g} (cloud gate) or a "
        f"match below theta = {theta:g} (match-only gate)"
    )


@dataclass
class Dissatisfaction:
    """A simulated unhappy user, from the data's labels (ECD's true and false candidates).

    The user of query `id` is dissatisfied when the end model's answer is closer (by the
    embedder) to one of the corpus's false replies for that context than to the true one.
    Queries without candidates never complain. Call it as ``d(batch, answers) -> bool array``.
    """

    candidates: dict[str, tuple[list[str], int]]  # id -> (candidate replies, true index)
    embedder: Any

    @classmethod
    def from_jsonl(cls, path: str | Path, embedder: Any) -> Dissatisfaction:
        from ecc_utils.records import iter_jsonl

        rows = iter_jsonl(path) if Path(path).is_file() else []
        return cls({r["id"]: (r["candidates"], int(r["true_index"])) for r in rows}, embedder)

    def __call__(self, batch: Sequence[Example], answers: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(batch), dtype=bool)
        for i, (e, a) in enumerate(zip(batch, answers, strict=True)):
            if e.id in self.candidates:
                cands, true = self.candidates[e.id]
                sims = self.embedder.similarity([a] * len(cands), cands)
                out[i] = int(np.argmax(sims)) != true
        return out
