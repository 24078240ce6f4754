"""The playground's widgets (ipywidgets, in JupyterLab): a model picker, a message box, the
teacher's answer, Eq. (1)'s numbers and the cloud gate's decision, with sliders for alpha,
Theta and the gate threshold that recompute the scores and the decision live.

All computing is `ecc_utils.playground.session`'s; this module only lays it out. The sliders call
`playground.summary`, which needs no model, so moving them is instant.
"""

from __future__ import annotations

import html
from typing import Any

from ecc_utils.playground.session import Exchange, GateSettings, Playground, decide, summary

__all__ = ["PlaygroundUI"]

ALL_MODELS = "all models, side by side"


class PlaygroundUI:
    """``PlaygroundUI(playground).widget`` is the whole playground; `ask` is the button's
    action, `refresh` the sliders'."""

    def __init__(self, pg: Playground, message: str = "", settings: GateSettings | None = None):
        import ipywidgets as w

        s = settings or GateSettings()
        self.pg = pg
        self.exchanges: list[Exchange] = []
        self.model = w.Dropdown(options=[*pg.models, ALL_MODELS], value=pg.models[0],
                                description="end model", style={"description_width": "80px"},
                                layout=w.Layout(width="420px"))  # fmt: skip
        self.message = w.Textarea(value=message, placeholder="a customer message, 中文 or English",
                                  description="message", layout=w.Layout(width="600px"))  # fmt: skip
        self.button = w.Button(description="Ask", button_style="primary", icon="paper-plane")
        slider = {"min": 0.0, "max": 1.0, "step": 0.05, "continuous_update": True,
                  "readout_format": ".2f", "layout": w.Layout(width="360px")}  # fmt: skip
        self.alpha = w.FloatSlider(value=s.alpha, description="alpha", **slider)
        self.theta = w.FloatSlider(value=s.theta, description="Theta", **slider)
        self.threshold = w.FloatSlider(value=s.threshold, description="gate threshold",
                                       style={"description_width": "100px"}, **slider)  # fmt: skip
        self.out = w.HTML()
        self.button.on_click(lambda _: self.ask())
        for control in (self.alpha, self.theta, self.threshold):
            control.observe(lambda _: self.refresh(), names="value")
        self.widget = w.VBox([
            w.HBox([self.model, self.button]), self.message,
            w.HBox([self.alpha, self.theta]), self.threshold, self.out,
        ])  # fmt: skip

    @property
    def settings(self) -> GateSettings:
        return GateSettings(self.alpha.value, self.theta.value, self.threshold.value)

    def ask(self) -> None:
        """Answer the message with the chosen model (or all), then show the scores."""
        models = self.pg.models if self.model.value == ALL_MODELS else [self.model.value]
        self.out.value = "<i>answering ...</i>"
        try:
            self.exchanges = [self.pg.exchange(m, self.message.value) for m in models]
        except ValueError as e:
            self.exchanges = []
            self.out.value = f"<b>{html.escape(str(e))}</b>"
            return
        self.refresh()

    def refresh(self) -> None:
        """Recompute Eq. (1) and the gate for the sliders' values (no model is called)."""
        if not self.exchanges:
            return
        self.out.value = render(self.exchanges, self.settings)


def render(exchanges: list[Exchange], settings: GateSettings) -> str:
    """The teacher's answer, the summary table and, for one model, the decision in words."""
    first = exchanges[0]
    parts = [
        f"<p><b>teacher</b> (the reference of Eq. (1)): {html.escape(first.teacher_answer)}</p>"
    ]
    table: Any = summary(exchanges, settings)
    parts.append(table.to_html(float_format=lambda v: f"{v:.3f}", escape=True))
    if len(exchanges) == 1:
        parts.append(f"<p>{html.escape(decide(first, settings).explain(settings))}</p>")
    return "\n".join(parts)
