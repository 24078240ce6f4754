"""Calibration: raw scorer outputs mapped to [0, 1] against seeded reference pairs.

The raw scores of the offline e5 scorers are compressed (the cosine of two unrelated
customer-service texts is about 0.9), so Eq. (1) and its Theta = 0.2 threshold would be
meaningless on them; `fit_calibrator` fixes the scale (see `Calibrator`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecc_utils.encoders import _same_length, _texts
from ecc_utils.records import atomic_write_text

if TYPE_CHECKING:
    from ecc_utils.scoring.scorers import Embedder, Matcher


@dataclass(frozen=True)
class ScoreMap:
    """A monotone map from raw scores to [0, 1].

    kind "identity": x unchanged. "linear": clip((x - lo) / (hi - lo), 0, 1).
    "logistic": 1 / (1 + exp(-(slope * x + intercept))).
    """

    kind: str = "identity"
    lo: float = 0.0
    hi: float = 1.0
    slope: float = 1.0
    intercept: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("identity", "linear", "logistic"):
            raise ValueError(f"kind={self.kind!r}: use 'identity', 'linear' or 'logistic'")
        if self.kind == "linear" and not self.hi > self.lo:
            raise ValueError(f"linear map needs hi > lo, got lo={self.lo}, hi={self.hi}")

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        if self.kind == "identity":
            y = x
        elif self.kind == "linear":
            y = np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        else:
            y = 1.0 / (1.0 + np.exp(-(self.slope * x + self.intercept)))
        return float(y) if y.ndim == 0 else y

    @classmethod
    def baseline(cls, random_scores: Sequence[float], top: float = 1.0) -> ScoreMap:
        """Linear rescaling against unrelated pairs: their mean -> 0, `top` -> 1.

        BERTScore's baseline rescaling (Zhang et al. 2020); top = 1 is the cosine of a
        text with itself.
        """
        r = np.asarray(random_scores, dtype=float)
        if r.size == 0:
            raise ValueError("random_scores: empty; need reference scores of unrelated pairs")
        return cls("linear", lo=float(r.mean()), hi=float(top))

    @classmethod
    def logistic_fit(
        cls, random_scores: Sequence[float], true_scores: Sequence[float], l2: float = 1e-3
    ) -> ScoreMap:
        """Platt scaling: P(true pair | score), a logistic fitted by Newton's method.

        Deterministic (no sampling inside); classes weighted equally, so a score halfway
        between the two groups maps to about 0.5. The small `l2` keeps the fit finite when
        the two groups do not overlap.
        """
        r = np.asarray(random_scores, dtype=float)
        t = np.asarray(true_scores, dtype=float)
        if r.size == 0 or t.size == 0:
            raise ValueError("logistic_fit: needs scores of both random and true pairs")
        x = np.concatenate([r, t])
        y = np.concatenate([np.zeros(r.size), np.ones(t.size)])
        w = np.concatenate([np.full(r.size, 0.5 / r.size), np.full(t.size, 0.5 / t.size)])
        mu, sd = x.mean(), max(x.std(), 1e-9)
        z = (x - mu) / sd  # standardised for a well-conditioned Newton step
        beta = np.zeros(2)
        X = np.stack([z, np.ones_like(z)], axis=1)
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(X @ beta)))
            grad = X.T @ (w * (p - y)) + l2 * np.array([beta[0], 0.0])
            H = (X * (w * p * (1 - p))[:, None]).T @ X + l2 * np.diag([1.0, 1e-9])
            step = np.linalg.solve(H, grad)
            beta -= step
            if np.abs(step).max() < 1e-10:
                break
        if beta[0] <= 0:
            warnings.warn(
                "calibration: true pairs do not score higher than random pairs on average; "
                "the matcher carries no signal on this reference set",
                stacklevel=2,
            )
        slope = beta[0] / sd
        return cls("logistic", slope=float(slope), intercept=float(beta[1] - slope * mu))


@dataclass(frozen=True)
class Calibrator:
    """Maps raw SimBERT-role and RocketQA-role scores to [0, 1] against reference pairs.

    The raw scores of the offline e5 scorers are compressed: the cosine of two unrelated
    customer-service texts is about 0.9, so Eq. (1) and its Theta = 0.2 threshold would be
    meaningless on them. `fit_calibrator` draws, with a fixed seed, random (mismatched)
    pairs from a reference set of (query, response) dialogues:

    * `sim` (SimBERT role) is rescaled like BERTScore's baseline: the mean cosine of two
      unrelated responses -> 0, identical texts (cosine 1) -> 1, clipped to [0, 1].
    * `match` (RocketQA role) is Platt-scaled: a logistic fitted to tell a query's true
      response from a random one, so the calibrated match is P(true pair | raw score), a
      probability like a cross-encoder's sigmoid output.

    `stats` keeps the raw reference statistics (means, standard deviations, counts) that
    the book shows. Serialisable: `to_json` / `from_json`, `save` / `load`.
    """

    sim: ScoreMap = field(default_factory=ScoreMap)
    match: ScoreMap = field(default_factory=ScoreMap)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"sim": asdict(self.sim), "match": asdict(self.match), "stats": self.stats}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(ScoreMap(**d["sim"]), ScoreMap(**d["match"]), dict(d.get("stats", {})))

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibrator:
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(
                f"{path}: not a calibration file written by Calibrator.save ({e})"
            ) from None


def _random_partners(texts: Sequence[str], n_pairs: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with texts[i] != texts[j] (ECD repeats short replies like '在的')."""
    n = len(texts)
    i = rng.integers(0, n, size=4 * n_pairs)
    j = (i + rng.integers(1, n, size=i.size)) % n
    keep = np.array([texts[a] != texts[b] for a, b in zip(i, j, strict=True)], dtype=bool)
    i, j = i[keep][:n_pairs], j[keep][:n_pairs]
    if i.size < min(n_pairs, 2):
        raise ValueError("calibration: fewer than 2 distinct responses in the reference set")
    return i, j


