"""Bootstrap intervals and paired tests on constructed cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ecc_utils.scoring import uncertainty as U


def test_mean_interval_covers_the_mean_and_is_seeded():
    rng = np.random.default_rng(1)
    x = rng.normal(0.3, 0.1, size=200)
    iv = U.mean_interval(x, seed=0)
    assert iv.low < x.mean() < iv.high and iv.estimate == pytest.approx(x.mean())
    # about 2 standard errors on each side
    se = x.std() / np.sqrt(len(x))
    assert iv.high - iv.low == pytest.approx(2 * 1.96 * se, rel=0.2)
    assert U.mean_interval(x, seed=0) == iv
    assert U.mean_interval(x, seed=1) != iv


def _stat(values):
    v = np.asarray(values, dtype=float)
    return lambda idx: float(v[idx].mean())


def test_a_difference_far_outside_the_noise_is_supported():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, size=100)
    better = base + 0.5 + rng.normal(0, 0.05, size=100)  # paired: the shared noise cancels
    c = U.paired_test(_stat(better), _stat(base), 100, labels=("a > b", "m", "a", "b"))
    assert c.verdict == "supported" and c.difference.low > 0.4
    # and the reverse claim is contradicted
    c = U.paired_test(_stat(base), _stat(better), 100)
    assert c.verdict == "contradicted"


def test_an_identical_pair_is_inconclusive():
    x = np.random.default_rng(0).normal(size=50)
    c = U.paired_test(_stat(x), _stat(x), 50)
    assert c.verdict == "inconclusive" and c.difference.estimate == 0.0


def test_lower_is_better_flips_the_verdict():
    rng = np.random.default_rng(2)
    a = rng.normal(5, 1, size=80)
    b = a + 1.0
    assert U.paired_test(_stat(a), _stat(b), 80, higher_is_better=False).verdict == "supported"
    assert U.paired_test(_stat(b), _stat(a), 80, higher_is_better=False).verdict == "contradicted"
    row = U.paired_test(_stat(a), _stat(b), 80, higher_is_better=False).to_dict()
    assert row["difference"] == pytest.approx(-1.0) and row["high"] < 0 and row["n"] == 80


def test_spearman_with_ties_and_constants():
    assert U.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert U.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert U.spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833)
    assert np.isnan(U.spearman([1, 1, 1], [1, 2, 3]))


def test_empty_input_is_an_error():
    with pytest.raises(ValueError, match="no inputs"):
        U.mean_interval([])
