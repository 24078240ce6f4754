"""Response selection on ECD (R10@k): does a scorer rank the true reply above nine false ones?

Ties are broken pessimistically: a candidate scoring *equal* to the true one counts as ranked
above it, so a constant scorer gets R10@1 = 0, not 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ecc_utils.scoring.scorers import Embedder, Matcher


def rank_of_true(scores: Sequence[float] | np.ndarray, true_index: int) -> int:
    """1-based rank of candidate `true_index` under `scores` (higher = better).

    Pessimistic ties: every other candidate with a score >= the true one's ranks above it.
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or not 0 <= true_index < len(s):
        raise ValueError(
            f"true_index={true_index}: outside the {len(s)} candidate scores of this group"
        )
    if np.isnan(s).any():
        raise ValueError("scores: contains NaN; a scorer must return a number per candidate")
    others = np.delete(s, true_index)
    return 1 + int(np.sum(others >= s[true_index]))


def recall_at_k(
    groups: Iterable[tuple[Sequence[float] | np.ndarray, int]],
    ks: Sequence[int] = (1, 2, 5),
) -> dict[int, float]:
    """R_n@k over groups of (candidate scores, index of the true candidate).

    Returns {k: fraction of groups whose true candidate ranks <= k} (pessimistic ties).
    ECD's test set has n = 10 candidates per group, hence R10@k.
    """
    ranks = np.array([rank_of_true(s, t) for s, t in groups])
    if len(ranks) == 0:
        raise ValueError("groups: empty; need at least one candidate group")
    return {int(k): float(np.mean(ranks <= k)) for k in ks}


@dataclass(frozen=True)
class SelectionGroup:
    """A response-selection group: the query (or context), the candidates, the true index."""

    query: str
    candidates: list[str]
    true_index: int


def evaluate_selection(
    groups: Sequence[SelectionGroup],
    score: Callable[[str, list[str]], np.ndarray],
    ks: Sequence[int] = (1, 2, 5),
    progress: bool = True,
) -> dict[int, float]:
    """R_n@k of any scorer `score(query, candidates) -> one score per candidate`."""
    from tqdm.auto import tqdm

    scored = []
    for g in tqdm(groups, desc="R@k", disable=not progress):
        s = np.asarray(score(g.query, list(g.candidates)), dtype=float)
        if s.shape != (len(g.candidates),):
            raise ValueError(
                f"score: returned shape {s.shape} for {len(g.candidates)} candidates; "
                "it must return one score per candidate"
            )
        scored.append((s, g.true_index))
    return recall_at_k(scored, ks)


def selection_groups(ecd_groups: Iterable, query: str = "last", clean: Callable | None = None):
    """`SelectionGroup`s from `ecc_utils.data.read_ecd(...).groups` (or lookalikes).

    Each group needs `.context` (turns with `.speaker`, `.text`), `.candidates` and
    `.true_index`. `query="last"` uses the context's last customer utterance, `"context"`
    the whole context joined with spaces. `clean` (default `ecc_utils.data.clean_text`)
    undoes ECD's word segmentation.
    """
    if query not in ("last", "context"):
        raise ValueError(f"query={query!r}: use 'last' or 'context'")
    if clean is None:
        from ecc_utils.data.cleaning import clean_text as clean
    out = []
    for g in ecd_groups:
        turns = list(g.context)
        if query == "last":
            cust = [t for t in turns if t.speaker == "customer"] or turns
            q = clean(cust[-1].text)
        else:
            q = " ".join(clean(t.text) for t in turns)
        out.append(SelectionGroup(q, [clean(c) for c in g.candidates], int(g.true_index)))
    return out


def selection_recall(
    groups: Sequence[SelectionGroup],
    embedder: Embedder | None = None,
    matcher: Matcher | None = None,
    ks: Sequence[int] = (1, 2, 5),
    progress: bool = True,
) -> pd.DataFrame:
    """R10@k of the matcher (query vs candidate) and of the embedder (cosine), one row each.

    Columns "R10@1", "R10@2", ... (the candidate count of the groups, 10 on ECD's test
    set, names the metric); ties broken pessimistically (see `metrics.rank_of_true`).
    """
    scorers: dict[str, Callable[[str, list[str]], np.ndarray]] = {}
    if matcher is not None:
        scorers[f"matcher ({matcher.spec})"] = lambda q, c: matcher.match([q] * len(c), c)
    if embedder is not None:
        scorers[f"embedder ({embedder.spec})"] = lambda q, c: embedder.similarity([q] * len(c), c)
    if not scorers:
        raise ValueError("selection_recall: give an embedder, a matcher or both")
    n = {len(g.candidates) for g in groups}
    name = f"R{n.pop()}" if len(n) == 1 else "R"
    rows = {}
    for label, fn in scorers.items():
        r = evaluate_selection(groups, fn, ks, progress=progress)
        rows[label] = {f"{name}@{k}": v for k, v in r.items()}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "scorer"
    return df


def chance_recall(
    n_candidates: int | Sequence[int], ks: Sequence[int] = (1, 2, 5)
) -> dict[int, float]:
    """R_n@k of a random ranking: k / n, averaged over groups when given one count per group
    (e.g. ``[len(g.candidates) for g in groups]``)."""
    ns = [n_candidates] if isinstance(n_candidates, int) else list(n_candidates)
    if not ns or min(ns) < 1:
        raise ValueError(f"n_candidates={n_candidates!r}: need at least one candidate per group")
    return {int(k): float(np.mean([min(k, n) / n for n in ns])) for k in ks}
