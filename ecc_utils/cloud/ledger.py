"""The teacher's cost and latency ledger: what labels cost, what they would have cost without
the prefix cache or without batch, latency percentiles, the estimate before a run, the cap.

Every cache line (`cache.LabelCache`) is one ledger row: its ``usage`` (input tokens, of which
cached, and output tokens), ``latency_s``, ``mode`` ("live" or "batch"; lines written before
the ledger existed are live) and ``cost_usd`` under the price table named by ``prices_as_of``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ecc_utils.cloud.errors import TeacherError
from ecc_utils.cloud.prices import ModelPrice, PriceTable
from ecc_utils.cloud.prompt import FewShotPrompt, count_tokens

if TYPE_CHECKING:
    from ecc_utils.config import TeacherConfig


class SpendCapReached(TeacherError):
    """The next call would have passed ``teacher.max_cost_usd``; nothing more was sent."""


@dataclass(frozen=True)
class Budget:
    """A teacher's cost policy (profile keys ``teacher.price_file``, ``max_cost_usd``,
    ``batch_poll_s``): the price table, the cap on the cache file's spend, the batch poll."""

    prices: PriceTable = field(default_factory=PriceTable.load)
    max_cost_usd: float | None = None
    batch_poll_s: float = 30.0


def entry_cost(entry: dict, price: ModelPrice | None, mode: str | None = None) -> float | None:
    """Dollars for one cache line under `price` (None: the model has no price), as sent in
    `mode` (default: the line's own mode)."""
    if price is None:
        return None
    u = entry.get("usage", {})
    rates = price.rates(mode or entry.get("mode", "live"))
    return rates.cost(u.get("input_tokens", 0), u.get("cached_tokens", 0),
                      u.get("output_tokens", 0))  # fmt: skip


def _no_cache(entry: dict) -> dict:
    u = dict(entry.get("usage", {}))
    u["cached_tokens"] = 0
    return {**entry, "usage": u}


def _percentiles(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p50, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95])
    return float(p50), float(p95)


def summarize(entries: Iterable[dict], price: ModelPrice | None, as_of: str) -> dict:
    """The ledger of `entries` (cache lines, one per distinct label): calls per mode, tokens,
    cost as sent, without the prefix cache, without batch, with neither, latency p50/p95 of
    live calls and batch turnaround p50/p95. Costs are None when the model has no price."""
    rows = list({e["key"]: e for e in entries}.values())
    live = [e for e in rows if e.get("mode", "live") == "live"]
    batch = [e for e in rows if e.get("mode") == "batch"]

    def total(f) -> float | None:
        costs = [f(e) for e in rows]
        return None if price is None else float(sum(c for c in costs if c is not None))

    lat50, lat95 = _percentiles([float(e.get("latency_s", 0.0)) for e in live])
    turn50, turn95 = _percentiles([float(e.get("latency_s", 0.0)) for e in batch])
    usage = [e.get("usage", {}) for e in rows]
    return {
        "labels": len(rows),
        "live_calls": len(live),
        "batch_items": len(batch),
        "input_tokens": int(sum(u.get("input_tokens", 0) for u in usage)),
        "cached_tokens": int(sum(u.get("cached_tokens", 0) for u in usage)),
        "output_tokens": int(sum(u.get("output_tokens", 0) for u in usage)),
        "cost_usd": total(lambda e: entry_cost(e, price)),
        "cost_without_cache_usd": total(lambda e: entry_cost(_no_cache(e), price)),
        "cost_without_batch_usd": total(lambda e: entry_cost(e, price, "live")),
        "cost_list_usd": total(lambda e: entry_cost(_no_cache(e), price, "live")),
        "latency_p50_s": lat50,
        "latency_p95_s": lat95,
        "batch_turnaround_p50_s": turn50,
        "batch_turnaround_p95_s": turn95,
        "prices_as_of": as_of,
    }


@dataclass(frozen=True)
class LabellingPlan:
    """What a labelling run will send: its prefix, per-query suffix and expected output sizes."""

    n_queries: int
    prefix_tokens: int
    suffix_tokens: float  # mean per query
    output_tokens: float  # expected per answer (thinking included)
    max_output_tokens: int  # the budget: the upper bound per answer
    cache_hours: float = 1.0  # how long an explicit cache is kept (Gemini storage is billed)


def labelling_plan(
    prompt: FewShotPrompt,
    queries: Sequence[str],
    answers: Sequence[str],
    cfg: TeacherConfig,
) -> LabellingPlan:
    """The `LabellingPlan` of sending `queries` with `prompt` as profile section `cfg` says.

    The expected answer is as long as the mean of `answers` (e.g. the human replies of the
    few-shot pool), plus ``cfg.thinking_budget`` thinking tokens when one is set (billed as
    output); the upper bound is ``cfg.max_output_tokens`` per answer. Counts are the
    approximation of `count_tokens`.
    """
    suffix = [count_tokens(prompt.suffix(q)) for q in queries] or [0]
    answer = float(np.mean([count_tokens(a) for a in answers])) if answers else 0.0
    thinking = float(cfg.thinking_budget or 0)
    expected = min(answer + thinking, float(cfg.max_output_tokens))
    return LabellingPlan(len(queries), count_tokens(prompt.prefix), float(np.mean(suffix)),
                         expected, int(cfg.max_output_tokens))  # fmt: skip


