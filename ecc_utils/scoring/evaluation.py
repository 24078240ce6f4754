"""Evaluating every end model on the same inputs: answers, likelihoods, and the per-input
tables that intervals and the paired tests of the paper's claims are computed from.

`evaluate_models` loads each adapter once (LoRA merged into a copy of the weights) and
produces, per model, its answers to the evaluation set, the log-likelihood of the human and of
the teacher reply of each input, and its selection scores on the held-out ECD candidate
groups. `per_input_table` and `per_group_table` lay these out one row per (model, input) and
(model, group); `METRICS` names the statistics the book reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ecc_utils.records import Example
from ecc_utils.scoring.model_as_judge import length_scores, reply_logprobs, selection_scores
from ecc_utils.scoring.selection import rank_of_true
from ecc_utils.scoring.text import bleu, distinct_n, is_degenerate, rouge_l
from ecc_utils.scoring.uncertainty import Interval, bootstrap, interval_text  # noqa: F401

SELECTORS = ("mean", "pmi", "sum")


@dataclass(frozen=True)
class CandidateGroup:
    """A held-out ECD context with its candidate replies (R10@k)."""

    id: str
    example: Example
    candidates: list[str]
    true_index: int


def groups_from_candidates(path: Path, inputs: Sequence[Example]) -> list[CandidateGroup]:
    """The candidate groups of ``data/candidates.jsonl`` (the held-out ECD evaluation
    contexts), each with its evaluation example."""
    from ecc_utils.records import iter_jsonl

    by_id = {e.id: e for e in inputs}
    out = []
    for i, row in enumerate(iter_jsonl(path), 1):
        if row["id"] not in by_id:
            raise ValueError(
                f"{path}:{i}: candidate group {row['id']!r} is not in the evaluation set"
            )
        out.append(CandidateGroup(row["id"], by_id[row["id"]], list(row["candidates"]),
                                  int(row["true_index"])))  # fmt: skip
    return out


@dataclass(frozen=True)
class EvaluationSet:
    """What every model is evaluated on: the evaluation inputs, the teacher's answer to each
    (the reference of Eq. (1), whose likelihood is scored too) and the candidate groups."""

    inputs: Sequence[Example]
    teacher_answers: Sequence[str]
    groups: Sequence[CandidateGroup]


@dataclass
class ModelEvaluation:
    """One model's answers and likelihoods on the evaluation inputs and candidate groups."""

    answers: list[str]
    human: tuple[np.ndarray, np.ndarray]  # (summed log-probability, tokens) per input
    teacher: tuple[np.ndarray, np.ndarray]
    selection: dict[str, list[np.ndarray]]  # per selector, one score per candidate per group
    # With the repetition guard on: the answers of the paper's plain sampling, for comparison
    # (None: no guard, so the answers are those; empty: guarded, plain sampling not measured).
    unguarded: list[str] | None = None


def evaluate_models(
    base: Any,
    tokenizer: Any,
    checkpoints: Mapping[str, Path | None],
    data: EvaluationSet,
    *,
    sampling: Any,
    max_output_length: int,
) -> dict[str, ModelEvaluation]:
    """Every model of `checkpoints` (None: the base model) on the same inputs and groups.
    When `sampling` has the repetition guard on, each model also answers with the paper's
    plain sampling (`ModelEvaluation.unguarded`) so that the guard's effect is measured, unless
    ``sampling.compare_unguarded`` is off."""
    from ecc_utils.endmodel.generate import adapter_applied, generate

    guarded = sampling.guarded
    plain = sampling.unguarded()

    inputs, groups = data.inputs, data.groups
    prompts = [(e.context, e.query) for e in inputs]
    replies = [[e.response, t] for e, t in zip(inputs, data.teacher_answers, strict=True)]
    length = sampling.max_input_length
    out = {}
    for label, ckpt in tqdm(checkpoints.items(), desc="models"):
        ctx = adapter_applied(base, ckpt, merge=True) if ckpt is not None else _as_is(base)
        with ctx as model:
            answers = generate(model, tokenizer, inputs, sampling)
            unguarded = None
            if guarded:
                compare = sampling.compare_unguarded
                unguarded = generate(model, tokenizer, inputs, plain) if compare else []
            scores = reply_logprobs(model, tokenizer, prompts, replies, max_input_length=length,
                                    max_reply_tokens=max_output_length)  # fmt: skip
            selection = selection_scores(
                model,
                tokenizer,
                [(g.example.context, g.example.query) for g in groups],
                [g.candidates for g in groups],
                max_input_length=length,
            )
        out[label] = ModelEvaluation(
            answers,
            (np.array([s.logprob[0] for s in scores]), np.array([s.tokens[0] for s in scores])),
            (np.array([s.logprob[1] for s in scores]), np.array([s.tokens[1] for s in scores])),
            selection,
            unguarded,
        )
    return out


