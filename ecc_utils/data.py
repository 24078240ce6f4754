"""ECD and JDDC readers, data sources, cleaning and the splits of the artifact contract.

Paper, Section IV-A: the end model is trained on the Taobao E-commerce Dialogue Corpus (ECD)
and the Jing Dong Dialogue Corpus (JDDC), with inputs of at most 256 and outputs of at most
512 tokens (Table IV). This module

* reads both corpora into typed records (`read_ecd`, `read_jddc`, `read_jddc_dev`); bad input
  raises `DataFormatError` naming file, 1-based line and problem, or with ``strict=False`` the
  line is skipped and counted in the returned object;
* finds the data (`resolve_source`): a data folder, the ECD sample downloaded from its public
  repository (sha256-pinned, cached under ``data/raw/``), or the project's own synthetic corpus;
* cleans text (`clean_text`, `count_tokens`) and turns records into `Example`s;
* builds the splits (`make_splits`) and writes them with their statistics (`write_splits`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

from ecc_utils.records import Example, Turn, atomic_write_text, write_jsonl

__all__ = [
    "DataFormatError",
    "DataNotFoundError",
    "DataDownloadError",
    "EcdRecord",
    "CandidateGroup",
    "EcdFile",
    "JddcSession",
    "JddcChat",
    "JddcDev",
    "DataSource",
    "Corpora",
    "TableVIInput",
    "TableVIItem",
    "Splits",
    "ECD_BASE_URL",
    "ECD_FILES",
    "PUBLISHED_STATS",
    "TABLE_VI_INPUTS",
    "read_ecd",
    "read_jddc",
    "read_jddc_dev",
    "download_ecd_sample",
    "resolve_source",
    "load_corpora",
    "normalize_text",
    "desegment",
    "clean_text",
    "count_tokens",
    "clean_turns",
    "ecd_examples",
    "clean_examples",
    "find_table6",
    "make_splits",
    "corpus_stats",
    "write_splits",
    "published_comparison",
    "plot_histograms",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE_DIR = REPO_ROOT / "data" / "raw"
SYNTHETIC_DIR = REPO_ROOT / "data" / "synthetic"

ECD_COMMIT = "8cc3b7c5d1fcb2eb17a3e2c220e8a4a62113bcfe"
ECD_BASE_URL = (
    f"https://raw.githubusercontent.com/cooelf/DeepUtteranceAggregation/{ECD_COMMIT}/ECD_sample/"
)
# sha256 of the files at the pinned commit (train and valid are byte-identical as published).
ECD_FILES: dict[str, str] = {
    "train": "f6612035923432e2d9f8b43e0d19e503c212fe9728c61d5ab16e61a5de90d70e",
    "valid": "f6612035923432e2d9f8b43e0d19e503c212fe9728c61d5ab16e61a5de90d70e",
    "test": "3fd9f60cda25732a19deba1bd376495713ab042849e03bc904b241ca414bebc4",
}

# The corpora papers' own statistics, shown beside ours (ECD: Zhang et al. 2018, train split;
# JDDC: Chen et al. 2020).
PUBLISHED_STATS: dict[str, float] = {
    "ecd_turns_per_session": 5.51,
    "ecd_words_per_utterance": 7.02,
    "jddc_utterances_per_session": 20.0,
}


class DataFormatError(ValueError):
    """Bad input in a corpus file; the message names the file, the 1-based line and the fix."""


class DataNotFoundError(FileNotFoundError):
    """A corpus file or folder is missing; the message says where the reader looked."""


class DataDownloadError(RuntimeError):
    """The ECD sample could not be downloaded, or its sha256 did not match."""


# ---------------------------------------------------------------------------------------------
# Reading lines


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        where = "a folder, not a file" if path.is_dir() else "no such file"
        raise DataNotFoundError(f"{what} not found: looked for {path.resolve()} ({where})")


def _iter_lines(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """Yield (1-based line number, text or None when undecodable, error message)."""
    data = path.read_bytes()
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for i, raw in enumerate(raw_lines, 1):
        raw = raw.removesuffix(b"\r")
        try:
            yield i, raw.decode("utf-8"), ""
        except UnicodeDecodeError as e:
            yield i, None, f"invalid UTF-8 at byte {e.start} of the line; re-save it as UTF-8"


@dataclass
class _Problems:
    """Collects skipped lines (strict=False) or raises at the first one (strict=True)."""

    path: Path
    strict: bool
    messages: list[str] = field(default_factory=list)

    def report(self, line: int, what: str) -> None:
        msg = f"{self.path}:{line}: {what}"
        if self.strict:
            raise DataFormatError(msg + " (pass strict=False to skip and count such lines)")
        self.messages.append(msg)


# ---------------------------------------------------------------------------------------------
# ECD


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
    _require_file(path, "ECD file")
    problems = _Problems(path, strict)
    records: list[EcdRecord] = []
    for i, text, err in _iter_lines(path):
        if text is None:
            problems.report(i, err)
            continue
        if not text.strip():
            continue
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

    groups: list[CandidateGroup] = []
    pending: list[EcdRecord] = []
    kept: list[EcdRecord] = []
    n_bad_groups, n_bad_group_lines = [0], [0]

    def close() -> None:
        if not pending:
            return
        labels = tuple(r.label for r in pending)
        if 1 not in labels:
            problems.report(
                pending[0].line,
                f"context group of lines {pending[0].line}-{pending[-1].line} has no true "
                "response (no line with label 1)",
            )
            n_bad_groups[0] += 1
            n_bad_group_lines[0] += len(pending)
        else:
            groups.append(
                CandidateGroup(
                    len(groups),
                    pending[0].line,
                    pending[0].context,
                    tuple(r.response for r in pending),
                    labels,
                )
            )
            kept.extend(pending)
        pending.clear()

    for r in records:
        # A new group starts when the context changes, or when a second true response for the
        # same context arrives (the same context listed twice in a row).
        if pending and (
            r.context != pending[0].context or (r.label == 1 and any(p.label for p in pending))
        ):
            close()
        pending.append(r)
    close()
    n_bad_lines = len(problems.messages) - n_bad_groups[0]
    return EcdFile(path, kept, groups, n_bad_lines + n_bad_group_lines[0], problems.messages)


# ---------------------------------------------------------------------------------------------
# JDDC chat log


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
    _require_file(path, "JDDC chat log")
    problems = _Problems(path, strict)
    sessions: list[JddcSession] = []
    cur_id: str | None = None
    cur_raw: str | None = None
    cur: list[tuple[str, list[str]]] = []
    seen_ids: Counter = Counter()
    n_msgs = 0

    def close() -> None:
        if cur_id is not None and cur:
            turns = tuple(Turn(s, " ".join(m)) for s, m in cur)  # type: ignore[arg-type]
            sessions.append(JddcSession(cur_id, turns, n_msgs))

    for i, text, err in _iter_lines(path):
        if text is None:
            problems.report(i, err)
            continue
        if not text.strip():
            continue
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
        if sid != cur_raw:
            close()
            # A session id met again after other sessions becomes "<id>#2", "<id>#3", ...
            # so that example ids stay unique.
            seen_ids[sid] += 1
            cur_raw, cur_id = sid, sid if seen_ids[sid] == 1 else f"{sid}#{seen_ids[sid]}"
            cur, n_msgs = [], 0
        speaker = "agent" if waiter.strip() == "1" else "customer"
        n_msgs += 1
        content = content.strip()
        if not content:
            continue
        if cur and cur[-1][0] == speaker:
            cur[-1][1].append(content)
        else:
            cur.append((speaker, [content]))
    close()

    pairs: list[Example] = []
    for s in sessions:
        for k in range(1, len(s.turns)):
            if s.turns[k].speaker == "agent" and s.turns[k - 1].speaker == "customer":
                pairs.append(
                    Example(
                        id=f"jddc-{s.session_id}-{k}",
                        source="jddc",
                        context=list(s.turns[: k - 1]),
                        query=s.turns[k - 1].text,
                        response=s.turns[k].text,
                    )
                )
    return JddcChat(path, sessions, pairs, len(problems.messages), problems.messages)


# ---------------------------------------------------------------------------------------------
# JDDC challenge dev format

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
    _require_file(qpath, "JDDC dev questions")
    _require_file(apath, "JDDC dev answers (pass answer_path)")
    qprob = _Problems(qpath, strict)
    aprob = _Problems(apath, strict)

    # Answers: session id -> list of (line, references).
    answers: dict[str, list[tuple[int, list[str]]]] = {}
    sid: str | None = None
    for i, text, err in _iter_lines(apath):
        if text is None:
            aprob.report(i, err)
            continue
        if not text.strip():
            continue
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

    examples: list[Example] = []
    no_ref = 0
    sid = None
    in_context = False
    ctx: list[Turn] = []
    questions: list[tuple[int, int, str]] = []

    def close_session(line: int) -> None:
        nonlocal no_ref
        if sid is None:
            return
        ans = answers.get(sid)
        if ans is None:
            qprob.report(line, f"session {sid!r} has no answers in {apath}")
            return
        if len(ans) != len(questions):
            qprob.report(
                line,
                f"session {sid!r} has {len(questions)} questions but {apath} has "
                f"{len(ans)} answer lines for it",
            )
            return
        turns = list(ctx)
        for (_, k, q), (_, refs) in zip(questions, ans, strict=True):
            query = " ".join(m.strip() for m in q.split(_JDDC_MSG_SEP) if m.strip())
            if refs and query:
                examples.append(
                    Example(
                        id=f"jddc-dev-{sid}-Q{k}",
                        source="jddc_dev",
                        context=list(turns),
                        query=query,
                        response=refs[0],
                        references=refs,
                    )
                )
            else:
                no_ref += 1
            if query:
                turns.append(Turn("customer", query))
            if refs:
                turns.append(Turn("agent", refs[0]))

    for i, text, err in _iter_lines(qpath):
        if text is None:
            qprob.report(i, err)
            continue
        line = text.strip()
        if not line:
            continue
        if m := _SESSION_OPEN.match(line):
            sid, ctx, questions, in_context = m.group(1), [], [], False
        elif m := _SESSION_CLOSE.match(line):
            if m.group(1) != sid:
                qprob.report(i, f"</session {m.group(1)}> closes session {sid!r}")
            else:
                close_session(i)
            sid = None
        elif sid is None:
            qprob.report(i, "line outside <session ...> ... </session ...>")
        elif line == "<context>":
            in_context = True
        elif line == "</context>":
            in_context = False
        elif in_context and text.startswith(("Q:", "A:")):
            body = text[2:].strip()
            if text.startswith("Q:"):
                q = " ".join(m.strip() for m in body.split(_JDDC_MSG_SEP) if m.strip())
                if q and q != "NULL":
                    ctx.append(Turn("customer", q))
            else:
                refs = _dev_refs(body)
                if refs:
                    ctx.append(Turn("agent", refs[0]))
        elif m := _QUESTION.match(line):
            questions.append((i, int(m.group(1)), m.group(2)))
        else:
            qprob.report(
                i,
                "expected <session ID>, <context>, 'Q:\\t...'/'A:\\t...' lines, </context>, "
                f"<Qk>...</Qk> or </session ID>; got {line[:40]!r}",
            )
    problems = qprob.messages + aprob.messages
    return JddcDev(qpath, apath, examples, len(problems), no_ref, problems)


# ---------------------------------------------------------------------------------------------
# Sources: a data folder, the downloaded ECD sample, or the synthetic corpus


@dataclass(frozen=True)
class DataSource:
    """Where this run's data came from; `description` is printed by the notebook.

    kind: "dir" (a data folder), "download" (ECD sample fetched or found in the cache),
    "synthetic" (the project's own corpus).
    """

    kind: str
    description: str
    ecd_dir: Path
    jddc_dir: Path | None = None

    @property
    def corpus(self) -> str:
        """The `Example.source` of ECD-format examples: "synthetic" or "ecd"."""
        return "synthetic" if self.kind == "synthetic" else "ecd"


def download_ecd_sample(
    dest_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    *,
    base_url: str = ECD_BASE_URL,
    files: dict[str, str] | None = None,
    opener: Callable[..., object] = urllib.request.urlopen,
    timeout: float = 10.0,
) -> Path:
    """Fetch the ECD sample into ``dest_dir/ecd_sample/`` and return that folder.

    Each file is checked against its pinned sha256; a file already cached with the right
    hash is not fetched again. A download error or a hash mismatch raises `DataDownloadError`
    and leaves no file for it in the cache. `opener(url, timeout=...)` must return a readable
    response (``urllib.request.urlopen`` by default; tests pass a fake).
    """
    files = ECD_FILES if files is None else files
    out = Path(dest_dir) / "ecd_sample"
    out.mkdir(parents=True, exist_ok=True)
    for name, sha in files.items():
        target = out / name
        if target.is_file() and _sha256(target.read_bytes()) == sha:
            continue
        url = base_url + name
        try:
            with opener(url, timeout=timeout) as resp:  # type: ignore[attr-defined]
                data = resp.read()
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise DataDownloadError(f"could not download {url}: {e}") from e
        got = _sha256(data)
        if got != sha:
            raise DataDownloadError(
                f"sha256 mismatch for {url}: expected {sha}, got {got}; nothing was cached. "
                "The repository may have changed: check ECD_BASE_URL and ECD_FILES."
            )
        _atomic_write_bytes(target, data)
    return out


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _has_ecd(d: Path) -> bool:
    return (d / "train").is_file() and (d / "test").is_file()


def resolve_source(
    source: str = "auto",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    use_jddc: bool = False,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    synthetic_contexts: int | None = None,
    seed: int = 0,
    opener: Callable[..., object] = urllib.request.urlopen,
    timeout: float = 10.0,
) -> DataSource:
    """Decide where the data comes from and return it as a `DataSource`.

    source: "dir" (``data_dir`` or env ``ECC_DATA_DIR`` must hold ``ecd_sample/``),
    "ecd_sample" (that folder if present, else the cache, else download), "synthetic", or
    "auto" (folder, cache, download, then synthetic as the offline fallback). JDDC is read
    from ``<data_dir>/jddc_sample`` only (the full corpus needs registration with JD).
    ``synthetic_contexts`` other than the committed fixture's size generates a corpus into
    ``cache_dir``.
    """
    if source not in ("auto", "dir", "ecd_sample", "synthetic"):
        raise ValueError(
            f"data source {source!r} is not one of auto, dir, ecd_sample, synthetic "
            "(parameter data.source of the profile)"
        )
    root = data_dir if data_dir is not None else os.environ.get("ECC_DATA_DIR")
    root_path = Path(root).expanduser() if root else None
    jddc_dir = None
    if use_jddc and root_path is not None and (root_path / "jddc_sample").is_dir():
        jddc_dir = root_path / "jddc_sample"
    jddc_note = ""
    if use_jddc:
        jddc_note = (
            f"; JDDC from {jddc_dir}"
            if jddc_dir
            else "; JDDC not found (needs a data folder with jddc_sample/), ECD only"
        )

    if source == "synthetic":
        return _synthetic_source(cache_dir, synthetic_contexts, seed, "asked for by the profile")

    if root_path is not None and _has_ecd(root_path / "ecd_sample"):
        return DataSource(
            "dir", f"ECD sample from data folder {root_path}" + jddc_note,
            root_path / "ecd_sample", jddc_dir,
        )  # fmt: skip
    if source == "dir":
        looked = root_path / "ecd_sample" if root_path else "(data.data_dir and ECC_DATA_DIR unset)"
        raise DataNotFoundError(
            f"data folder not found: looked for ECD files train and test in {looked}; set "
            "data.data_dir in the profile or the ECC_DATA_DIR environment variable"
        )

    cached = Path(cache_dir) / "ecd_sample"
    if _has_ecd(cached) and all(
        (cached / n).is_file() and _sha256((cached / n).read_bytes()) == s
        for n, s in ECD_FILES.items()
    ):
        return DataSource(
            "download", f"ECD sample (commit {ECD_COMMIT[:7]}) from the cache {cached}" + jddc_note,
            cached, jddc_dir,
        )  # fmt: skip
    error = "downloading is off (data.download: false)"
    if download:
        try:
            d = download_ecd_sample(cache_dir, opener=opener, timeout=timeout)
            return DataSource(
                "download",
                f"ECD sample downloaded from {ECD_BASE_URL} (sha256 verified) into {d}" + jddc_note,
                d,
                jddc_dir,
            )
        except DataDownloadError as e:
            error = str(e)
    if source == "ecd_sample":
        raise DataNotFoundError(
            f"ECD sample not found: looked in {root_path or 'ECC_DATA_DIR (unset)'} and "
            f"{cached}, and {error}"
        )
    return _synthetic_source(cache_dir, synthetic_contexts, seed, f"no ECD data ({error})")


def source_line(artifacts: str | os.PathLike) -> str:
    """One sentence naming the data source a run used (from ``data/stats.json``), for every
    page that shows results computed from the data."""
    path = Path(artifacts) / "data" / "stats.json"
    src = json.loads(path.read_text(encoding="utf-8")).get("source") or {}
    return f"Data source of this run ({src.get('kind', 'unknown')}): {src.get('description', '?')}"


def source_from_profile(cfg) -> DataSource:
    """`resolve_source` with the settings of profile section `data` (notebooks 01 and 04)."""
    d = cfg.data
    return resolve_source(
        d.source,
        data_dir=d.data_dir,
        download=d.download,
        use_jddc=d.use_jddc,
        synthetic_contexts=d.synthetic_contexts,
        seed=cfg.seed,
    )


def _synthetic_source(
    cache_dir: str | os.PathLike, n_contexts: int | None, seed: int, why: str
) -> DataSource:
    from ecc_utils import synthetic

    n = synthetic.DEFAULT_CONTEXTS if n_contexts is None else n_contexts
    if (
        n == synthetic.DEFAULT_CONTEXTS
        and seed == synthetic.DEFAULT_SEED
        and _has_ecd(SYNTHETIC_DIR)
    ):
        d = SYNTHETIC_DIR
    else:
        d = Path(cache_dir) / f"synthetic-n{n}-seed{seed}"
        synthetic.write_corpus(d, seed=seed, n_contexts=n)
    return DataSource(
        "synthetic",
        f"the project's synthetic ECD-format corpus ({n} training contexts, seed {seed}) "
        f"in {d}; {why}",
        d,
        None,
    )


@dataclass
class Corpora:
    """Everything read from a `DataSource`; JDDC parts are None when not used."""

    source: DataSource
    ecd_train: EcdFile
    ecd_test: EcdFile
    jddc_chat: JddcChat | None = None
    jddc_dev: JddcDev | None = None


def load_corpora(source: DataSource, *, use_jddc: bool = False, strict: bool = True) -> Corpora:
    """Read the ECD train and test files (and JDDC when asked for and present)."""
    ecd_train = read_ecd(source.ecd_dir / "train", strict=strict)
    ecd_test = read_ecd(source.ecd_dir / "test", strict=strict)
    chat = dev = None
    if use_jddc and source.jddc_dir is not None:
        chats = sorted(source.jddc_dir.glob("chat*.txt"))
        if not chats:
            raise DataNotFoundError(
                f"JDDC chat log not found: looked for chat*.txt in {source.jddc_dir}"
            )
        chat = read_jddc(chats[0], strict=strict)
        if (source.jddc_dir / "dev_question.txt").is_file():
            dev = read_jddc_dev(source.jddc_dir / "dev_question.txt", strict=strict)
    return Corpora(source, ecd_train, ecd_test, chat, dev)


# ---------------------------------------------------------------------------------------------
# Cleaning

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


# ---------------------------------------------------------------------------------------------
# Table VI inputs and splits


@dataclass(frozen=True)
class TableVIInput:
    """How to find one of the paper's six Table VI inputs in an ECD-format test file."""

    label: str  # the paper's English wording (Example.label)
    texts: tuple[str, ...]  # segmented customer utterances to look for, best first
    pattern: str | None  # fallback: a regex a customer utterance must match in full
    notes: tuple[str, ...]  # why, one per text, then one for the pattern; "{corpus}" is filled in


TABLE_VI_INPUTS: tuple[TableVIInput, ...] = (
    TableVIInput(
        "Hello",
        ("你好",),
        None,
        ("the paper's input '你好', the opening customer utterance of a test context ({corpus})",),
    ),
    TableVIInput(
        "Can I choose the delivery service?",
        ("我 不想 发 邮政 能换 别的 么",),
        None,
        (
            "the ECD sample has no 'can I choose the courier?'; its closest customer utterance "
            "asks to switch away from the default courier ('I don't want China Post, can you "
            "use another?'), closer than '亲发 什么 快递' (which courier?) or '发中通 圆通 吗' "
            "(ZTO or YTO?); taken from the {corpus} test file",
        ),
    ),
    TableVIInput(
        "520401029636",
        ("520401029636", "525873142019"),
        r"\d{9,}",
        (
            "the paper's input verbatim, a bare product/order number, in the {corpus} test file",
            "520401029636 occurs in the ECD sample only inside a longer question "
            "('... 520401029636 这种 一包 是 几张 的'); the first test context of the {corpus} "
            "that opens with a bare 12-digit number is used instead",
            "no test context of the {corpus} opens with the paper's number; the first that "
            "opens with a bare run of 9+ digits is used",
        ),
    ),
    TableVIInput(
        "Can I get a discount?",
        ("可以 优惠价 么",),
        None,
        (
            "the paper's input '可以 优惠价 么' (may I have the discount price?), {corpus} test file",
        ),
    ),
    TableVIInput(
        "This is so frustrating. I've been waiting for this delivery since yesterday and "
        "haven't dared to leave the house.",
        ("真是 要命 了 这个 快递 从 昨天 一直 等到 现在 门 都 不敢 出",),
        None,
        ("the paper's input, verbatim in the {corpus} test file",),
    ),
    TableVIInput(
        "Will you ship the order if I purchase it today?",
        ("今天 拍 发货 么",),
        None,
        (
            "the paper's input '今天 拍 发货 么' (if I buy today, do you ship today?), {corpus} test file",
        ),
    ),
)


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
    inputs: Sequence[TableVIInput] = TABLE_VI_INPUTS,
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


@dataclass
class Splits:
    """The four pools of the artifact contract, the Table VI items and what was dropped.

    ``teacher_queries`` are drawn from ``train`` (same ids) so that teacher labels can replace
    the target of a ``teacher_mix`` fraction of the training pairs; ``fewshot`` (the Table II
    pool) never shares an example with ``teacher_queries`` (a k-NN teacher would copy the
    answer) but may overlap ``train``; no ``eval`` query or context appears in any other pool.
    ``candidates`` holds the R10@k candidate groups of the ECD evaluation items.
    """

    train: list[Example]
    teacher_queries: list[Example]
    fewshot: list[Example]
    eval: list[Example]
    table6: list[TableVIItem]
    candidates: list[dict]
    report: dict


def _group_index(ex: Example) -> int:
    return int(ex.id.rsplit("-", 1)[1])


def make_splits(
    ecd_train: EcdFile,
    ecd_test: EcdFile,
    jddc_pairs: Sequence[Example] = (),
    *,
    jddc_dev: Sequence[Example] = (),
    n_eval: int,
    n_fewshot: int,
    n_teacher_queries: int,
    n_train: int | None = None,
    seed: int = 0,
    max_input_tokens: int = 256,
    max_output_tokens: int = 512,
    source: str = "ecd",
    min_query_tokens: int = 3,
) -> Splits:
    """Build the evaluation set, the few-shot pool, the training pairs and the teacher queries.

    eval: the six Table VI inputs (query alone, empty context, in the paper's order) then
    held-out ECD test contexts whose query has at least ``min_query_tokens`` tokens, and, when ``jddc_dev`` is given, up to half of the remaining
    places from JDDC dev questions (with their three references); ``n_eval`` in total.
    The natural pool is the ECD train pairs, the remaining ECD test contexts and the JDDC
    pairs, cleaned; every example whose group supplied an eval item, or whose query equals an
    eval query or context turn, is excluded, and duplicates across sources are removed. It
    is shuffled with ``seed`` and ranked ECD first: ``train`` is the first ``n_train`` (all
    when None); ``teacher_queries`` (from ``train``) and ``fewshot`` (the Table II pool) are
    filled from the ranked pool at the same pace and never share an example.
    """
    if n_eval < len(TABLE_VI_INPUTS):
        raise ValueError(
            f"n_eval={n_eval} is smaller than the {len(TABLE_VI_INPUTS)} Table VI inputs it "
            "must hold (parameter data.n_eval of the profile)"
        )
    rng = random.Random(seed)
    counts: Counter = Counter()
    clean = dict(segmented=True, max_input_tokens=max_input_tokens,
                 max_output_tokens=max_output_tokens, counts=counts)  # fmt: skip

    table6 = find_table6(ecd_test, corpus="ECD sample" if source == "ecd" else f"{source} corpus")
    eval_: list[Example] = [
        Example(f"table6-{k + 1}", source, [], it.query, it.response, [], it.label)
        for k, it in enumerate(table6)
    ]
    eval_groups = {it.group_index for it in table6}

    test_raw = ecd_examples(ecd_test, "test", source)
    test_clean = clean_examples(test_raw, **clean)
    rng.shuffle(test_clean)
    rest = n_eval - len(eval_)
    n_dev = min(len(jddc_dev), rest // 2) if jddc_dev else 0
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

    # Whole eval groups are out (below); so is any other example with the same query text.
    banned = {e.query for e in eval_}
    eval_ids = {e.id for e in eval_}

    natural: list[Example] = []
    train_raw = ecd_examples(ecd_train, "train", source)
    natural += clean_examples(train_raw, **clean)
    natural += [
        e for e in test_clean if e.id not in eval_ids and _group_index(e) not in eval_groups
    ]
    n_ecd = len(natural)
    if jddc_pairs:
        natural += clean_examples(jddc_pairs, **{**clean, "segmented": False})
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
    natural = uniq

    rng.shuffle(natural)
    # ECD pairs first: the cap n_train and the two pools should not starve the corpus the
    # evaluation is drawn from when JDDC is much larger.
    ranked = sorted(natural, key=lambda e: 0 if e.source.startswith(source) else 1)
    train_ranked = ranked if n_train is None else ranked[:n_train]
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

    # R10@k candidates for the held-out ECD contexts (Table VI items are single queries).
    groups = {g.index: g for g in ecd_test.groups}
    candidates = [
        {
            "id": e.id,
            "candidates": [clean_text(c) for c in groups[_group_index(e)].candidates],
            "true_index": groups[_group_index(e)].true_index,
        }
        for e in eval_
        if e.id.startswith(f"{source}-test-")
    ]
    report = {
        "cleaning": dict(sorted(counts.items())),
        "n_natural": len(natural),
        "n_natural_ecd": n_ecd,
    }
    return Splits(train, teacher, fewshot, eval_, table6, candidates, report)


# ---------------------------------------------------------------------------------------------
# Statistics and output


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
            "file": str(ecd.path),
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
            "file": str(chat.path),
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
            "file": str(dev.question_path),
            "questions": len(dev.examples) + dev.no_reference,
            "with_references": len(dev.examples),
            "no_reference": dev.no_reference,
        }
        out["skipped_lines"]["jddc_dev"] = dev.skipped
    return out


def _mean(xs: Sequence[float]) -> float:
    return round(float(mean(xs)), 3) if xs else 0.0


def write_splits(
    splits: Splits,
    out_dir: str | os.PathLike,
    *,
    source: DataSource | None = None,
    corpora: Corpora | None = None,
    extra: dict | None = None,
) -> dict:
    """Write ``{train,teacher_queries,fewshot,eval}.jsonl``, ``candidates.jsonl`` and
    ``stats.json`` into ``out_dir`` (``artifacts/<profile>/data``) and return the stats."""
    out = Path(out_dir)
    pools = {
        "train": splits.train,
        "teacher_queries": splits.teacher_queries,
        "fewshot": splits.fewshot,
        "eval": splits.eval,
    }
    for name, rows in pools.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    write_jsonl(out / "candidates.jsonl", splits.candidates)
    stats: dict = {
        "source": {"kind": source.kind, "description": source.description} if source else None,
        "counts": {
            name: {
                "total": len(rows),
                "by_source": dict(sorted(Counter(e.source for e in rows).items())),
            }
            for name, rows in pools.items()
        },
        "tokens_per_utterance": {
            name: _mean(
                [
                    count_tokens(t)
                    for e in rows
                    for t in [*(c.text for c in e.context), e.query, e.response]
                ]
            )
            for name, rows in pools.items()
        },
        "turns_per_example": {
            name: _mean([len(e.context) + 2 for e in rows]) for name, rows in pools.items()
        },
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
    atomic_write_text(out / "stats.json", json.dumps(stats, ensure_ascii=False, indent=2) + "\n")
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


def plot_histograms(
    stats: dict,
    key: str,
    path: str | os.PathLike | None = None,
    *,
    cumulative: bool = False,
    logx: bool = False,
    ax=None,
):
    """Bar-plot the ``key`` histograms ("turns_per_session" or "tokens_per_utterance") of each
    corpus in ``stats`` (from `write_splits`), with the published mean where there is one;
    saves to ``path`` when given and returns the figure. ``cumulative`` draws the fraction
    at or below each value (readable for long-tailed lengths), ``logx`` a log x axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
    else:
        fig = ax.figure
    published = {
        ("ecd_train", "turns_per_session"): PUBLISHED_STATS["ecd_turns_per_session"],
        ("synthetic_train", "turns_per_session"): PUBLISHED_STATS["ecd_turns_per_session"],
        ("jddc", "turns_per_session"): PUBLISHED_STATS["jddc_utterances_per_session"],
    }
    for name, hists in stats.get("histograms", {}).items():
        h = hists.get(key)
        if not h:
            continue
        xs = [int(k) for k in h]
        total = sum(h.values())
        ys = [v / total for v in h.values()]
        if cumulative:
            ys = [sum(ys[: i + 1]) for i in range(len(ys))]
            (line,) = ax.step(xs, ys, where="post", label=name)
        else:
            (line,) = ax.plot(xs, ys, marker=".", label=name)
        ref = published.get((name, key))
        if ref is not None:
            ax.axvline(ref, color=line.get_color(), ls="--", lw=1, label=f"{name}, published mean")
    ax.set_xlabel(key.replace("_", " "))
    ax.set_ylabel("fraction at or below" if cumulative else "fraction")
    if logx:
        ax.set_xscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig
