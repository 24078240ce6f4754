"""Readers on the real samples, the synthetic corpus and malformed input; cleaning; sources;
splits without leakage; the artifact files."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import urllib.error
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from ecc_utils import data as D
from ecc_utils.artifacts import SYNTHETIC_NOTICE, Artifacts
from ecc_utils.config import DataConfig
from ecc_utils.data import DataDownloadError, DataFormatError, DataNotFoundError
from ecc_utils.data.download import JDDC, SAMPLES
from ecc_utils.data.sources import SYNTHETIC_DIR
from ecc_utils.records import Example, Turn, read_examples
from tests.conftest import ROOT


def source(kind: str = "auto", data_dir=None, **kw) -> DataConfig:
    """Profile section `data` for resolve_source (data_dir as a string, as in a profile)."""
    return DataConfig(source=kind, data_dir=None if data_dir is None else str(data_dir), **kw)


def sizes(**kw) -> DataConfig:
    """Profile section `data` with the pool sizes of a test."""
    return DataConfig(**kw)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return p


# --------------------------------------------------------------------------------- real samples


def test_read_ecd_real_test_file(data_dir: Path) -> None:
    ecd = D.read_ecd(data_dir / "ecd_sample" / "test")
    assert len(ecd.records) == 1000 and len(ecd.groups) == 100 and ecd.skipped == 0
    assert all(len(g.candidates) == 10 and sum(g.labels) == 1 for g in ecd.groups)
    g = ecd.groups[1]
    assert g.context[0] == Turn("customer", "可以 优惠价 么")
    assert [t.speaker for t in ecd.groups[5].context[:3]] == ["customer", "agent", "customer"]
    assert g.true_response == ecd.records[10].response and g.line == 11


def test_read_ecd_real_train_file(data_dir: Path) -> None:
    ecd = D.read_ecd(data_dir / "ecd_sample" / "train")
    assert len(ecd.records) == 154 and len(ecd.groups) == 77
    assert all(g.labels == (1, 0) for g in ecd.groups)


def test_read_jddc_real_chat(data_dir: Path) -> None:
    chat = D.read_jddc(data_dir / "jddc_sample" / "chat_0.1per.txt")
    assert len(chat.sessions) == 994 and chat.skipped == 0
    assert sum(s.n_messages for s in chat.sessions) == 12136
    s = chat.sessions[0]
    assert s.turns[0] == Turn("customer", "人工客服 京东快递(移动端) 你好")
    assert all(a.speaker != b.speaker for x in chat.sessions for a, b in pairwise(x.turns))
    first = chat.pairs[0]
    assert first.context == [] and first.query == s.turns[0].text
    assert first.response == s.turns[1].text and first.source == "jddc"


def test_read_jddc_dev_real(data_dir: Path) -> None:
    dev = D.read_jddc_dev(data_dir / "jddc_sample" / "dev_question.txt")
    assert len(dev.examples) + dev.no_reference == 293 and dev.skipped == 0
    assert all(1 <= len(e.references) <= 3 and e.response == e.references[0] for e in dev.examples)
    assert sum(len(e.references) == 3 for e in dev.examples) > 200
    assert not any("!@@@!" in r or r == "NULL" for e in dev.examples for r in e.references)
    e = dev.examples[0]
    assert e.id == "jddc-dev-a_54-Q1" and e.query == "好的 我现在在学校里，地址有变"
    assert e.context[0] == Turn("customer", "我收到商品不知道怎么使用")
    # Q2 sees Q1 and its first reference as context.
    assert dev.examples[1].context[-2:] == [
        Turn("customer", e.query),
        Turn("agent", e.response),
    ]


# ------------------------------------------------------------------------------- malformed input

ECD_OK = "1\t你好\t您好\n0\t你好\t不 发 哦\n"


@pytest.mark.parametrize(
    ("content", "line", "what"),
    [
        (ECD_OK + "1\t你好\n", 3, "wrong column count"),
        (ECD_OK + "1\t你好\t在\t您好\n", 3, "wrong column count"),  # even utterance count
        (ECD_OK + "2\t在 吗\t在 的\n", 3, "is not 0 or 1"),
        (ECD_OK + "yes\t在 吗\t在 的\n", 3, "is not 0 or 1"),
        (ECD_OK + "1\t在 吗\t \n", 3, "empty response"),
        (ECD_OK.encode() + b"1\t\xff\xfe\t\xe5\n", 3, "invalid UTF-8"),
        (ECD_OK + "0\t在 吗\t在 的\n0\t在 吗\t不 在\n", 3, "no true response"),
    ],
)
def test_read_ecd_malformed(tmp_path: Path, content: str | bytes, line: int, what: str) -> None:
    path = _write(tmp_path, "ecd.txt", content)
    with pytest.raises(DataFormatError, match=what) as e:
        D.read_ecd(path)
    assert f"{path}:{line}:" in str(e.value)
    lenient = D.read_ecd(path, strict=False)
    assert lenient.skipped == (2 if what == "no true response" else 1)
    assert len(lenient.problems) == 1 and f"{path}:{line}:" in lenient.problems[0]
    assert len(lenient.groups) == 1 and lenient.groups[0].true_response == "您好"


def test_read_ecd_same_context_twice_is_two_groups(tmp_path: Path) -> None:
    path = _write(tmp_path, "ecd.txt", ECD_OK + ECD_OK)
    assert [g.line for g in D.read_ecd(path).groups] == [1, 3]


JDDC_OK = "s1\tu1\t0\t0\t0\tnan\t你好\ns1\tu1\t1\t0\t0\tnan\t您好\n"


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (JDDC_OK + "s1\tu1\t0\t0\tnan\t在吗\n", "wrong column count"),
        (JDDC_OK + "s1\tu1\t2\t0\t0\tnan\t在吗\n", "waiter_send '2'"),
        (JDDC_OK + "s1\tu1\tagent\t0\t0\tnan\t在吗\n", "waiter_send"),
        (JDDC_OK.encode() + b"s1\tu1\t0\t0\t0\tnan\t\xc3\x28\n", "invalid UTF-8"),
    ],
)
def test_read_jddc_malformed(tmp_path: Path, content: str | bytes, what: str) -> None:
    path = _write(tmp_path, "chat.txt", content)
    with pytest.raises(DataFormatError, match=what) as e:
        D.read_jddc(path)
    assert f"{path}:3:" in str(e.value)
    lenient = D.read_jddc(path, strict=False)
    assert lenient.skipped == 1 and len(lenient.pairs) == 1


def test_read_jddc_merges_consecutive_messages(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "chat.txt",
        JDDC_OK
        + "s1\tu1\t0\t0\t0\tnan\t地址\ns1\tu1\t0\t0\t0\tnan\t能改吗\n"
        + "s1\tu1\t1\t0\t0\tnan\t可以\ns2\tu2\t1\t0\t0\tnan\t欢迎\ns2\tu2\t0\t0\t0\tnan\t嗯\n",
    )
    chat = D.read_jddc(path)
    assert [len(s.turns) for s in chat.sessions] == [4, 2]
    assert chat.sessions[0].turns[2] == Turn("customer", "地址 能改吗")
    # s2 opens with the agent and has no agent turn after a customer: no pair.
    assert [(p.query, p.response, len(p.context)) for p in chat.pairs] == [
        ("你好", "您好", 0),
        ("地址 能改吗", "可以", 2),
    ]


DEV_Q = "<session s1>\n<context>\nQ:\t你好\nA:\t您好<sep>在的<sep>NULL\n</context>\n<Q1>发货了吗</Q1>\n<Q2>好的!@@@!谢谢</Q2>\n</session s1>\n"
DEV_A = "<session s1>\n发了!@@@!明天到<sep>已发货<sep>NULL\nNULL<sep>NULL<sep>NULL\n</session s1>\n"


def test_read_jddc_dev_small(tmp_path: Path) -> None:
    q, a = _write(tmp_path, "dev_question.txt", DEV_Q), _write(tmp_path, "dev_answer.txt", DEV_A)
    dev = D.read_jddc_dev(q, a)
    assert dev.no_reference == 1 and len(dev.examples) == 1
    e = dev.examples[0]
    assert e.references == ["发了 明天到", "已发货"] and e.response == "发了 明天到"
    assert e.context == [Turn("customer", "你好"), Turn("agent", "您好")]


@pytest.mark.parametrize(
    ("question", "answer", "what"),
    [
        (DEV_Q.replace("Q:\t你好", "X:\t你好"), DEV_A, "expected <session ID>"),
        (DEV_Q, DEV_A.replace("NULL<sep>NULL<sep>NULL\n", ""), "2 questions but"),
        (DEV_Q.replace("</session s1>", "</session s2>"), DEV_A, "closes session"),
    ],
)
def test_read_jddc_dev_malformed(tmp_path: Path, question: str, answer: str, what: str) -> None:
    q = _write(tmp_path, "dev_question.txt", question)
    a = _write(tmp_path, "dev_answer.txt", answer)
    with pytest.raises(DataFormatError, match=what) as e:
        D.read_jddc_dev(q, a)
    assert str(tmp_path) in str(e.value) and ".txt:" in str(e.value)
    assert D.read_jddc_dev(q, a, strict=False).skipped >= 1


@pytest.mark.parametrize("reader", [D.read_ecd, D.read_jddc, D.read_jddc_dev])
def test_missing_file_says_where_it_looked(tmp_path: Path, reader) -> None:
    with pytest.raises(DataNotFoundError) as e:
        reader(tmp_path / "nope.txt")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "nope.txt") in msg


def test_missing_data_folder_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "ecd_sample")):
        D.resolve_source(source("dir", tmp_path))


# ------------------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("真是 要命 了 这个 快递", "真是要命了这个快递"),
        ("韵达 邮政 EMS 随机 飞", "韵达邮政EMS随机飞"),
        ("我们 因为 200 把 起", "我们因为200把起"),
        ("Xs  Max 6 8", "Xs Max 6 8"),
        ("ＡＢＣ　１２３，好的！", "ABC 123,好的!"),
        ("  你好\t呀 ", "你好呀"),
        ("NULL", ""),
        ("订单 [订单x] 好", "订单[订单x]好"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert D.clean_text(raw) == clean


def test_clean_text_unsegmented_keeps_spaces() -> None:
    assert D.clean_text("好的 我现在在学校里", segmented=False) == "好的 我现在在学校里"


@pytest.mark.parametrize(
    ("text", "n"),
    [("你好", 2), ("EMS 随机", 3), ("EMS随机", 3), ("105 元", 2), ("2024-05-01", 5),
     ("hello, world!", 4), ("[订单x]", 5), ("", 0), ("360g左右", 3)],
)  # fmt: skip
def test_count_tokens(text: str, n: int) -> None:
    assert D.count_tokens(text) == n


def test_clean_examples_filters_and_counts() -> None:
    mk = Example
    t = Turn
    long = "很" * 300
    examples = [
        mk("a", "ecd", [t("customer", "你 好"), t("agent", "NULL")], "在 吗", "在 的"),
        mk("b", "ecd", [], "在 吗", "在 的"),  # same after cleaning as "a"? no: context differs
        mk("c", "ecd", [], "在 吗", "在 的"),  # duplicate of b
        mk("d", "ecd", [], "NULL", "在 的"),
        mk("e", "ecd", [], "在 吗", " "),
        mk("f", "ecd", [], long, "好"),
        mk("g", "ecd", [], "好", long * 2),
        mk("h", "ecd", [t("customer", long), t("agent", "嗯")], "好 的", "好"),
    ]
    counts: Counter = Counter()
    out = D.clean_examples(examples, segmented=True, max_input_tokens=256, max_output_tokens=512,
                           counts=counts)  # fmt: skip
    assert [e.id for e in out] == ["a", "b", "h"]
    # "a": the NULL agent turn is dropped and the two customer turns merge into the query.
    assert out[0].context == [] and out[0].query == "你好 在吗"
    assert out[2].context == [t("agent", "嗯")]
    assert counts == {"duplicate": 1, "empty_query": 1, "empty_response": 1,
                      "too_long_input": 1, "too_long_output": 1, "context_trimmed": 1}  # fmt: skip


# -------------------------------------------------------------------------------------- sources


def _fake_opener(files: dict[str, bytes], calls: list[str]):
    def opener(url: str, timeout: float):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise urllib.error.URLError("offline")
        return io.BytesIO(files[name])

    return opener


def test_download_verifies_and_caches(tmp_path: Path) -> None:
    payload = {"train": b"1\t\xe4\xbd\xa0\xe5\xa5\xbd\t\xe5\x9c\xa8\n", "test": b"x"}
    shas = {k: hashlib.sha256(v).hexdigest() for k, v in payload.items()}
    calls: list[str] = []
    d = D.download_ecd_sample(tmp_path, base_url="https://example/", files=shas,
                              opener=_fake_opener(payload, calls))  # fmt: skip
    assert (d / "train").read_bytes() == payload["train"]
    assert calls == ["https://example/train", "https://example/test"]
    D.download_ecd_sample(tmp_path, base_url="https://example/", files=shas,
                          opener=_fake_opener(payload, calls))  # fmt: skip
    assert len(calls) == 2  # served from the cache
    assert not list(d.glob(".*.tmp"))


def test_download_sha_mismatch_leaves_nothing(tmp_path: Path) -> None:
    files = {"test": "0" * 64}
    with pytest.raises(DataDownloadError, match="sha256 mismatch.*nothing was cached"):
        D.download_ecd_sample(tmp_path, base_url="https://example/", files=files,
                              opener=_fake_opener({"test": b"tampered"}, []))  # fmt: skip
    assert not list((tmp_path / "ecd_sample").glob("*"))


def test_download_with_file_url(tmp_path: Path) -> None:
    src = tmp_path / "remote"
    src.mkdir()
    (src / "valid").write_bytes(b"1\ta\tb\n")
    sha = hashlib.sha256(b"1\ta\tb\n").hexdigest()
    d = D.download_ecd_sample(tmp_path / "cache", base_url=src.as_uri() + "/",
                              files={"valid": sha})  # fmt: skip
    assert (d / "valid").read_bytes() == b"1\ta\tb\n"


def test_auto_falls_back_to_synthetic_when_offline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    calls: list[str] = []
    src = D.resolve_source(source(), cache_dir=tmp_path, opener=_fake_opener({}, calls))
    assert src.kind == "synthetic" and src.corpus == "synthetic"
    assert "could not download" in src.description and calls
    assert src.ecd_dir == SYNTHETIC_DIR
    # The book names folders relative to the project, never by the builder's absolute path.
    assert "in data/synthetic;" in src.description and str(SYNTHETIC_DIR) not in src.description
    with pytest.raises(DataNotFoundError, match="could not download"):
        D.resolve_source(source("ecd_sample"), cache_dir=tmp_path, opener=_fake_opener({}, []))


def test_auto_uses_download_with_right_hashes(tmp_path: Path, data_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    real = {n: (data_dir / "ecd_sample" / n).read_bytes() for n in D.ECD_FILES}
    calls: list[str] = []
    only_ecd = source(use_jddc=False)
    src = D.resolve_source(only_ecd, cache_dir=tmp_path, opener=_fake_opener(real, calls))
    assert src.kind == "download" and "sha256 verified" in src.description
    assert calls == [D.ECD_BASE_URL + n for n in D.ECD_FILES]
    again = D.resolve_source(source(download=False, use_jddc=False), cache_dir=tmp_path)
    assert again.kind == "download" and "cache" in again.description


def _published(data_dir: Path) -> dict[str, bytes]:
    """Every pinned file of both samples, by name, as their repositories serve them."""
    return {n: (data_dir / sample.folder / n).read_bytes()
            for sample in SAMPLES for n in sample.files}  # fmt: skip


def test_jddc_is_downloaded_beside_ecd_and_read_from_the_cache(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    calls: list[str] = []
    src = D.resolve_source(source(), cache_dir=tmp_path,
                           opener=_fake_opener(_published(data_dir), calls))  # fmt: skip
    assert src.kind == "download" and src.jddc_dir == tmp_path / "jddc_sample"
    assert calls == [s.base_url + n for s in SAMPLES for n in s.files]
    assert JDDC.base_url == (
        "https://raw.githubusercontent.com/EndlessLethe/jddc2019-3th-retrieve-model/"
        "2d443d1679cc3d00022d0ff1697eb0e4cbeedb01/data/"
    )
    for n in JDDC.files:
        assert (tmp_path / "jddc_sample" / n).read_bytes() == (
            data_dir / "jddc_sample" / n
        ).read_bytes()
    assert "JDDC excerpt downloaded from" in src.description
    # The data page names each sample's repository, commit and terms.
    ecd_line, jddc_line = src.provenance()
    assert "commit 8cc3b7c" in ecd_line and "commit 2d443d1" in jddc_line
    assert "third party's copy" in jddc_line and "JD" in jddc_line
    # Afterwards both come from the cache, with downloading off and no call.
    again = D.resolve_source(source(download=False), cache_dir=tmp_path,
                             opener=_fake_opener({}, calls))  # fmt: skip
    assert len(calls) == 7 and again.jddc_dir == tmp_path / "jddc_sample"
    assert "JDDC excerpt (commit 2d443d1) from the cache" in again.description


def test_a_tampered_jddc_file_caches_nothing_and_the_run_says_jddc_was_not_used(
    tmp_path, data_dir, monkeypatch
):
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    served = _published(data_dir) | {"dev_answer.txt": b"tampered"}  # the third of four files
    src = D.resolve_source(source(), cache_dir=tmp_path, opener=_fake_opener(served, []))
    assert src.kind == "download" and src.jddc_dir is None
    assert "JDDC not used (ECD only): sha256 mismatch" in src.description
    assert not (tmp_path / "jddc_sample").exists()  # not even the files that matched
    assert src.provenance()[-1].startswith("JDDC: not used (JDDC not used (ECD only): sha256")


def test_download_jddc_false_keeps_jddc_off_the_network(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    calls: list[str] = []
    src = D.resolve_source(source(download_jddc=False), cache_dir=tmp_path,
                           opener=_fake_opener(_published(data_dir), calls))  # fmt: skip
    assert src.jddc_dir is None and all(JDDC.base_url not in c for c in calls)
    assert "downloading is off (data.download_jddc: false)" in src.description


def test_the_cached_samples_give_the_data_folders_splits(tmp_path, data_dir, monkeypatch):
    """A newcomer's cache (both samples downloaded into data/raw/, no ECC_DATA_DIR) gives the
    quick profile's data stage the same five pools and candidates as the shared data folder."""
    from ecc_utils.config import load_profile

    cfg = load_profile(ROOT / "params" / "quick.yaml")
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    cached = D.resolve_source(cfg.data, cache_dir=tmp_path / "raw",
                              opener=_fake_opener(_published(data_dir), []))  # fmt: skip
    folder = D.resolve_source(dataclasses.replace(cfg.data, data_dir=str(data_dir)))
    written = {}
    for name, src in (("cache", cached), ("folder", folder)):
        corp = D.load_corpora(src, use_jddc=True)
        art = Artifacts(tmp_path / name)
        stats = D.write_splits(D.make_splits(corp, cfg.data, seed=cfg.seed), art, source=src)
        written[name] = {p.name: p.read_bytes() for p in sorted(art.data_dir.glob("*.jsonl"))}
        assert stats["counts"]["train"]["total"] == 2000 and stats["counts"]["eval"]["total"] == 100
        assert set(stats["counts"]["train"]["by_source"]) == {"ecd", "jddc"}
    assert len(written["cache"]) == 6 and written["cache"] == written["folder"]


