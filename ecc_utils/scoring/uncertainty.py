"""Uncertainty: seeded bootstrap intervals over inputs, and paired tests of the paper's claims.

Every estimate the book shows is a statistic of per-input values (a mean score, a perplexity,
a recall). `bootstrap` resamples the inputs with replacement (seeded, so the same inputs give
the same interval) and reports the percentile interval. A claim "model A beats model B" is
decided by `paired_test` on the *same* inputs: the statistic of A minus that of B, resampled
jointly, so the input-to-input variation that both models share cancels.

Verdicts: "supported" when the interval of the difference lies entirely on the claimed side
of zero, "contradicted" when it lies entirely on the other side, "inconclusive" otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
LEVEL = 0.95
VERDICTS = ("supported", "contradicted", "inconclusive")

Statistic = Callable[[np.ndarray], float]  # rows of the per-input arrays -> one number


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval (`level`, percentile method)."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def excludes(self, value: float = 0.0) -> bool:
        return not (self.low <= value <= self.high)


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    if n < 1:
        raise ValueError("bootstrap: no inputs to resample")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap(
    n: int,
    statistic: Statistic,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """Interval of ``statistic(idx)`` where `idx` indexes `n` inputs (resampled with
    replacement); the estimate is the statistic on all inputs in their order."""
    idx = _indices(n, resamples, seed)
    values = np.array([statistic(row) for row in idx], dtype=float)
    values = values[np.isfinite(values)]
    est = float(statistic(np.arange(n)))
    if values.size == 0:
        return Interval(est, float("nan"), float("nan"), n, level)
    lo, hi = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return Interval(est, float(lo), float(hi), n, level)


def mean_interval(values: Sequence[float], *, seed: int = 0, **kw) -> Interval:
    """The mean of per-input `values` with its bootstrap interval."""
    v = np.asarray(values, dtype=float)
    return bootstrap(len(v), lambda i: float(v[i].mean()), seed=seed, **kw)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two models on the same inputs: the difference of a statistic
    (claimed-better model minus the other, in the metric's own units) and the verdict."""

    claim: str
    metric: str
    better: str  # the model the claim says is better
    other: str
    difference: Interval
    higher_is_better: bool
    verdict: str

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "difference"}
        iv = self.difference
        return d | {"difference": iv.estimate, "low": iv.low, "high": iv.high, "n": iv.n}


def verdict(difference: Interval, higher_is_better: bool = True) -> str:
    """supported / contradicted / inconclusive from the interval of (claimed - other): the
    claim is supported when the whole interval lies on its better side of zero."""
    if not (np.isfinite(difference.low) and np.isfinite(difference.high)):
        return "inconclusive"
    better = difference.low > 0 if higher_is_better else difference.high < 0
    worse = difference.high < 0 if higher_is_better else difference.low > 0
    return "supported" if better else "contradicted" if worse else "inconclusive"


def paired_test(
    statistic_a: Statistic,
    statistic_b: Statistic,
    n: int,
    *,
    higher_is_better: bool = True,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    labels: tuple[str, str, str, str] = ("A is better than B", "metric", "A", "B"),
) -> Comparison:
    """Test "A is better than B" on the same `n` inputs: the interval of stat(A) - stat(B)
    under a joint bootstrap of the inputs (each resample draws the same inputs for both).

    `labels` = (claim, metric, name of A, name of B), for the table the book shows.
    """
    diff = bootstrap(n, lambda i: statistic_a(i) - statistic_b(i), seed=seed, resamples=resamples)
    claim, metric, a, b = labels
    return Comparison(claim, metric, a, b, diff, higher_is_better, verdict(diff, higher_is_better))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either is constant."""
    rx = _ranks(np.asarray(x, dtype=float))
    ry = _ranks(np.asarray(y, dtype=float))
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=float)
    ranks[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):  # ties share their average rank
        tied = v == value
        ranks[tied] = ranks[tied].mean()
    return ranks


# --- as text -------------------------------------------------------------------------------


def interval_text(iv: Interval | Mapping[str, float], digits: int = 3) -> str:
    """``0.123 [0.100, 0.150]`` from an Interval or a row with estimate, low, high."""
    get = (lambda k: getattr(iv, k)) if isinstance(iv, Interval) else (lambda k: iv[k])
    return f"{get('estimate'):.{digits}f} [{get('low'):.{digits}f}, {get('high'):.{digits}f}]"


def difference_text(row: Mapping[str, float], digits: int = 3) -> str:
    """A paired difference (difference, low, high) as ``+0.012 [-0.010, 0.034]``."""
    d = digits
    return f"{row['difference']:+.{d}f} [{row['low']:.{d}f}, {row['high']:.{d}f}]"