def estimate(plan: LabellingPlan, price: ModelPrice) -> list[dict]:
    """Dollars for `plan` in each way of sending it: live or batch, with or without the prefix
    cache (the first call of a cached run pays the full prefix), expected and upper bound."""
    n, pre, suf = plan.n_queries, plan.prefix_tokens, plan.suffix_tokens
    storage = pre / 1e6 * price.cache_storage_per_hour * plan.cache_hours
    rows = []
    for mode in ("live", "batch"):
        r = price.rates(mode)
        for cached in (False, True):
            hits = max(n - 1, 0) * pre if cached else 0
            inp = n * (pre + suf)

            def cost(out: float, r=r, inp=inp, hits=hits, cached=cached) -> float:
                return r.cost(inp, hits, n * out) + (storage if cached else 0.0)

            rows.append(
                {
                    "mode": mode,
                    "prefix cache": cached,
                    "input tokens": int(inp),
                    "of which cached": int(hits),
                    "expected cost (USD)": cost(plan.output_tokens),
                    "upper bound (USD)": cost(plan.max_output_tokens),
                }
            )
    return rows


class SpendGuard:
    """Keeps a run's spend under ``cap`` dollars: a call reserves its upper-bound cost before it
    is sent and settles at its real cost; a reservation that would pass the cap is refused."""

    def __init__(self, cap: float | None, spent: float, call_bound: float):
        self.cap = cap
        self.spent = float(spent)
        self.call_bound = float(call_bound)
        self._reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, n: int = 1) -> bool:
        if self.cap is None:
            return True
        need = n * self.call_bound
        with self._lock:
            if self.spent + self._reserved + need > self.cap + 1e-12:
                return False
            self._reserved += need
            return True

    def settle(self, cost: float | None, n: int = 1) -> None:
        with self._lock:
            if self.cap is not None:
                self._reserved = max(self._reserved - n * self.call_bound, 0.0)
            self.spent += cost or 0.0

    def affordable(self, n: int) -> int:
        """How many of `n` calls fit under the cap at their upper bound."""
        if self.cap is None or self.call_bound <= 0:
            return n
        room = self.cap - self.spent - self._reserved
        return max(min(n, int(room / self.call_bound + 1e-9)), 0)

    def message(self, done: int, left: int, where: str) -> str:
        return (
            f"spend cap reached: teacher.max_cost_usd = {self.cap:.2f} USD, {self.spent:.4f} "
            f"spent by the labels in {where}; {done} labels obtained in this run are kept there, "
            f"{left} were not requested (each could cost up to {self.call_bound:.4f} USD). "
            "Raise teacher.max_cost_usd and rerun to continue (cached labels are not paid again)."
        )


def price_for(table: PriceTable, backend: str, model: str, cap: float | None) -> ModelPrice | None:
    """The model's price; a spend cap on a model without a price is an error."""
    price = table.lookup(backend, model)
    if price is None and cap is not None:
        raise TeacherError(
            f"teacher.max_cost_usd = {cap} is set, but {table.path} has no price for "
            f"{backend}/{model}: add the model under 'models' or unset the cap"
        )
    return price


def estimate_frame(plan: LabellingPlan, price: ModelPrice):
    """`estimate` as a table for a page (prefix cache as yes / no)."""
    import pandas as pd

    table = pd.DataFrame(estimate(plan, price))
    table["prefix cache"] = table["prefix cache"].map({True: "yes", False: "no"})
    return table


def ledger_frame(ledger: dict):
    """A `summarize` result as a two-column table for a page: the costs, then the latencies."""
    import pandas as pd

    def usd(v: float | None) -> str:
        return "unknown (the model has no price)" if v is None else f"{v:,.4f}"

    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.3g}"

    rows = [
        ("cost as sent (USD)", usd(ledger["cost_usd"])),
        ("without the prefix cache (USD)", usd(ledger["cost_without_cache_usd"])),
        ("without batch (USD)", usd(ledger["cost_without_batch_usd"])),
        ("neither: list price (USD)", usd(ledger["cost_list_usd"])),
        (f"live calls ({ledger['live_calls']}): latency p50 / p95 (s)",
         f"{secs(ledger['latency_p50_s'])} / {secs(ledger['latency_p95_s'])}"),
        (f"batch items ({ledger['batch_items']}): turnaround p50 / p95 (s)",
         f"{secs(ledger['batch_turnaround_p50_s'])} / {secs(ledger['batch_turnaround_p95_s'])}"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["ledger", f"prices as of {ledger['prices_as_of']}"])