def _describe(x: np.ndarray) -> dict:
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "p05": float(np.percentile(x, 5)),
        "p50": float(np.percentile(x, 50)),
        "p95": float(np.percentile(x, 95)),
    }


def fit_calibrator(
    embedder: Embedder,
    matcher: Matcher,
    queries: Sequence[str],
    responses: Sequence[str],
    n_pairs: int = 500,
    seed: int = 0,
    calibrate_match: bool | None = None,
) -> Calibrator:
    """Fit a `Calibrator` on reference dialogues: `responses[i]` is the true reply to `queries[i]`.

    Draws `n_pairs` true pairs and as many random pairs (seeded, so the same inputs give the
    same calibration). `calibrate_match` defaults to False for a cross-encoder (already a
    probability) and True for every other matcher; the raw statistics are kept anyway.
    """
    q, r = _texts(queries, "queries"), _texts(responses, "responses")
    _same_length(queries=q, responses=r)
    if len(q) < 2:
        raise ValueError(f"queries: {len(q)} reference dialogues; need at least 2")
    rng = np.random.default_rng(seed)
    i, j = _random_partners(r, n_pairs, rng)
    sim_random = embedder.similarity([r[a] for a in i], [r[b] for b in j])
    match_true = matcher.match([q[a] for a in i], [r[a] for a in i])
    match_random = matcher.match([q[a] for a in i], [r[b] for b in j])
    if calibrate_match is None:
        calibrate_match = matcher.kind != "cross"  # a cross-encoder's sigmoid is a probability
    match_map = ScoreMap.logistic_fit(match_random, match_true) if calibrate_match else ScoreMap()
    stats = {
        "embedder": embedder.spec,
        "matcher": matcher.spec,
        "seed": seed,
        "n_reference": len(q),
        "sim_random": _describe(sim_random),
        "match_true": _describe(match_true),
        "match_random": _describe(match_random),
    }
    return Calibrator(ScoreMap.baseline(sim_random), match_map, stats)
