"""The playground's logic: one customer message through an end model, the teacher and Eq. (1).

`Playground.exchange` answers a message with one end model (the original or any trained
milestone), asks the profile's teacher through its cache (the message masked first, as in
notebook 02), and scores the answer: the raw similarity, match and cloud match of Eq. (1).
`decide` turns those into the final score, the Theta rule and the cloud gate's decision for
any alpha, Theta and threshold, without recomputing a model: the sliders of the playground
notebook call only `decide`. The widgets themselves are in `ecc_utils.playground.ui`.

The pieces (an end model's answer, the teacher's answer, the scorer) are passed in, so that
the logic is tested with stand-ins; `Playground.from_profile` builds the real ones lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ecc_utils.paper import ALPHA, THETA
from ecc_utils.scoring.eq1 import _check_unit, final_score

if TYPE_CHECKING:
    from ecc_utils.artifacts import Artifacts
    from ecc_utils.config import Profile

__all__ = ["Decision", "Exchange", "GateSettings", "Playground", "decide", "summary"]


@dataclass(frozen=True)
class GateSettings:
    """What the sliders set: Eq. (1)'s alpha and Theta, and the cloud gate's threshold."""

    alpha: float = ALPHA
    theta: float = THETA
    threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("alpha", "theta", "threshold"):
            _check_unit(name, getattr(self, name))


@dataclass(frozen=True)
class Exchange:
    """One message answered by one end model and by the teacher, with Eq. (1)'s inputs
    (calibrated when the profile calibrates): sim = SimBERT-role(end, cloud), match =
    RocketQA-role(message, end), cloud_match = RocketQA-role(message, cloud)."""

    model: str
    message: str
    answer: str
    teacher_answer: str
    sim: float
    match: float
    cloud_match: float


@dataclass(frozen=True)
class Decision:
    final: float
    theta_rule: bool  # the cloud answer's own match is below Theta: final = sim
    escalate: bool  # the cloud gate sends the message to the cloud (final < threshold)

    def explain(self, settings: GateSettings) -> str:
        rule = (
            f"the cloud answer's match is below Theta = {settings.theta:g}, so final = sim"
            if self.theta_rule
            else f"final = {settings.alpha:g} x sim + {1 - settings.alpha:g} x match"
        )
        gate = "escalates to the cloud" if self.escalate else "keeps the end model's answer"
        return (
            f"{rule}; final {self.final:.3f} vs threshold {settings.threshold:g}: the gate {gate}"
        )


def decide(ex: Exchange, settings: GateSettings) -> Decision:
    """Eq. (1) with the Theta rule and the cloud gate's decision for `settings`."""
    final = float(final_score(ex.sim, ex.match, ex.cloud_match, settings.alpha, settings.theta))
    return Decision(
        final=final,
        theta_rule=ex.cloud_match < settings.theta,
        escalate=final < settings.threshold,
    )


def summary(exchanges: list[Exchange], settings: GateSettings) -> pd.DataFrame:
    """One row per exchange: the answer, Eq. (1)'s numbers and the gate's decision under
    `settings` (what the playground shows; the sliders recompute only this)."""
    rows = []
    for ex in exchanges:
        d = decide(ex, settings)
        rows.append({"model": ex.model, "answer": ex.answer, "similarity": ex.sim,
                     "match": ex.match, "cloud match": ex.cloud_match, "final": d.final,
                     "Theta rule": d.theta_rule,
                     "cloud gate": "escalate" if d.escalate else "keep"})  # fmt: skip
    return pd.DataFrame(rows).set_index("model")


@dataclass
class Playground:
    """Answers, teacher answers and scores for typed messages.

    `answer(model, message)` is an end model's answer, `teach(message)` the teacher's (masked
    and cached), `scorer` a `scoring.Scorer` (its ``embedder.similarity`` and ``match``);
    `models` the labels `answer` accepts, the original model first.
    """

    models: list[str]
    answer: Callable[[str, str], str]
    teach: Callable[[str], str]
    scorer: Any
    _teacher_answers: dict[str, str] = field(default_factory=dict, repr=False)

    def teacher_answer(self, message: str) -> str:
        if message not in self._teacher_answers:
            self._teacher_answers[message] = self.teach(message)
        return self._teacher_answers[message]

    def exchange(self, model: str, message: str) -> Exchange:
        """`model`'s answer to `message`, the teacher's, and their Eq. (1) inputs."""
        if model not in self.models:
            raise ValueError(f"model={model!r}: one of {', '.join(self.models)}")
        if not message.strip():
            raise ValueError("message is empty: type a customer message")
        answer = self.answer(model, message)
        cloud = self.teacher_answer(message)
        row = self.scorer.score([message], [answer], [cloud]).iloc[0]
        return Exchange(model, message, answer, cloud, float(row["sim"]), float(row["match"]),
                        float(row["cloud_match"]))  # fmt: skip

    def compare(self, message: str) -> list[Exchange]:
        """Every model on the same message."""
        return [self.exchange(model, message) for model in self.models]

    @classmethod
    def from_profile(cls, cfg: Profile, art: Artifacts) -> Playground:
        """The profile's end model with every milestone adapter of ``art/runs``, its teacher
        (through the cache of notebook 02) and its scorer (calibrated as notebook 04 saved)."""
        from ecc_utils import cloud
        from ecc_utils.endmodel.generate import Sampling, adapter_applied, generate
        from ecc_utils.endmodel.load import load_end_model
        from ecc_utils.scoring import Scorer
        from ecc_utils.scoring.calibration import Calibrator

        base, tokenizer = load_end_model(cfg, inference=True, art=art)
        checkpoints = available_checkpoints(art, cfg)
        sampling = Sampling.from_profile(cfg)

        def answer(model: str, message: str) -> str:
            ckpt = checkpoints[model]
            if ckpt is None:
                return generate(base, tokenizer, [message], sampling)[0]
            with adapter_applied(base, ckpt, merge=True) as m:
                return generate(m, tokenizer, [message], sampling)[0]

        teacher = cloud.teacher_from_profile(
            cfg, art, art.read_split("fewshot"), progress=False, online=True
        )
        calibration = Path(art.calibration)
        calibrator = Calibrator.load(calibration) if calibration.is_file() else None
        scorer = Scorer.from_config(cfg.scoring, calibrator)
        return cls(list(checkpoints), answer, lambda m: teacher.label([m])[0].answer, scorer)


def available_checkpoints(art: Artifacts, cfg: Profile) -> dict[str, Any]:
    """The original model and each method's milestones that notebook 03 has written."""
    import dataclasses

    from ecc_utils.paper import ORIGINAL_LABEL

    have = {}
    for m in cfg.train.methods:
        found = art.checkpoints_on_disk(m, list(cfg.train.milestones.get(m, ())))
        if found:
            have[m] = tuple(sorted(found))
    if not have:
        return {ORIGINAL_LABEL: None}
    train = dataclasses.replace(cfg.train, methods=tuple(have), milestones=have)
    return art.checkpoints_by_model(train.methods, train.milestones)
