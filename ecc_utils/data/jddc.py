"""The Jing Dong Dialogue Corpus (JDDC) readers: the chat log and the challenge's dev set."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecc_utils.data.lines import Problems, require_file
from ecc_utils.records import Example, Turn


@dataclass(frozen=True)
class JddcSession:
    """One JDDC session; consecutive messages of one speaker are merged into one turn."""

    session_id: str
    turns: tuple[Turn, ...]
    n_messages: int


@dataclass
class JddcChat:
    """What `read_jddc` returns: sessions, (context, query, response) pairs, skipped lines."""

    path: Path
    sessions: list[JddcSession]
    pairs: list[Example]
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def read_jddc(path: str | os.PathLike, strict: bool = True) -> JddcChat:
    """Read a JDDC chat log (7 tab-separated columns, see JDDC_readme.txt).

    Columns: session_id, user_id, waiter_send (0 customer / 1 agent), is_transfer, is_repeat,
    sku, content. Messages of one session must be consecutive. Every agent turn that follows a
    customer turn becomes a pair: ``query`` = that customer turn, ``context`` = the turns before
    it, ``response`` = the agent turn. Raises `DataFormatError` on a wrong column count, a
    waiter_send that is not 0/1 or invalid UTF-8 (``strict=False``: skipped and counted).
    """
    path = Path(path)
    require_file(path, "JDDC chat log")
    problems = Problems(path, strict)
    sessions = _sessions(_messages(problems))
    return JddcChat(path, sessions, _pairs(sessions), len(problems.messages), problems.messages)


def _messages(problems: Problems) -> Iterator[tuple[str, str, str]]:
    """(session id as written, speaker, content) of each well-formed line, in order; the other
    lines reported to `problems`."""
    for i, text in problems.lines():
        cols = text.split("\t")
        if len(cols) != 7:
            problems.report(
                i,
                f"wrong column count {len(cols)}: expected 7 tab-separated columns (session_id, "
                "user_id, waiter_send, is_transfer, is_repeat, sku, content)",
            )
            continue
        sid, _, waiter, _, _, _, content = cols
        if waiter.strip() not in ("0", "1"):
            problems.report(i, f"waiter_send {waiter!r} is not 0 (customer) or 1 (agent)")
            continue
        yield sid, "agent" if waiter.strip() == "1" else "customer", content.strip()


def _sessions(messages: Iterable[tuple[str, str, str]]) -> list[JddcSession]:
    """Consecutive messages of one session id as a session of turns (a speaker's consecutive
    messages joined into one turn, empty ones counted but dropped). A session id met again
    after other sessions becomes "<id>#2", "<id>#3", ... so that example ids stay unique."""
    sessions: list[JddcSession] = []
    seen_ids: Counter = Counter()
    cur_raw: str | None = None
    cur_id, cur, n_msgs = "", [], 0

    def close() -> None:
        if cur_raw is not None and cur:
            turns = tuple(Turn(s, " ".join(m)) for s, m in cur)  # type: ignore[arg-type]
            sessions.append(JddcSession(cur_id, turns, n_msgs))

    for sid, speaker, content in messages:
        if sid != cur_raw:
            close()
            seen_ids[sid] += 1
            cur_raw, cur_id = sid, sid if seen_ids[sid] == 1 else f"{sid}#{seen_ids[sid]}"
            cur, n_msgs = [], 0
        n_msgs += 1
        if not content:
            continue
        if cur and cur[-1][0] == speaker:
            cur[-1][1].append(content)
        else:
            cur.append((speaker, [content]))
    close()
    return sessions


def _pairs(sessions: Sequence[JddcSession]) -> list[Example]:
    """Every agent turn that follows a customer turn: ``query`` = that customer turn,
    ``context`` = the turns before it, ``response`` = the agent turn."""
    return [
        Example(id=f"jddc-{s.session_id}-{k}", source="jddc", context=list(s.turns[: k - 1]),
                query=s.turns[k - 1].text, response=s.turns[k].text)
        for s in sessions
        for k in range(1, len(s.turns))
        if s.turns[k].speaker == "agent" and s.turns[k - 1].speaker == "customer"
    ]  # fmt: skip


_SESSION_OPEN = re.compile(r"^<session ([^>]+)>$")
_SESSION_CLOSE = re.compile(r"^</session ([^>]+)>$")
_QUESTION = re.compile(r"^<Q(\d+)>(.*)</Q\1>$")
_JDDC_MSG_SEP = "!@@@!"


@dataclass
class JddcDev:
    """What `read_jddc_dev` returns: one Example per question with its human references."""

    question_path: Path
    answer_path: Path
    examples: list[Example]
    skipped: int = 0
    no_reference: int = 0
    problems: list[str] = field(default_factory=list)


def _dev_refs(field_text: str) -> list[str]:
    refs = []
    for r in field_text.split("<sep>"):
        r = " ".join(m.strip() for m in r.split(_JDDC_MSG_SEP) if m.strip())
        if r and r != "NULL":
            refs.append(r)
    return refs


def _joined(text: str) -> str:
    """Messages joined with ``!@@@!`` as one turn's text."""
    return " ".join(m.strip() for m in text.split(_JDDC_MSG_SEP) if m.strip())