def test_offline_the_quick_profile_gets_a_synthetic_corpus_of_the_size_it_needs(
    tmp_path, monkeypatch
):
    """No data folder, nothing cached, no network: the quick profile's data stage falls back to
    the synthetic corpus generated at its size, with enough training pairs for LoRA's last
    milestone to see each about once and the held-out inputs the online loop needs."""
    from ecc_utils.config import load_profile

    cfg = load_profile(ROOT / "params" / "quick.yaml")
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    src = D.resolve_source(cfg.data, cache_dir=tmp_path, opener=_fake_opener({}, []))
    assert src.kind == "synthetic" and src.fallback and src.jddc_dir is None
    splits = D.make_splits(D.load_corpora(src, use_jddc=True), cfg.data, seed=cfg.seed)
    held_out = [e for e in splits.eval if e.label is None]
    ev = cfg.evolve
    assert (
        len(splits.train) >= 1000 and len(held_out) >= ev.n_probe + ev.rounds * ev.queries_per_round
    )
    assert len(splits.teacher_queries) == cfg.data.n_teacher_queries
    assert src.provenance()[0] == SYNTHETIC_NOTICE


def test_dir_source_and_jddc(data_dir: Path, monkeypatch) -> None:
    src = D.resolve_source(source("auto", data_dir))
    assert src.kind == "dir" and src.jddc_dir == data_dir / "jddc_sample"
    assert D.resolve_source(source("auto", data_dir, use_jddc=False)).jddc_dir is None
    # The folder of ECC_DATA_DIR is named by the variable, not by its absolute path.
    monkeypatch.setenv("ECC_DATA_DIR", str(data_dir))
    src = D.resolve_source(source("dir"))
    assert src.description == (
        "ECD sample from data folder $ECC_DATA_DIR; JDDC from $ECC_DATA_DIR/jddc_sample"
    )


def test_a_named_data_folder_without_ecd_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    """ECC_DATA_DIR (or data.data_dir) pointing at a folder without the ECD sample, for
    example a relative path read from another folder, stops with the path and the fix instead
    of building the book on the synthetic corpus; "synthetic" still ignores it."""
    monkeypatch.setenv("ECC_DATA_DIR", "../no/such/data")
    for mode in ("auto", "dir", "ecd_sample"):
        with pytest.raises(DataNotFoundError, match=r"ECC_DATA_DIR=\.\./no/such/data: no ECD"):
            D.resolve_source(source(mode), cache_dir=tmp_path, opener=_fake_opener({}, []))
    with pytest.raises(DataNotFoundError, match=r"data.data_dir=.*: no ECD sample"):
        D.resolve_source(source("auto", tmp_path), cache_dir=tmp_path)
    assert D.resolve_source(source("synthetic"), cache_dir=tmp_path).kind == "synthetic"


def test_the_pipeline_reads_a_relative_data_folder_from_where_it_was_started(tmp_path, monkeypatch):
    from ecc_utils.build.pipeline import absolute_data_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECC_DATA_DIR", "shared/data")
    absolute_data_dir()
    assert os.environ["ECC_DATA_DIR"] == str(tmp_path.resolve() / "shared" / "data")
    absolute_data_dir()  # an absolute path stays as it is
    assert os.environ["ECC_DATA_DIR"] == str(tmp_path.resolve() / "shared" / "data")