class _as_is:
    def __init__(self, model: Any) -> None:
        from ecc_utils.endmodel.load import ready_for_inference

        self.model = ready_for_inference(model)

    def __enter__(self) -> Any:
        return self.model

    def __exit__(self, *exc: object) -> None:
        return None


def per_input_table(
    evaluations: Mapping[str, ModelEvaluation],
    inputs: Sequence[Example],
    scores: pd.DataFrame,
) -> pd.DataFrame:
    """One row per (model, input): Eq. (1) final score (from `scores`), the likelihood of the
    human and the teacher reply, whether the answer is degenerate, ROUGE-L and BLEU-4 against
    the human replies (all references of the input)."""
    final = scores.set_index(["model", "id"])["final_score"]
    rows = []
    for label, ev in evaluations.items():
        for i, e in enumerate(inputs):
            refs = [e.response, *e.references]
            a = ev.answers[i]
            rows.append({
                "model": label, "id": e.id, "label": e.label,
                "final_score": float(final[(label, e.id)]),
                "nll_human": -float(ev.human[0][i]), "tokens_human": int(ev.human[1][i]),
                "nll_teacher": -float(ev.teacher[0][i]), "tokens_teacher": int(ev.teacher[1][i]),
                "degenerate": is_degenerate(a),
                "degenerate_unguarded": _degenerate_unguarded(ev.unguarded, i, a),
                "rouge_l": rouge_l(a, refs) if a.strip() else 0.0,
                "bleu4": bleu(a, refs) if a.strip() else 0.0,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _degenerate_unguarded(unguarded: list[str] | None, i: int, answer: str) -> float:
    if unguarded is None:  # no guard: the answers are the plain sampling's
        return float(is_degenerate(answer))
    return float(is_degenerate(unguarded[i])) if unguarded else float("nan")


def per_group_table(
    evaluations: Mapping[str, ModelEvaluation], groups: Sequence[CandidateGroup]
) -> pd.DataFrame:
    """One row per (model, candidate group): the rank of the true reply under each selector,
    and under the length-only baseline (the same for every model)."""
    shortest = length_scores([g.candidates for g in groups])
    rows = []
    for label, ev in evaluations.items():
        for j, g in enumerate(groups):
            row = {"model": label, "group": g.id,
                   "rank_length": rank_of_true(shortest[j], g.true_index)}  # fmt: skip
            for sel in SELECTORS:
                row[f"rank_{sel}"] = rank_of_true(ev.selection[sel][j], g.true_index)
            rows.append(row)
    return pd.DataFrame(rows)


# --- the statistics the book reports ------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A statistic of one model's per-input (or per-group) table."""

    name: str
    table: str  # "input" or "group"
    higher_is_better: bool
    statistic: Callable[[pd.DataFrame], Callable[[np.ndarray], float]]
    measured_in: str | None = None  # a column that may be unmeasured (all NaN): then no row


def _mean_of(values: np.ndarray):
    return lambda idx: float(values[idx].mean())


def _mean(col: str):
    return lambda df: _mean_of(df[col].to_numpy(dtype=float))


def _ppl(kind: str):
    def make(df):
        nll, tok = df[f"nll_{kind}"].to_numpy(float), df[f"tokens_{kind}"].to_numpy(float)
        return lambda idx: float(np.exp(nll[idx].sum() / tok[idx].sum()))

    return make


def _hit(col: str, k: int = 1):
    return lambda df: _mean_of((df[col].to_numpy() <= k).astype(float))


def _margin(col: str, k: int = 1):
    def make(df):
        return _mean_of(
            (df[col].to_numpy() <= k).astype(float) - (df["rank_length"].to_numpy() <= k)
        )

    return make


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("final score (Eq. 1)", "input", True, _mean("final_score")),
        Metric("perplexity, human reply", "input", False, _ppl("human")),
        Metric("perplexity, teacher reply", "input", False, _ppl("teacher")),
        Metric("degenerate answers", "input", False, _mean("degenerate")),
        Metric(
            "degenerate answers, no guard",
            "input",
            False,
            _mean("degenerate_unguarded"),
            "degenerate_unguarded",
        ),
        Metric("ROUGE-L vs human replies", "input", True, _mean("rouge_l")),
        Metric("BLEU-4 vs human replies", "input", True, _mean("bleu4")),
        Metric("selector R10@1 (mean log-prob)", "group", True, _hit("rank_mean")),
        Metric("selector R10@1 (PMI)", "group", True, _hit("rank_pmi")),
        Metric("selector R10@1 (summed log-prob)", "group", True, _hit("rank_sum")),
        Metric("selector R10@1 margin over length", "group", True, _margin("rank_mean")),
    )
}