def _read_dev_answers(aprob: Problems) -> dict[str, list[tuple[int, list[str]]]]:
    """``dev_answer.txt``: session id -> one (line, references) per question, in order."""
    answers: dict[str, list[tuple[int, list[str]]]] = {}
    sid: str | None = None
    for i, text in aprob.lines():
        if m := _SESSION_OPEN.match(text.strip()):
            sid = m.group(1)
            answers[sid] = []
        elif m := _SESSION_CLOSE.match(text.strip()):
            if m.group(1) != sid:
                aprob.report(i, f"</session {m.group(1)}> closes session {sid!r}")
            sid = None
        elif sid is None:
            aprob.report(i, "answer line outside <session ...> ... </session ...>")
        else:
            answers[sid].append((i, _dev_refs(text)))
    return answers


@dataclass
class _DevSession:
    """One ``<session>`` of ``dev_question.txt`` as it is read."""

    sid: str
    context: list[Turn] = field(default_factory=list)
    questions: list[tuple[int, int, str]] = field(default_factory=list)  # (line, k, text)
    in_context: bool = False

    def context_line(self, text: str) -> None:
        """A ``Q:`` (customer) or ``A:`` (agent: its first non-NULL reference) context line."""
        body = text[2:].strip()
        if text.startswith("Q:"):
            q = _joined(body)
            if q and q != "NULL":
                self.context.append(Turn("customer", q))
        elif refs := _dev_refs(body):
            self.context.append(Turn("agent", refs[0]))

    def examples(self, answers: list[tuple[int, list[str]]]) -> tuple[list[Example], int]:
        """(one Example per question that has a reference, the count of those without): each
        question sees the context and the earlier questions with their first references."""
        out, no_ref, turns = [], 0, list(self.context)
        for (_, k, q), (_, refs) in zip(self.questions, answers, strict=True):
            query = _joined(q)
            if refs and query:
                out.append(Example(id=f"jddc-dev-{self.sid}-Q{k}", source="jddc_dev",
                                   context=list(turns), query=query, response=refs[0],
                                   references=refs))  # fmt: skip
            else:
                no_ref += 1
            if query:
                turns.append(Turn("customer", query))
            if refs:
                turns.append(Turn("agent", refs[0]))
        return out, no_ref


def _close_dev_session(
    session: _DevSession, line: int, answers: dict, qprob: Problems, apath: Path
) -> tuple[list[Example], int]:
    """The examples of a finished session, or a reported problem when its answers do not fit."""
    ans = answers.get(session.sid)
    if ans is None:
        qprob.report(line, f"session {session.sid!r} has no answers in {apath}")
        return [], 0
    if len(ans) != len(session.questions):
        qprob.report(line, f"session {session.sid!r} has {len(session.questions)} questions but "
                     f"{apath} has {len(ans)} answer lines for it")  # fmt: skip
        return [], 0
    return session.examples(ans)


def read_jddc_dev(
    question_path: str | os.PathLike,
    answer_path: str | os.PathLike | None = None,
    strict: bool = True,
) -> JddcDev:
    """Read the JDDC challenge dev set (``dev_question.txt`` + ``dev_answer.txt``).

    Each ``<Qk>`` question becomes an Example whose context is the session's ``<context>``
    (``Q:`` customer / ``A:`` agent lines; an ``A:`` line's first non-NULL reference is used)
    followed by the earlier questions and their first references; ``references`` holds the
    (up to three) non-NULL human answers, ``response`` the first of them. Messages joined with
    ``!@@@!`` become one turn. A question whose three answers are all ``NULL`` is counted in
    ``no_reference`` and left out. Bad structure raises `DataFormatError` (file:line).
    """
    qpath = Path(question_path)
    apath = Path(answer_path) if answer_path is not None else qpath.with_name("dev_answer.txt")
    require_file(qpath, "JDDC dev questions")
    require_file(apath, "JDDC dev answers (pass answer_path)")
    qprob = Problems(qpath, strict)
    aprob = Problems(apath, strict)
    answers = _read_dev_answers(aprob)
    examples: list[Example] = []
    no_ref = 0
    session: _DevSession | None = None
    for i, text in qprob.lines():
        line = text.strip()
        if m := _SESSION_OPEN.match(line):
            session = _DevSession(m.group(1))
        elif m := _SESSION_CLOSE.match(line):
            sid = session.sid if session else None
            if m.group(1) != sid:
                qprob.report(i, f"</session {m.group(1)}> closes session {sid!r}")
            elif session is not None:
                found, missing = _close_dev_session(session, i, answers, qprob, apath)
                examples += found
                no_ref += missing
            session = None
        elif session is None:
            qprob.report(i, "line outside <session ...> ... </session ...>")
        elif line in ("<context>", "</context>"):
            session.in_context = line == "<context>"
        elif session.in_context and text.startswith(("Q:", "A:")):
            session.context_line(text)
        elif m := _QUESTION.match(line):
            session.questions.append((i, int(m.group(1)), m.group(2)))
        else:
            qprob.report(
                i,
                "expected <session ID>, <context>, 'Q:\\t...'/'A:\\t...' lines, </context>, "
                f"<Qk>...</Qk> or </session ID>; got {line[:40]!r}",
            )
    problems = qprob.messages + aprob.messages
    return JddcDev(qpath, apath, examples, len(problems), no_ref, problems)