def _bad_source() -> DataConfig:
    cfg = DataConfig()
    object.__setattr__(cfg, "source", "s3")  # past the profile's own check
    return cfg


def test_unknown_source_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="data.source"):
        D.resolve_source(_bad_source())


# --------------------------------------------------------------------------------------- splits


def _assert_no_leak(splits: D.Splits) -> None:
    eval_queries = {e.query for e in splits.eval}
    eval_ids = {e.id for e in splits.eval}
    eval_groups = {it.group_index for it in splits.table6} | {
        int(e.id.rsplit("-", 1)[1]) for e in splits.eval if "-test-" in e.id
    }
    for name in ("train", "teacher_queries", "fewshot"):
        pool = getattr(splits, name)
        assert pool, name
        assert not {e.query for e in pool} & eval_queries, name
        assert not {e.id for e in pool} & eval_ids, name
        test_groups = {int(e.id.rsplit("-", 1)[1]) for e in pool if "-test-" in e.id}
        assert not test_groups & eval_groups, name
        # No eval (context, query) is a prefix seen in training either.
        seen = {(tuple(t.text for t in e.context), e.query) for e in pool}
        assert not any((tuple(t.text for t in e.context), e.query) in seen for e in splits.eval)


def test_splits_real_sample_no_leakage(data_dir: Path, tmp_path: Path) -> None:
    src = D.resolve_source(source("dir", data_dir))
    corp = D.load_corpora(src, use_jddc=True)
    cfg = sizes(n_eval=30, n_fewshot=100, n_teacher_queries=50, n_train=800)
    splits = D.make_splits(corp, cfg, seed=0)
    assert [e.label for e in splits.eval[:6]] == [
        "Hello",
        "Can I choose the delivery service?",
        "520401029636",
        "Can I get a discount?",
        "This is so frustrating. I've been waiting for this delivery since yesterday and "
        "haven't dared to leave the house.",
        "Will you ship the order if I purchase it today?",
    ]
    assert [e.query for e in splits.eval[:6]] == [
        "你好", "我不想发邮政能换别的么", "525873142019", "可以优惠价么",
        "真是要命了这个快递从昨天一直等到现在门都不敢出", "今天拍发货么",
    ]  # fmt: skip
    assert all(e.context == [] and e.response for e in splits.eval[:6])
    assert splits.eval[3].response == "我们因为200把起给优惠价格您可以给您105元一把哦"
    assert all(it.note for it in splits.table6)
    assert len(splits.eval) == 30 and any(e.references for e in splits.eval)
    assert len(splits.train) == 800 and len(splits.fewshot) == 100
    assert len(splits.teacher_queries) == 50
    assert {e.id for e in splits.teacher_queries} <= {e.id for e in splits.train}
    assert not {e.id for e in splits.teacher_queries} & {e.id for e in splits.fewshot}
    assert {e.source for e in splits.train} == {"ecd", "jddc"}
    _assert_no_leak(splits)
    # The natural pool did hold examples with eval queries: the filter is what removed them.
    assert splits.report["cleaning"]["eval_leak_excluded"] > 0

    stats = D.write_splits(splits, Artifacts(tmp_path), source=src, corpora=corp)
    for name in ("train", "teacher_queries", "fewshot", "eval"):
        back = read_examples(tmp_path / "data" / f"{name}.jsonl")
        assert back == getattr(splits, name)
    on_disk = json.loads((tmp_path / "data" / "stats.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(stats))
    assert stats["counts"]["eval"]["total"] == 30 and stats["source"]["kind"] == "dir"
    assert stats["corpora"]["ecd_train"]["words_per_utterance"] == pytest.approx(7.63, abs=0.01)
    assert stats["corpora"]["jddc"]["sessions"] == 994
    assert stats["published"]["ecd_turns_per_session"] == 5.51
    assert len(stats["table6"]) == 6 and stats["skipped_lines"]["ecd_test"] == 0
    cands = [
        json.loads(x) for x in (tmp_path / "data" / "candidates.jsonl").read_text().splitlines()
    ]
    assert cands and all(len(c["candidates"]) == 10 for c in cands)


def test_splits_are_deterministic(data_dir: Path) -> None:
    corp = D.load_corpora(D.resolve_source(source("dir", data_dir)))
    cfg = sizes(n_eval=20, n_fewshot=30, n_teacher_queries=20, n_train=None)
    a = D.make_splits(corp, cfg, seed=3)
    b = D.make_splits(corp, cfg, seed=3)
    assert [e.id for e in a.train] == [e.id for e in b.train]
    assert [e.id for e in a.eval] == [e.id for e in b.eval]
    _assert_no_leak(a)


def test_splits_synthetic_corpus(tmp_path: Path) -> None:
    src = D.resolve_source(source("synthetic"), cache_dir=tmp_path)
    corp = D.load_corpora(src)
    splits = D.make_splits(corp, sizes(n_eval=10, n_fewshot=40, n_teacher_queries=24), seed=0)
    assert [e.query for e in splits.eval[:6]] == [
        "你好", "我不想发邮政能换别的么", "520401029636", "可以优惠价么",
        "真是要命了这个快递从昨天一直等到现在门都不敢出", "今天拍发货么",
    ]  # fmt: skip
    assert "verbatim" in splits.table6[2].note and "synthetic corpus" in splits.table6[2].note
    assert {e.source for e in splits.train} == {"synthetic"}
    _assert_no_leak(splits)


def test_n_eval_too_small_names_the_parameter(tmp_path: Path) -> None:
    corp = D.load_corpora(D.resolve_source(source("synthetic"), cache_dir=tmp_path))
    cfg = sizes(n_eval=6, n_fewshot=1, n_teacher_queries=1)
    object.__setattr__(cfg, "n_eval", 5)  # past the profile's own check (n_eval >= 6)
    with pytest.raises(ValueError, match="data.n_eval"):
        D.make_splits(corp, cfg)


def test_published_comparison_and_plot(tmp_path: Path) -> None:
    stats = {
        "corpora": {
            "ecd_train": {"turns_per_session": 6.0, "words_per_utterance": 7.5,
                          "tokens_per_utterance": 11.0},
            "jddc": {"turns_per_session": 12.0, "tokens_per_utterance": 20.0},
        },
        "histograms": {"ecd_train": {"turns_per_session": {"2": 3, "4": 1}}},
    }  # fmt: skip
    rows = D.published_comparison(stats)
    assert {(r["corpus"], r["statistic"]): r["published"] for r in rows if r["published"]} == {
        ("ecd_train", "turns per session"): 5.51,
        ("ecd_train", "words per utterance"): 7.02,
        ("jddc", "utterances per session"): 20.0,
    }
    from ecc_utils.report import plots

    fig = plots.plot_histograms(stats, "turns_per_session", cumulative=True)
    plots.save_figure(fig, tmp_path, "t", formats=("png",))
    assert (tmp_path / "t.png").stat().st_size > 1000
    (line,) = fig.axes[0].get_lines()[:1]
    assert list(line.get_ydata())[-1] == pytest.approx(1.0)


def test_read_jddc_session_met_again_gets_a_new_id(tmp_path: Path) -> None:
    other = "s2\tu2\t0\t0\t0\tnan\t在吗\ns2\tu2\t1\t0\t0\tnan\t在的\n"
    chat = D.read_jddc(_write(tmp_path, "chat.txt", JDDC_OK + other + JDDC_OK))
    assert [s.session_id for s in chat.sessions] == ["s1", "s2", "s1#2"]
    assert len({p.id for p in chat.pairs}) == len(chat.pairs) == 3


def test_source_line_names_the_source(tmp_path):
    art = Artifacts(tmp_path)
    art.data_dir.mkdir()
    art.stats.write_text(
        '{"source": {"kind": "synthetic", "description": "generated, seed 0"}}', encoding="utf-8"
    )
    # On synthetic data the line opens with what every page of that book says first.
    notice, line = art.source_line().split("\n")
    assert line == "Data source of this run (synthetic): generated, seed 0"
    assert notice == SYNTHETIC_NOTICE and "not comparable with the paper's" in notice
    art.stats.write_text('{"source": {"kind": "dir", "description": "ECD"}}', encoding="utf-8")
    assert art.source_line() == "Data source of this run (dir): ECD"


def test_the_profiles_source_reads_the_cache_of_the_project_being_built(
    tmp_path, data_dir, monkeypatch
):
    """The pipeline names its project's data/raw/ (ECC_DATA_CACHE): a build with --root reads
    the samples cached there, not those of the checkout the package was installed from."""
    import shutil

    from ecc_utils.config import load_profile
    from ecc_utils.data.download import CACHE_ENV, DEFAULT_CACHE_DIR, cache_dir

    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_dir() == DEFAULT_CACHE_DIR
    for sample in ("ecd_sample", "jddc_sample"):
        shutil.copytree(data_dir / sample, tmp_path / "raw" / sample)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "raw"))
    monkeypatch.delenv("ECC_DATA_DIR", raising=False)
    cfg = load_profile(ROOT / "params" / "smoke.yaml")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, download=False))
    src = D.source_from_profile(cfg)
    assert src.ecd_dir == tmp_path / "raw" / "ecd_sample", src.description
    assert src.jddc_dir == tmp_path / "raw" / "jddc_sample", src.description
