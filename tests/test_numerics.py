"""Dot products that decide the same on any CPU (`ecc_utils.numerics`), and the bfloat16 rule
under a narrowed oneDNN."""

from __future__ import annotations

import numpy as np
import pytest

from ecc_utils.numerics import DECIMALS, normalize_rows, pairwise_dots, row_dots


def _duplicated(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = normalize_rows(rng.standard_normal((7, 384)))
    return rng.standard_normal((24, 384)).astype(np.float32), np.concatenate([base] * 6)


def test_identical_rows_tie_exactly_and_the_first_copy_wins() -> None:
    q, m = _duplicated()
    s = pairwise_dots(q, m)
    for j in range(7):
        assert (np.ptp(s[:, j::7], axis=1) == 0).all()
    assert (s.argmax(axis=1) < 7).all()  # ties go to the earliest copy


def test_summation_order_does_not_reach_the_rounded_result() -> None:
    """The same products summed in another order (what another BLAS kernel does) give the same
    rounded numbers; float32 sums in those orders differ."""
    q, m = _duplicated(1)
    perm = np.random.default_rng(2).permutation(q.shape[1])
    assert np.array_equal(pairwise_dots(q, m), pairwise_dots(q[:, perm], m[:, perm]))
    assert np.array_equal(row_dots(q, m[:24]), row_dots(q[:, perm], m[:24, perm]))
    blocked = sum(
        q[:, k : k + 16].astype(np.float32) @ m[:, k : k + 16].T for k in range(0, 384, 16)
    )
    assert not np.array_equal(q @ m.T, blocked)  # float32: the order shows in the last digits
    assert np.allclose(pairwise_dots(q, m), q.astype(float) @ m.astype(float).T, atol=10**-DECIMALS)


def test_row_dots_are_cosines_of_unit_rows_and_check_shapes() -> None:
    x = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]]))
    assert x.dtype == np.float32 and np.allclose(x[0], [0.6, 0.8]) and (x[1] == 0).all()
    assert np.allclose(row_dots(x, x), [1.0, 0.0, 1.0], atol=1e-7)
    with pytest.raises(ValueError, match="shapes"):
        row_dots(x, x[:2])


def test_a_narrowed_onednn_means_no_native_bfloat16(monkeypatch) -> None:
    from ecc_utils.endmodel.load import cpu_has_native_bf16

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    assert cpu_has_native_bf16() is False
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert cpu_has_native_bf16() is False
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    native = cpu_has_native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert cpu_has_native_bf16() is native  # a cap at or above bf16 changes nothing
