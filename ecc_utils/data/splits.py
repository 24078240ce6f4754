"""The four pools of the artifact contract (train, teacher queries, few-shot, eval), leakage-free."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ecc_utils.data.cleaning import clean_examples, clean_text, count_tokens, ecd_examples
from ecc_utils.data.table6_inputs import TableVIItem, find_table6
from ecc_utils.paper import TABLE6_INPUTS
from ecc_utils.records import Example

if TYPE_CHECKING:
    from ecc_utils.config import DataConfig
    from ecc_utils.data.sources import Corpora


@dataclass
class Splits:
    """The four pools of the artifact contract, the Table VI items and what was dropped.

    ``teacher_queries`` are drawn from ``train`` (same ids) so that teacher labels can replace
    the target of a ``teacher_mix`` fraction of the training pairs; ``fewshot`` (the Table II
    pool) never shares an example with ``teacher_queries`` (a k-NN teacher would copy the
    answer) but may overlap ``train``; no ``eval`` query or context appears in any other pool.
    ``candidates`` holds the R10@k candidate groups of the ECD evaluation items.
    ``validation`` holds natural pairs that no other pool uses (the online loop's update
    settings are chosen on it, apart from its probe and stream, which come from ``eval``).
    """

    train: list[Example]
    teacher_queries: list[Example]
    fewshot: list[Example]
    eval: list[Example]
    table6: list[TableVIItem]
    candidates: list[dict]
    report: dict
    validation: list[Example] = field(default_factory=list)


def _group_index(ex: Example) -> int:
    return int(ex.id.rsplit("-", 1)[1])


def make_splits(
    corpora: Corpora, cfg: DataConfig, *, seed: int = 0, min_query_tokens: int = 3
) -> Splits:
    """Build the evaluation set, the few-shot pool, the training pairs and the teacher queries
    from `corpora` with the sizes and length limits of profile section `data` (`cfg`).

    eval: the six Table VI inputs (query alone, empty context, in the paper's order) then
    held-out ECD test contexts whose query has at least ``min_query_tokens`` tokens, and,
    when the corpora hold the JDDC dev set, up to half of the remaining places from JDDC dev
    questions (with their three references); ``cfg.n_eval`` in total.
    The natural pool is the ECD train pairs, the remaining ECD test contexts and the JDDC
    pairs, cleaned; every example whose group supplied an eval item, or whose query equals an
    eval query or context turn, is excluded, and duplicates across sources are removed. It
    is shuffled with ``seed`` and ranked ECD first: ``train`` is the first ``cfg.n_train``
    (all when None); ``teacher_queries`` (from ``train``) and ``fewshot`` (the Table II pool)
    are filled from the ranked pool at the same pace and never share an example;
    ``validation`` takes up to ``cfg.n_validation`` of the ranked pairs that are left (none
    when the other pools use them all: the training split is never made smaller for it).
    """
    if cfg.n_eval < len(TABLE6_INPUTS):
        raise ValueError(
            f"n_eval={cfg.n_eval} is smaller than the {len(TABLE6_INPUTS)} Table VI inputs it "
            "must hold (parameter data.n_eval of the profile)"
        )
    source = corpora.source.corpus
    rng = random.Random(seed)
    counts: Counter = Counter()
    clean = dict(segmented=True, max_input_tokens=cfg.max_input_tokens,
                 max_output_tokens=cfg.max_output_tokens, counts=counts)  # fmt: skip
    table6 = find_table6(
        corpora.ecd_test, corpus="ECD sample" if source == "ecd" else f"{source} corpus"
    )
    test_clean = clean_examples(ecd_examples(corpora.ecd_test, "test", source), **clean)
    rng.shuffle(test_clean)
    eval_, eval_groups = _eval_set(corpora, cfg.n_eval, table6, test_clean, rng, clean,
                                   min_query_tokens)  # fmt: skip
    natural, n_ecd = _natural_pool(corpora, test_clean, eval_, eval_groups, clean)
    rng.shuffle(natural)
    train, teacher, fewshot = _pools(natural, source, cfg)
    used = {e.id for e in (*train, *teacher, *fewshot)}
    ranked = sorted(natural, key=lambda e: 0 if e.source.startswith(source) else 1)
    validation = [e for e in ranked if e.id not in used][: cfg.n_validation]
    report = {
        "cleaning": dict(sorted(counts.items())),
        "n_natural": len(natural),
        "n_natural_ecd": n_ecd,
    }
    return Splits(train, teacher, fewshot, eval_, table6, _candidates(corpora, eval_, source),
                  report, validation)  # fmt: skip


def _eval_set(
    corpora: Corpora,
    n_eval: int,
    table6: list,
    test_clean: list[Example],
    rng: random.Random,
    clean: dict,
    min_query_tokens: int,
) -> tuple[list[Example], set[int]]:
    """(the evaluation set, the ECD test groups it draws from): the Table VI inputs, then
    held-out ECD test contexts (`test_clean`, shuffled), then up to half of the remaining places
    from the JDDC dev questions."""
    source = corpora.source.corpus
    eval_: list[Example] = [
        Example(f"table6-{k + 1}", source, [], it.query, it.response, [], it.label)
        for k, it in enumerate(table6)
    ]
    eval_groups = {it.group_index for it in table6}
    jddc_dev = corpora.jddc_dev.examples if corpora.jddc_dev is not None else []
    n_dev = min(len(jddc_dev), (n_eval - len(eval_)) // 2) if jddc_dev else 0
    taken_queries = {e.query for e in eval_}
    for ex in test_clean:
        if len(eval_) >= n_eval - n_dev:
            break
        gi = _group_index(ex)
        # Very short queries ("好", "嗯") say little about a model and would bar many
        # training pairs that share them.
        if (
            gi in eval_groups
            or ex.query in taken_queries
            or count_tokens(ex.query) < min_query_tokens
        ):
            continue
        eval_.append(ex)
        eval_groups.add(gi)
        taken_queries.add(ex.query)
    if n_dev:
        dev_clean = clean_examples(jddc_dev, **{**clean, "segmented": False})
        rng.shuffle(dev_clean)
        for ex in dev_clean:
            if len(eval_) >= n_eval:
                break
            if ex.query not in taken_queries and count_tokens(ex.query) >= min_query_tokens:
                eval_.append(ex)
                taken_queries.add(ex.query)
    return eval_, eval_groups


def _natural_pool(
    corpora: Corpora,
    test_clean: list[Example],
    eval_: list[Example],
    eval_groups: set[int],
    clean: dict,
) -> tuple[list[Example], int]:
    """(the natural pairs, how many of them are ECD's): ECD train, the ECD test contexts the
    evaluation did not use, then JDDC's pairs; without any whose query is an evaluation query,
    and without duplicates across sources."""
    source, counts = corpora.source.corpus, clean["counts"]
    # Whole eval groups are out (below); so is any other example with the same query text.
    banned = {e.query for e in eval_}
    eval_ids = {e.id for e in eval_}
    natural = clean_examples(ecd_examples(corpora.ecd_train, "train", source), **clean)
    natural += [
        e for e in test_clean if e.id not in eval_ids and _group_index(e) not in eval_groups
    ]
    n_ecd = len(natural)
    if corpora.jddc_chat is not None and corpora.jddc_chat.pairs:
        natural += clean_examples(corpora.jddc_chat.pairs, **{**clean, "segmented": False})
    before = len(natural)
    natural = [e for e in natural if e.query not in banned]
    counts["eval_leak_excluded"] += before - len(natural)
    # Remove duplicates across sources too (ECD train and test can share a pair).
    seen: set[tuple] = set()
    uniq = []
    for e in natural:
        key = (tuple(e.context), e.query, e.response)
        if key in seen:
            counts["duplicate"] += 1
            continue
        seen.add(key)
        uniq.append(e)
    return uniq, n_ecd


def _pools(
    natural: list[Example], source: str, cfg: DataConfig
) -> tuple[list[Example], list[Example], list[Example]]:
    """(train, teacher queries, few-shot pool) from the shuffled natural pairs, ECD first."""
    # ECD pairs first: the cap n_train and the two pools should not starve the corpus the
    # evaluation is drawn from when JDDC is much larger.
    n_teacher_queries, n_fewshot = cfg.n_teacher_queries, cfg.n_fewshot
    ranked = sorted(natural, key=lambda e: 0 if e.source.startswith(source) else 1)
    train_ranked = ranked if cfg.n_train is None else ranked[: cfg.n_train]
    train_ids = {e.id for e in train_ranked}
    train = [e for e in natural if e.id in train_ids]
    teacher: list[Example] = []
    fewshot: list[Example] = []
    for e in ranked:
        want_t, want_f = len(teacher) < n_teacher_queries, len(fewshot) < n_fewshot
        if not (want_t or want_f):
            break
        # Fill both pools at the same relative pace so each gets its share of ECD pairs.
        t_turn = want_t and (
            not want_f or len(teacher) * n_fewshot <= len(fewshot) * n_teacher_queries
        )
        if t_turn and e.id in train_ids:
            teacher.append(e)
        elif want_f:
            fewshot.append(e)
    return train, teacher, fewshot


def _candidates(corpora: Corpora, eval_: list[Example], source: str) -> list[dict]:
    """R10@k candidates for the held-out ECD contexts (Table VI items are single queries)."""
    groups = {g.index: g for g in corpora.ecd_test.groups}
    return [
        {
            "id": e.id,
            "candidates": [clean_text(c) for c in groups[_group_index(e)].candidates],
            "true_index": groups[_group_index(e)].true_index,
        }
        for e in eval_
        if e.id.startswith(f"{source}-test-")
    ]