def _rows(tables: Mapping[str, pd.DataFrame], metric: Metric, model: str) -> pd.DataFrame:
    df = tables[metric.table]
    return df[df["model"] == model].reset_index(drop=True)


def metric_intervals(
    tables: Mapping[str, pd.DataFrame], models: Sequence[str], seed: int = 0
) -> pd.DataFrame:
    """Every metric of every model with its 95 % bootstrap interval (seeded): long format,
    columns model, metric, estimate, low, high, n."""
    rows = []
    for name, metric in METRICS.items():
        for model in models:
            df = _rows(tables, metric, model)
            if metric.measured_in and df[metric.measured_in].isna().all():
                continue
            iv = bootstrap(len(df), metric.statistic(df), seed=seed)
            rows.append({"model": model, "metric": name, **iv.to_dict()})
    return pd.DataFrame(rows)


def measured_metrics(metrics: pd.DataFrame) -> list[str]:
    """The names of `METRICS` that `metrics` (from `metric_intervals`) holds, in `METRICS`
    order: a metric left unmeasured by the profile has no rows."""
    present = set(metrics["metric"])
    return [m for m in METRICS if m in present]


def selector_table(
    groups_table: pd.DataFrame,
    models: Sequence[str],
    n_candidates: int,
    anchors: Mapping[str, Mapping[int, float]] | None = None,
    ks: Sequence[int] = (1, 2, 5),
) -> pd.DataFrame:
    """R@k of every model as a response selector, per score (mean log-probability, PMI,
    summed), after the length-only baseline and chance, then published `anchors` (e.g.
    DUA's R10@k); one row each, indexed by (model, score)."""
    from ecc_utils.scoring.selection import chance_recall

    def recall(ranks) -> dict[int, float]:
        return {k: float((ranks <= k).mean()) for k in ks}

    first = groups_table[groups_table["model"] == models[0]]
    rows = {("length only (shortest reply)", "length"): recall(first["rank_length"]),
            ("chance", ""): chance_recall(n_candidates, ks)}  # fmt: skip
    for model in models:
        g = groups_table[groups_table["model"] == model]
        for sel in SELECTORS:
            rows[(model, sel)] = recall(g[f"rank_{sel}"])
    for name, values in (anchors or {}).items():
        rows[(name, "")] = dict(values)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = [f"R{n_candidates}@{k}" for k in table.columns]
    table.index.names = ["model", "score"]
    return table


def perplexity_by_source(input_table: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Perplexity of the human replies per model and per corpus of the evaluation inputs
    (the Table VI inputs, held-out ECD test contexts, JDDC dev questions)."""
    df = input_table[input_table["model"].isin(models)].copy()
    df["source"] = df["id"].map(_source_of)
    sums = df.groupby(["model", "source"], sort=False)[["nll_human", "tokens_human"]].sum()
    ppl = np.exp(sums["nll_human"] / sums["tokens_human"]).unstack("source")
    return ppl.loc[list(models)]


def _source_of(example_id: str) -> str:
    if example_id.startswith("table6-"):
        return "Table VI inputs"
    if example_id.startswith("jddc-dev"):
        return "JDDC dev"
    return "ECD test (held out)"


def diversity(evaluations: Mapping[str, ModelEvaluation]) -> pd.DataFrame:
    """Distinct-1 and distinct-2 (jieba words) of each model's answers."""
    return pd.DataFrame(
        {
            "distinct-1": {m: distinct_n(ev.answers, 1) for m, ev in evaluations.items()},
            "distinct-2": {m: distinct_n(ev.answers, 2) for m, ev in evaluations.items()},
        }
    ).rename_axis("model")


def paired_statistic(
    tables: Mapping[str, pd.DataFrame], metric: Metric, a: str, b: str
) -> tuple[Callable[[np.ndarray], float], Callable[[np.ndarray], float], int]:
    """The metric's statistic for models `a` and `b` on the same inputs (rows aligned)."""
    da, db = _rows(tables, metric, a), _rows(tables, metric, b)
    key = "id" if metric.table == "input" else "group"
    if list(da[key]) != list(db[key]):
        raise ValueError(f"{metric.name}: {a} and {b} were not evaluated on the same inputs")
    return metric.statistic(da), metric.statistic(db), len(da)
