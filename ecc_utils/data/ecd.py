"""The Taobao E-commerce Dialogue Corpus (ECD) reader: contexts with candidate responses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecc_utils.data.lines import Problems, require_file
from ecc_utils.records import Turn


@dataclass(frozen=True)
class EcdRecord:
    """One ECD line: a context, one candidate response and whether it is the true one."""

    line: int
    context: tuple[Turn, ...]
    response: str
    label: int


@dataclass(frozen=True)
class CandidateGroup:
    """All candidate responses of one context (R10@k needs them); exactly one is true."""

    index: int
    line: int  # 1-based line of the group's first record
    context: tuple[Turn, ...]
    candidates: tuple[str, ...]
    labels: tuple[int, ...]

    @property
    def true_index(self) -> int:
        return self.labels.index(1)

    @property
    def true_response(self) -> str:
        return self.candidates[self.true_index]


@dataclass
class EcdFile:
    """What `read_ecd` returns: the records, their groups and the skipped lines.

    ``skipped`` counts the lines left out with ``strict=False`` (bad lines, and every line of
    a group without a true response); ``problems`` has one "file:line: what" message each.
    """

    path: Path
    records: list[EcdRecord]
    groups: list[CandidateGroup]
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def _alternating_turns(utterances: Sequence[str]) -> tuple[Turn, ...]:
    speakers = ("customer", "agent")
    return tuple(Turn(speakers[i % 2], u) for i, u in enumerate(utterances))  # type: ignore[arg-type]


def read_ecd(path: str | os.PathLike, strict: bool = True) -> EcdFile:
    """Read an ECD file (``label \\t utt_1 \\t ... \\t utt_n \\t response``).

    Utterances alternate customer/agent starting with the customer, so n is odd and the
    response answers the customer. Consecutive lines with the same context form one
    `CandidateGroup` (1 true + k false responses). Raises `DataFormatError` on a wrong column
    count, a label other than 0/1, an empty response, invalid UTF-8 or a group without a true
    response; with ``strict=False`` those lines (or groups) are skipped and counted instead.
    """
    path = Path(path)
    require_file(path, "ECD file")
    problems = Problems(path, strict)
    records = _records(problems)
    n_bad_lines = len(problems.messages)
    kept, groups, bad_group_lines = _group(records, problems)
    return EcdFile(path, kept, groups, n_bad_lines + bad_group_lines, problems.messages)


def _records(problems: Problems) -> list[EcdRecord]:
    """The well-formed lines of the file, the others reported to `problems`."""
    records: list[EcdRecord] = []
    for i, text in problems.lines():
        cols = text.split("\t")
        n_utt = len(cols) - 2
        if n_utt < 1 or n_utt % 2 == 0:
            problems.report(
                i,
                f"wrong column count {len(cols)}: expected label, an odd number of utterances "
                "(customer first, customer last) and the response, tab-separated",
            )
            continue
        label = cols[0].strip()
        if label not in ("0", "1"):
            problems.report(i, f"label {cols[0]!r} is not 0 or 1")
            continue
        if not cols[-1].strip():
            problems.report(i, "empty response (last column)")
            continue
        records.append(EcdRecord(i, _alternating_turns(cols[1:-1]), cols[-1], int(label)))
    return records


def _group(
    records: list[EcdRecord], problems: Problems
) -> tuple[list[EcdRecord], list[CandidateGroup], int]:
    """(kept records, candidate groups, lines of groups without a true response): consecutive
    lines with the same context form a group; a new group starts when the context changes, or
    when a second true response for the same context arrives (the context listed twice)."""
    groups: list[CandidateGroup] = []
    kept: list[EcdRecord] = []
    bad_lines = 0
    runs: list[list[EcdRecord]] = []
    for r in records:
        last = runs[-1] if runs else None
        if (
            last
            and r.context == last[0].context
            and not (r.label == 1 and any(p.label for p in last))
        ):
            last.append(r)
        else:
            runs.append([r])
    for run in runs:
        labels = tuple(r.label for r in run)
        if 1 not in labels:
            problems.report(
                run[0].line,
                f"context group of lines {run[0].line}-{run[-1].line} has no true "
                "response (no line with label 1)",
            )
            bad_lines += len(run)
            continue
        groups.append(CandidateGroup(len(groups), run[0].line, run[0].context,
                                     tuple(r.response for r in run), labels))  # fmt: skip
        kept.extend(run)
    return kept, groups, bad_lines
