"""Corpus statistics beside the published ones, and the data stage's output files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from statistics import mean
from typing import TYPE_CHECKING

from ecc_utils.artifacts import SPLITS, Artifacts, display_path
from ecc_utils.data.cleaning import clean_text, count_tokens
from ecc_utils.paper import PUBLISHED_STATS
from ecc_utils.records import Turn, write_jsonl

if TYPE_CHECKING:
    from ecc_utils.data.sources import Corpora, DataSource
    from ecc_utils.data.splits import Splits


def _hist(values: Sequence[int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items())}


def corpus_stats(corpora: Corpora) -> dict:
    """Turns per session, words and tokens per utterance and skipped lines, per corpus.

    ECD sessions are the true-response groups (context + response); "words" are ECD's own
    segmentation units (comparable to the published 7.02), "tokens" are `count_tokens` of
    the cleaned text. JDDC sessions count merged turns and raw messages.
    """
    out: dict = {"corpora": {}, "skipped_lines": {}, "histograms": {}}
    prefix = corpora.source.corpus  # "ecd", or "synthetic" for the fallback corpus
    parts = [(f"{prefix}_train", corpora.ecd_train), (f"{prefix}_test", corpora.ecd_test)]
    for name, ecd in parts:
        sessions = [[*g.context, Turn("agent", g.true_response)] for g in ecd.groups]
        turns = [len(s) for s in sessions]
        utts = [t.text for s in sessions for t in s]
        toks = [count_tokens(clean_text(u)) for u in utts]
        out["corpora"][name] = {
            "file": display_path(ecd.path),
            "lines": len(ecd.records),
            "sessions": len(sessions),
            "turns_per_session": _mean(turns),
            "words_per_utterance": _mean([len(u.split()) for u in utts]),
            "tokens_per_utterance": _mean(toks),
        }
        out["skipped_lines"][name] = ecd.skipped
        out["histograms"][name] = {"turns_per_session": _hist(turns),
                                   "tokens_per_utterance": _hist(toks)}  # fmt: skip
    if corpora.jddc_chat is not None:
        chat = corpora.jddc_chat
        turns = [len(s.turns) for s in chat.sessions]
        toks = [count_tokens(clean_text(t.text, False)) for s in chat.sessions for t in s.turns]
        out["corpora"]["jddc"] = {
            "file": display_path(chat.path),
            "sessions": len(chat.sessions),
            "pairs": len(chat.pairs),
            "turns_per_session": _mean(turns),
            "messages_per_session": _mean([s.n_messages for s in chat.sessions]),
            "tokens_per_utterance": _mean(toks),
        }
        out["skipped_lines"]["jddc"] = chat.skipped
        out["histograms"]["jddc"] = {"turns_per_session": _hist(turns),
                                     "tokens_per_utterance": _hist(toks)}  # fmt: skip
    if corpora.jddc_dev is not None:
        dev = corpora.jddc_dev
        out["corpora"]["jddc_dev"] = {
            "file": display_path(dev.question_path),
            "questions": len(dev.examples) + dev.no_reference,
            "with_references": len(dev.examples),
            "no_reference": dev.no_reference,
        }
        out["skipped_lines"]["jddc_dev"] = dev.skipped
    return out


def _mean(xs: Sequence[float]) -> float:
    return round(float(mean(xs)), 3) if xs else 0.0


def _source_stats(source: DataSource | None) -> dict | None:
    if source is None:
        return None
    return {"kind": source.kind, "description": source.description,
            "provenance": source.provenance(), "fallback": source.fallback}  # fmt: skip


def _pool_stats(pools: dict[str, list]) -> dict:
    """Per pool: examples by source, tokens per utterance and turns per example."""
    return {
        "counts": {
            name: {
                "total": len(rows),
                "by_source": dict(sorted(Counter(e.source for e in rows).items())),
            }
            for name, rows in pools.items()
        },  # fmt: skip
        "tokens_per_utterance": {
            name: _mean(
                [
                    count_tokens(t)
                    for e in rows
                    for t in [*(c.text for c in e.context), e.query, e.response]
                ]
            )
            for name, rows in pools.items()
        },  # fmt: skip
        "turns_per_example": {
            name: _mean([len(e.context) + 2 for e in rows]) for name, rows in pools.items()
        },
    }


def write_splits(
    splits: Splits,
    art: Artifacts,
    *,
    source: DataSource | None = None,
    corpora: Corpora | None = None,
    extra: dict | None = None,
) -> dict:
    """Write the four pools, ``candidates.jsonl`` and ``stats.json`` into the artifact folder
    `art` (``artifacts/<profile>/data``) and return the stats."""
    pools = {name: getattr(splits, name) for name in SPLITS}
    for name, rows in pools.items():
        art.write_split(name, rows)
    write_jsonl(art.candidates, splits.candidates)
    stats: dict = {
        "source": _source_stats(source),
        **_pool_stats(pools),
        "rejected": splits.report["cleaning"],
        "published": PUBLISHED_STATS,
        "table6": [
            {
                "id": f"table6-{k + 1}",
                "label": it.label,
                "query": it.query,
                "response": it.response,
                "note": it.note,
                "raw_query": it.raw_query,
            }
            for k, it in enumerate(splits.table6)
        ],  # fmt: skip
    }
    if corpora is not None:
        stats.update(corpus_stats(corpora))
    if extra:
        stats.update(extra)
    art.write("stats", stats)
    return stats


def published_comparison(stats: dict) -> list[dict]:
    """Rows (corpus, statistic, this run, published) for the statistics the corpus papers
    report; a corpus this run did not read is left out. The synthetic corpus is set beside
    ECD's published values, which it imitates."""
    corpora = stats.get("corpora", {})
    wanted = [
        (f"{p}_{split}", label, key, f"ecd_{key}")
        for p in ("ecd", "synthetic")
        for split in ("train", "test")
        for label, key in (("turns per session", "turns_per_session"),
                           ("words per utterance", "words_per_utterance"))
    ]  # fmt: skip
    wanted.append(
        ("jddc", "utterances per session", "turns_per_session", "jddc_utterances_per_session")
    )
    rows = []
    for corpus, label, key, pub in wanted:
        if corpus in corpora:
            rows.append({"corpus": corpus, "statistic": label, "this run": corpora[corpus][key],
                         "published": PUBLISHED_STATS[pub]})  # fmt: skip
    for corpus, c in corpora.items():
        if "tokens_per_utterance" in c:
            rows.append({"corpus": corpus, "statistic": "tokens per utterance (count_tokens)",
                         "this run": c["tokens_per_utterance"], "published": None})  # fmt: skip
    return rows
