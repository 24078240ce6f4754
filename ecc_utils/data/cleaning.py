"""Cleaning: full-width forms, ECD's word segmentation, token counts, length limits, duplicates."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ecc_utils.data.ecd import EcdFile
from ecc_utils.records import Example, Turn

_CJK_RANGES = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0002fa1f"
)
_CJK = f"[{_CJK_RANGES}]"
_CJK_CHAR = re.compile(_CJK)
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<={_CJK}) +| +(?={_CJK})")
_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Map full-width ASCII forms (U+FF01-FF5E, U+3000) to ASCII and collapse whitespace.

    Like NFKC, but only for the ASCII range: other characters (CJK punctuation such as
    "。" or "、") are kept.
    """
    out = []
    for ch in text:
        o = ord(ch)
        if 0xFF01 <= o <= 0xFF5E:
            ch = chr(o - 0xFEE0)
        elif o == 0x3000:
            ch = " "
        out.append(ch)
    return _WS.sub(" ", "".join(out)).strip()


def desegment(text: str) -> str:
    """Undo ECD's word segmentation: drop spaces next to CJK characters.

    Spaces between two Latin/digit tokens stay ("Xs Max", "6 8"), so "韵达 邮政 EMS 随机"
    becomes "韵达邮政EMS随机".
    """
    return _SPACE_NEXT_TO_CJK.sub("", text)


def clean_text(text: str, segmented: bool = True) -> str:
    """Normalise (see `normalize_text`), undo segmentation if ``segmented``; ``NULL`` -> ""."""
    text = normalize_text(text)
    if text == "NULL":
        return ""
    return desegment(text) if segmented else text


def count_tokens(text: str) -> int:
    """Deterministic token count: one per CJK character, one per Latin/digit word, one per
    other symbol (the unit of the paper's 256 / 512 length limits here)."""
    n = 0
    for m in re.finditer(rf"({_CJK})|([^\W_]+)|(\S)", text):
        if m.group(1) is not None:
            n += 1
        elif m.group(2) is not None:
            # \w also matches CJK; a mixed run like "EMS随机" counts its CJK chars one each.
            cjk = len(_CJK_CHAR.findall(m.group(2)))
            rest = _CJK_CHAR.sub(" ", m.group(2)).split()
            n += cjk + len(rest)
        else:
            n += 1
    return n


def clean_turns(turns: Sequence[Turn], segmented: bool = True) -> list[Turn]:
    """Clean each turn, drop empty and ``NULL`` turns, merge consecutive turns of a speaker."""
    out: list[Turn] = []
    for t in turns:
        text = clean_text(t.text, segmented)
        if not text:
            continue
        if out and out[-1].speaker == t.speaker:
            out[-1] = Turn(t.speaker, out[-1].text + " " + text)
        else:
            out.append(Turn(t.speaker, text))
    return out


def ecd_examples(ecd: EcdFile, split: str, source: str = "ecd") -> list[Example]:
    """One raw (uncleaned) Example per candidate group: its context, last customer utterance
    and true response. Ids are ``<source>-<split>-<group index>``."""
    out = []
    for g in ecd.groups:
        out.append(
            Example(
                id=f"{source}-{split}-{g.index:05d}",
                source=source,
                context=list(g.context[:-1]),
                query=g.context[-1].text,
                response=g.true_response,
            )
        )
    return out


def clean_examples(
    examples: Sequence[Example],
    *,
    segmented: bool,
    max_input_tokens: int = 256,
    max_output_tokens: int = 512,
    counts: Counter | None = None,
) -> list[Example]:
    """Clean, length-filter and de-duplicate examples; reasons for dropping go to ``counts``.

    The input is context + query: when it exceeds ``max_input_tokens`` the oldest context
    turns are dropped (counted as ``context_trimmed``); an example is dropped when its query
    or response is empty after cleaning, its query alone is too long, its response exceeds
    ``max_output_tokens``, or it repeats an earlier (context, query, response).
    """
    counts = Counter() if counts is None else counts
    seen: set[tuple] = set()
    out = []
    for ex in examples:
        turns = clean_turns([*ex.context, Turn("customer", ex.query)], segmented)
        response = clean_text(ex.response, segmented)
        refs = [r for r in (clean_text(r, segmented) for r in ex.references) if r]
        if not turns or turns[-1].speaker != "customer":
            counts["empty_query"] += 1
            continue
        if not response:
            counts["empty_response"] += 1
            continue
        query, context = turns[-1].text, turns[:-1]
        q_tokens = count_tokens(query)
        if q_tokens > max_input_tokens:
            counts["too_long_input"] += 1
            continue
        if count_tokens(response) > max_output_tokens:
            counts["too_long_output"] += 1
            continue
        budget = max_input_tokens - q_tokens
        lengths = [count_tokens(t.text) for t in context]
        start = 0
        while sum(lengths[start:]) > budget:
            start += 1
        if start:
            counts["context_trimmed"] += 1
            context = context[start:]
        key = (tuple(context), query, response)
        if key in seen:
            counts["duplicate"] += 1
            continue
        seen.add(key)
        out.append(
            Example(
                ex.id, ex.source, context, query, response, refs or list(ex.references), ex.label
            )
        )
    return out
