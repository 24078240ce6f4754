"""Dot products whose decisions are the same on any CPU.

A float32 matrix product's last digits depend on the BLAS kernel the processor selects (OpenBLAS
picks one per CPU family, numpy's own loops one per instruction set): measured here, two
identical rows of a float32 matrix multiplied by the same query differ by up to 1.3e-6 under
OpenBLAS's Haswell kernel and are equal under its SkylakeX kernel, so the same retrieval picks a
different one of two tied examples on another machine. Products of float32 numbers are exact in
float64, a float64 sum of a few hundred of them is off by about 1e-14 whatever the order, and
rounding to `DECIMALS` then makes equal inputs exactly equal, so ties resolve to the earlier row
and a threshold sees the same number everywhere. The cost is nil at this project's sizes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DECIMALS", "normalize_rows", "pairwise_dots", "row_dots"]

DECIMALS = 9


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def normalize_rows(x) -> np.ndarray:
    """Rows scaled to unit length (float32 out, the norm taken in float64); zero rows stay zero."""
    x = _f64(x)
    n = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]
    return (x / np.maximum(n, 1e-12)).astype(np.float32)


def row_dots(a, b) -> np.ndarray:
    """``a[i] . b[i]`` for each row, in float64, rounded to `DECIMALS`."""
    a, b = _f64(a), _f64(b)
    if a.shape != b.shape:
        raise ValueError(f"row_dots: shapes {a.shape} and {b.shape} differ")
    return np.round((a * b).sum(axis=1), DECIMALS)


def pairwise_dots(a, b) -> np.ndarray:
    """The matrix ``a @ b.T`` in float64, rounded to `DECIMALS`."""
    return np.round(_f64(a) @ _f64(b).T, DECIMALS)
