"""The playground (notebook 07): one user input through the end-cloud loop. `session` computes
(answers, Eq. (1), the gate's decision); `ui` lays it out as widgets and computes nothing."""

from ecc_utils.playground.session import (
    Exchange,
    GateSettings,
    Playground,
    decide,
    summary,
)

__all__ = ["Exchange", "GateSettings", "Playground", "decide", "summary"]
