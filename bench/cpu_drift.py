"""What moves between CPUs: fingerprints of the same seeded arithmetic, to compare across machines.

For fixed seeded inputs, each check prints a short hash of its result (equal hashes: bit-equal
results), and for the retrieval case the spread among rows that are identical copies and which
copy wins the argmax. Run it on two machines (or here with narrowed features) and compare:

    python bench/cpu_drift.py --tag epyc --out bench/results
    ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE python bench/cpu_drift.py --tag epyc-narrowed

Checks: float32 retrieval (``Q @ M.T``) with numpy as a plain user writes it, against
`ecc_utils.numerics.pairwise_dots` (float64, rounded); float32 row-wise cosines (``einsum``)
against `numerics.row_dots`; torch's float32 linear layer, softmax and a bfloat16 matrix product
(where AMX and AVX512-BF16 kernels differ). Needs numpy; torch is optional.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ecc_utils.numerics import pairwise_dots, row_dots  # noqa: E402

VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR", "OMP_NUM_THREADS",
             "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")  # fmt: skip


def digest(x) -> str:
    return hashlib.md5(np.ascontiguousarray(x).tobytes()).hexdigest()[:10]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="ignore").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ";".join(f"{i['internal_api']}:{i.get('architecture')}" for i in threadpool_info())
    except ImportError:
        return "unknown"


def numpy_checks() -> list[tuple[str, str]]:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((7, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    m = np.concatenate([base] * 6)  # 42 rows: each of 7 vectors six times, as duplicate examples
    q = rng.standard_normal((24, 384)).astype(np.float32)
    s32, s64 = q @ m.T, pairwise_dots(q, m)
    spread = lambda s: max(float(np.ptp(s[:, j::7], axis=1).max()) for j in range(7))  # noqa: E731
    a, b = m[:24], q
    return [
        ("retrieval float32 (Q @ M.T)", digest(s32)),
        ("retrieval float32: spread among identical rows", f"{spread(s32):.3g}"),
        (
            "retrieval float32: argmax of the first 6 queries",
            " ".join(str(int(np.argmax(r))) for r in s32[:6]),
        ),  # fmt: skip
        ("retrieval numerics.pairwise_dots", digest(s64)),
        ("retrieval numerics: spread among identical rows", f"{spread(s64):.3g}"),
        (
            "retrieval numerics: argmax of the first 6 queries",
            " ".join(str(int(np.argmax(r))) for r in s64[:6]),
        ),  # fmt: skip
        ("cosines float32 (einsum)", digest(np.einsum("ij,ij->i", a, b))),
        ("cosines numerics.row_dots", digest(row_dots(a, b))),
    ]


def torch_checks() -> list[tuple[str, str]]:
    try:
        import torch
    except ImportError:
        return [("torch", "not installed")]
    torch.manual_seed(0)
    lin = torch.nn.Linear(640, 1000)
    x = torch.randn(8, 37, 640)
    with torch.no_grad():
        y = lin(x)
        out = [("torch version", torch.__version__),
               ("torch kernels", torch.backends.cpu.get_cpu_capability()),
               ("torch float32 linear", digest(y.numpy())),
               ("torch float32 softmax", digest(torch.softmax(x, -1).numpy())),
               ("torch bfloat16 matmul", digest((x.bfloat16() @ x.bfloat16().transpose(1, 2))
                                                .float().numpy()))]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tag", required=True, help="a name for this machine and setting")
    ap.add_argument("--out", type=Path, help="folder for cpu_drift_<tag>.csv")
    args = ap.parse_args(argv)
    rows = [("cpu", cpu_model()), ("blas kernel", blas_kernel()), ("numpy", np.__version__),
            ("variables", " ".join(f"{k}={os.environ[k]}" for k in VARIABLES
                                   if k in os.environ) or "none")]  # fmt: skip
    rows += numpy_checks() + torch_checks()
    for check, value in rows:
        print(f"{check:52s} {value}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / f"cpu_drift_{args.tag}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["tag", "check", "value"])
            w.writerows((args.tag, c, v) for c, v in rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
