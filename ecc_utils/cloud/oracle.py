"""The oracle teacher (``teacher.backend: oracle``): the dialogue's own human reply as the
cloud's answer, the best any cloud model could do on these data.

It tests the online loop's gate apart from the quality of the offline teacher: with the knn
teacher the hard (low-scoring) queries may get worse pseudo-labels than random ones, which is
a property of that teacher, not of the gate. The oracle answers dialogue examples only (it has
no reply for a bare query, as the playground sends), costs nothing and calls nothing; the
query it records is the masked one, as every teacher's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ecc_utils import privacy
from ecc_utils.records import Example, LabelRecord

ORACLE = "oracle"


class OracleTeacher:
    """A `Teacher` look-alike whose answer to an example is its human reply (``response``)."""

    backend_name = ORACLE
    model = "human reply"
    mode = "live"

    def __init__(self) -> None:
        self.calls = 0

    def label_examples(self, examples: Sequence[Example]) -> list[LabelRecord]:
        out = []
        for e in examples:
            if not e.response.strip():
                raise ValueError(f"oracle teacher: example {e.id!r} has no human reply")
            out.append(LabelRecord(privacy.mask(e.query), e.response, ORACLE, self.model,
                                   id=e.id))  # fmt: skip
        self.calls += len(out)
        return out

    def label(self, queries: Sequence[str], *args, **kwargs) -> list[LabelRecord]:
        raise ValueError(
            "teacher.backend=oracle answers dialogue examples only (their human reply); a bare "
            f"query has none ({len(queries)} given): use another backend here"
        )

    def ledger(self, records: Sequence[LabelRecord]) -> dict:
        return {"backend": ORACLE, "labels": len(records), "cost_usd": 0.0}

    def summary(self) -> dict:
        return {"backend": ORACLE, "model": self.model, "mode": self.mode, "calls": self.calls,
                "cost_usd": 0.0}  # fmt: skip

    def close(self) -> None:
        return None
