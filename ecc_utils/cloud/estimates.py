"""What labelling costs, estimated before anything is sent (the cloud-labels page): the paper's
labelling under the `paper` profile, and the running profile's own."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ecc_utils.cloud.ledger import LabellingPlan, estimate_frame, labelling_plan
from ecc_utils.cloud.prices import PriceTable
from ecc_utils.cloud.prompt import build_prompt
from ecc_utils.records import Example

if TYPE_CHECKING:
    import pandas as pd

    from ecc_utils.config import Profile

__all__ = ["PaperEstimate", "paper_estimate", "profile_estimate"]


@dataclass(frozen=True)
class PaperEstimate:
    """The paper's labelling: its plan, its cost in each way of sending it, the numbers the
    page glues into its prose, and a sentence on it."""

    plan: LabellingPlan
    costs: pd.DataFrame
    numbers: dict[str, str]
    sentence: str


def paper_estimate(
    paper: Profile, fewshot: Sequence[Example], queries: Sequence[str], prices: PriceTable
) -> PaperEstimate:
    """The `paper` profile's labelling (its teacher, its N examples from `fewshot`, its teacher
    queries and evaluation queries, counted at the length of `queries`), priced by `prices`."""
    t = paper.teacher
    prompt = build_prompt(fewshot, t.n_shots, t.language)
    replies = [e.response for e in fewshot]
    plan = dataclasses.replace(labelling_plan(prompt, queries, replies, t),
                               n_queries=paper.data.n_teacher_queries + paper.data.n_eval)  # fmt: skip
    costs = estimate_frame(plan, prices.lookup(t.backend, t.model))
    cost = costs.set_index(["mode", "prefix cache"])["expected cost (USD)"]
    numbers = {
        "prices_as_of": prices.as_of,
        "paper_teacher": f"{t.backend} {t.model}",
        "paper_n_queries": f"{plan.n_queries:,}",
        "paper_prefix_tokens": f"{plan.prefix_tokens:,}",
        "paper_output_tokens": f"{plan.output_tokens:,.0f}",
        "paper_cost_live": f"{cost['live', 'no']:,.0f}",
        "paper_cost_live_cached": f"{cost['live', 'yes']:,.0f}",
        "paper_cost_batch_cached": f"{cost['batch', 'yes']:,.0f}",
        "paper_cost_upper": f"{costs['upper bound (USD)'].max():,.0f}",
        "paper_cap": f"{t.max_cost_usd:,.0f}",
    }
    sentence = textwrap.fill(
        f"The paper's labelling with {t.backend} {t.model}: {plan.n_queries:,} queries, a prefix "
        f"of about {plan.prefix_tokens:,} tokens, about {plan.output_tokens:,.0f} output tokens "
        f"per answer expected (prices as of {prices.as_of}); the paper profile caps the spend "
        f"at {t.max_cost_usd} USD (teacher.max_cost_usd).",
        88,
    )
    return PaperEstimate(plan, costs, numbers, sentence)


def profile_estimate(
    cfg: Profile, teacher: Any, queries: Sequence[str], replies: Sequence[str]
) -> tuple[str, pd.DataFrame | None]:
    """(a sentence, the cost table or None) for this profile's own labelling of `queries` with
    `teacher` (a `Teacher`): none for a teacher that runs on this machine or has no price."""
    t = cfg.teacher
    if t.backend in ("knn", "hf"):
        return f"This profile's teacher ({t.backend}) runs on this machine: no provider bill.", None
    if teacher.price is None:
        where = teacher.budget.prices.path
        return f"{t.backend}/{teacher.model}: no price in {where}, cost unknown.", None
    plan = labelling_plan(teacher.prompt, queries, replies, t)
    own = estimate_frame(plan, teacher.price)
    worst = own[own["mode"] == ("batch" if t.mode == "batch" else "live")]
    over = t.max_cost_usd is not None and worst["upper bound (USD)"].max() > t.max_cost_usd
    cap = "none" if t.max_cost_usd is None else f"{t.max_cost_usd} USD"
    note = textwrap.fill(
        f"This profile: {plan.n_queries} queries with {t.backend} {teacher.model} (mode "
        f"{t.mode}); cap: {cap}."
        + (" The upper bound is above the cap: the run stops cleanly there." if over else ""),
        88,
    )
    return note, own
