"""The playground's logic (no browser): Eq. (1), the Theta rule and the gate's decision for a
message answered by a stand-in end model against a known teacher answer, and the sliders."""

from __future__ import annotations

import numpy as np
import pytest

from ecc_utils.playground import Exchange, GateSettings, Playground, decide, summary
from ecc_utils.scoring import Scorer

TEACHER = "亲，可以换顺丰的哦"


class Overlap:
    """Stand-in scorers: similarity and match are the share of shared characters."""

    @staticmethod
    def _score(a: str, b: str) -> float:
        sa, sb = set(a), set(b)
        return len(sa & sb) / max(1, len(sa | sb))

    def similarity(self, a, b):
        return np.array([self._score(x, y) for x, y in zip(a, b, strict=True)])

    def match(self, q, a):
        return np.array([self._score(x, y) for x, y in zip(q, a, strict=True)])


def make(answers: dict[str, str], calls: list[str] | None = None) -> Playground:
    calls = calls if calls is not None else []

    def teach(message: str) -> str:
        calls.append(message)
        return TEACHER

    return Playground(list(answers), lambda model, _msg: answers[model], teach,
                      Scorer(Overlap(), Overlap()))  # fmt: skip


def test_exchange_scores_the_answer_against_the_teacher() -> None:
    pg = make({"Original Model": "好的", "LoRA-320": "亲，可以换顺丰哦"})
    ex = pg.exchange("LoRA-320", "我不想发邮政能换别的么")
    assert ex.teacher_answer == TEACHER and ex.answer == "亲，可以换顺丰哦"
    assert ex.sim == pytest.approx(Overlap._score(ex.answer, TEACHER))
    assert ex.match == pytest.approx(Overlap._score(ex.message, ex.answer))
    d = decide(ex, GateSettings(alpha=0.8, theta=0.0, threshold=0.5))
    assert d.final == pytest.approx(0.8 * ex.sim + 0.2 * ex.match)
    assert not d.theta_rule


def test_the_teacher_is_asked_once_per_message() -> None:
    calls: list[str] = []
    pg = make({"a": "好的", "b": "亲"}, calls)
    pg.compare("可以优惠价么")
    pg.exchange("a", "可以优惠价么")
    assert calls == ["可以优惠价么"]


def test_sliders_change_the_decision_where_they_should() -> None:
    ex = Exchange("m", "q", "a", "c", sim=0.6, match=0.1, cloud_match=0.3)
    paper = GateSettings()  # alpha 0.8, Theta 0.2, threshold 0.5
    assert decide(ex, paper).final == pytest.approx(0.8 * 0.6 + 0.2 * 0.1)
    assert not decide(ex, paper).escalate  # 0.50 is not below 0.5
    assert decide(ex, GateSettings(threshold=0.55)).escalate  # a stricter gate escalates
    # Theta above the cloud answer's own match: final = sim alone
    high_theta = decide(ex, GateSettings(theta=0.5))
    assert high_theta.theta_rule and high_theta.final == pytest.approx(0.6)
    # alpha 0: the match alone decides, and 0.1 escalates
    assert decide(ex, GateSettings(alpha=0.0)).escalate
    assert "Theta = 0.5" in high_theta.explain(GateSettings(theta=0.5))


def test_summary_has_one_row_per_model_with_the_gate() -> None:
    pg = make({"Original Model": "好的", "LoRA-320": "亲，可以换顺丰哦"})
    table = summary(pg.compare("能换顺丰吗"), GateSettings(threshold=0.3))
    assert list(table.index) == ["Original Model", "LoRA-320"]
    assert set(table["cloud gate"]) <= {"escalate", "keep"}
    assert table.loc["Original Model", "cloud gate"] == "escalate"  # 好的 shares nothing


def test_bad_input_says_what_is_wrong() -> None:
    pg = make({"a": "好的"})
    with pytest.raises(ValueError, match="model='b'"):
        pg.exchange("b", "你好")
    with pytest.raises(ValueError, match="message is empty"):
        pg.exchange("a", "  ")
    with pytest.raises(ValueError, match="threshold=1.5"):
        GateSettings(threshold=1.5)


def test_the_widgets_ask_and_the_sliders_recompute() -> None:
    pytest.importorskip("ipywidgets")
    from ecc_utils.playground.ui import ALL_MODELS, PlaygroundUI

    ui = PlaygroundUI(make({"Original Model": "好的", "LoRA-320": "亲，可以换顺丰哦"}),
                      message="能换顺丰吗")  # fmt: skip
    ui.model.value = ALL_MODELS
    ui.ask()
    assert TEACHER in ui.out.value and "LoRA-320" in ui.out.value
    ui.threshold.value = 0.0
    assert "escalate" not in ui.out.value
    ui.threshold.value = 1.0
    assert ui.out.value.count("escalate") == 2
    ui.message.value = ""
    ui.ask()
    assert "message is empty" in ui.out.value
