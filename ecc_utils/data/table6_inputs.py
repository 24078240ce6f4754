"""The six user inputs of Table VI, located in an ECD-format test file."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ecc_utils.data.cleaning import clean_text
from ecc_utils.data.ecd import CandidateGroup, EcdFile
from ecc_utils.paper import TABLE6_INPUTS, TableVIInput
from ecc_utils.records import Turn


@dataclass(frozen=True)
class TableVIItem:
    """One Table VI row as found in the data, with why this utterance was chosen."""

    label: str
    query: str
    response: str
    note: str
    group_index: int
    line: int
    raw_query: str


def find_table6(
    ecd_test: EcdFile,
    inputs: Sequence[TableVIInput] = TABLE6_INPUTS,
    corpus: str = "ECD sample",
) -> list[TableVIItem]:
    """Locate each Table VI input among the customer utterances of the test groups.

    For each input the first group (in file order) whose customer utterance equals the first
    of ``texts`` wins, then the next text, then the ``pattern``; first utterances are
    preferred. The response is the human agent's next turn. Raises ValueError naming the
    input and file when nothing matches.
    """
    items = []
    used: set[int] = set()
    for inp in inputs:
        tries: list[tuple[Callable[[str], bool], str]] = [
            (lambda u, t=t: u == t, note) for t, note in zip(inp.texts, inp.notes, strict=False)
        ]
        if inp.pattern:
            pat = re.compile(inp.pattern)
            tries.append((lambda u, pat=pat: pat.fullmatch(u) is not None, inp.notes[-1]))
        found = _first_match(ecd_test.groups, tries, used)
        if found is None:
            raise ValueError(
                f"Table VI input {inp.label!r} not found in {ecd_test.path}: no customer "
                f"utterance equals one of {inp.texts} or matches {inp.pattern!r}"
            )
        g, j, note = found
        used.add(g.index)
        utts = [*g.context, Turn("agent", g.true_response)]
        items.append(
            TableVIItem(
                label=inp.label,
                query=clean_text(utts[j].text),
                response=clean_text(utts[j + 1].text),
                note=f"{note.format(corpus=corpus)} (test context {g.index + 1}, line {g.line})",
                group_index=g.index,
                line=g.line,
                raw_query=utts[j].text,
            )
        )
    return items


def _first_match(
    groups: Sequence[CandidateGroup],
    tries: Sequence[tuple[Callable[[str], bool], str]],
    used: set[int],
) -> tuple[CandidateGroup, int, str] | None:
    for accept, note in tries:
        for first_only in (True, False):  # a context's opening utterance is preferred
            for g in groups:
                if g.index in used:
                    continue
                positions = [0] if first_only else range(2, len(g.context), 2)
                for j in positions:
                    if accept(g.context[j].text):
                        return g, j, note
    return None
