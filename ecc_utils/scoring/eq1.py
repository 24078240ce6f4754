"""Eq. (1) of the paper with the Theta rule, and the `Scorer` that applies it to answers.

    final_score = alpha * SimBERT(end output, cloud output)
                  + (1 - alpha) * RocketQA(user input, end output),

except where the cloud output's own RocketQA score, RocketQA(user input, cloud output), is
below theta: there the SimBERT score alone is used (the paper's Theta rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecc_utils.encoders import _same_length, _texts
from ecc_utils.paper import ALPHA, THETA
from ecc_utils.scoring.calibration import Calibrator
from ecc_utils.scoring.scorers import make_scorers

if TYPE_CHECKING:
    from ecc_utils.config import ScoringConfig


def _check_unit(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise ValueError(
            f"{name}={value!r}: must be a number in [0, 1] "
            f"(the paper uses alpha={ALPHA}, theta={THETA})"
        )


def final_score(sim, match, cloud_match, alpha: float = ALPHA, theta: float = THETA):
    """Eq. (1) with the Theta rule, element-wise over arrays (scalars give a float).

    final = sim                               where cloud_match < theta
          = alpha * sim + (1 - alpha) * match otherwise.

    `sim` = SimBERT(end output, cloud output), `match` = RocketQA(user input, end output),
    `cloud_match` = RocketQA(user input, cloud output). alpha or theta outside [0, 1] is a
    ValueError.
    """
    _check_unit("alpha", alpha)
    _check_unit("theta", theta)
    s, m, c = np.broadcast_arrays(
        np.asarray(sim, dtype=float), np.asarray(match, dtype=float), np.asarray(cloud_match, float)
    )
    out = np.where(c < theta, s, alpha * s + (1.0 - alpha) * m)
    return float(out) if out.ndim == 0 else out


@dataclass
class Scorer:
    """Eq. (1) from an embedder (SimBERT role), a matcher (RocketQA role), an optional
    `Calibrator` for both, and alpha and theta (the paper's 0.8 and 0.2 by default).

    `embedder` needs ``similarity(a, b)``, `matcher` ``match(queries, answers)``: the
    `Embedder` and `Matcher` of this package, or stand-ins in tests.
    """

    embedder: Any
    matcher: Any
    calibrator: Calibrator | None = None
    alpha: float = ALPHA
    theta: float = THETA

    def __post_init__(self) -> None:
        _check_unit("alpha", self.alpha)
        _check_unit("theta", self.theta)

    @classmethod
    def from_config(
        cls, cfg: ScoringConfig, calibrator: Calibrator | None = None, device: str | None = None
    ) -> Scorer:
        """The scorer of profile section `scoring`: its embedder, matcher, alpha and theta."""
        embedder, matcher = make_scorers(cfg.embedder, cfg.matcher, device=device)
        return cls(embedder, matcher, calibrator, cfg.alpha, cfg.theta)

    def match(self, queries: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """The (calibrated) RocketQA-role score of answers[i] for queries[i]."""
        raw = self.matcher.match(list(queries), list(answers))
        return self.calibrator.match(raw) if self.calibrator is not None else np.asarray(raw)

    def score(
        self, queries: Sequence[str], end_answers: Sequence[str], cloud_answers: Sequence[str]
    ) -> pd.DataFrame:
        """Score end-model answers by Eq. (1); one row per (query, end answer, cloud answer).

        Columns: sim_raw, match_raw, cloud_match_raw (the scorers' outputs), sim, match,
        cloud_match (calibrated when there is a calibrator, else equal to the raw ones),
        theta_rule (True where cloud_match < theta, so final = sim) and final_score.
        """
        q = _texts(queries, "queries")
        e = _texts(end_answers, "end_answers")
        c = _texts(cloud_answers, "cloud_answers")
        _same_length(queries=q, end_answers=e, cloud_answers=c)
        cal = self.calibrator or Calibrator()
        df = pd.DataFrame(
            {
                "sim_raw": self.embedder.similarity(e, c),
                "match_raw": self.matcher.match(q, e),
                "cloud_match_raw": self.matcher.match(q, c),
            }
        )
        df["sim"] = cal.sim(df["sim_raw"].to_numpy())
        df["match"] = cal.match(df["match_raw"].to_numpy())
        df["cloud_match"] = cal.match(df["cloud_match_raw"].to_numpy())
        df["theta_rule"] = df["cloud_match"] < self.theta
        df["final_score"] = final_score(
            df["sim"], df["match"], df["cloud_match"], self.alpha, self.theta
        )
        return df


def score_table(
    inputs: Sequence,
    queries: Sequence[str],
    cloud_answers: Sequence[str],
    answers: dict[str, Sequence[str]],
    scorer: Scorer,
) -> pd.DataFrame:
    """`Scorer.score` for every model: one row per (input, model), the layout of `scores.csv`.

    `inputs` are the evaluation Examples (for id and Table VI label), `queries` the user inputs
    as the scorers see them, `answers[model]` the end answers in input order. Columns: id,
    label, model, query, end_output, cloud_output and those of `Scorer.score`.
    """
    frames = []
    for model, end in answers.items():
        _same_length(inputs=inputs, queries=queries, cloud_answers=cloud_answers, answers=end)
        df = scorer.score(queries, end, cloud_answers)
        df.insert(0, "cloud_output", list(cloud_answers))
        df.insert(0, "end_output", list(end))
        df.insert(0, "query", list(queries))
        df.insert(0, "model", model)
        df.insert(0, "label", [getattr(e, "label", None) for e in inputs])
        df.insert(0, "id", [getattr(e, "id", i) for i, e in enumerate(inputs)])
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
