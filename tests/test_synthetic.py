"""The synthetic fallback corpus: committed fixture, determinism, format, Table VI inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecc_utils import data as D
from ecc_utils.data import synthetic as S

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "synthetic"


def test_regeneration_is_byte_identical_to_committed_fixture(tmp_path: Path) -> None:
    out = S.write_corpus(tmp_path)
    for name in ("train", "valid", "test"):
        assert (out / name).read_bytes() == (FIXTURE / name).read_bytes(), name


def test_seed_changes_output_and_same_seed_repeats() -> None:
    a, b = S.generate_corpus(seed=1, n_contexts=30), S.generate_corpus(seed=1, n_contexts=30)
    assert a == b
    assert a != S.generate_corpus(seed=2, n_contexts=30)


def test_fixture_reads_as_ecd() -> None:
    train = D.read_ecd(FIXTURE / "train")
    test = D.read_ecd(FIXTURE / "test")
    assert len(train.groups) == S.DEFAULT_CONTEXTS and train.skipped == 0
    assert all(g.labels == (1, 0) for g in train.groups)
    assert len(test.groups) == S.DEFAULT_CONTEXTS // 4
    assert all(len(g.candidates) == 10 and sum(g.labels) == 1 for g in test.groups)
    # Several turns per session, Chinese, word-segmented like ECD.
    turns = [len(g.context) + 1 for g in train.groups]
    assert max(turns) >= 5 and sum(turns) / len(turns) > 2.5
    assert all(" " in g.context[0].text or len(g.context[0].text) <= 12 for g in train.groups)
    assert all(len(set(g.candidates)) == len(g.candidates) for g in test.groups)


@pytest.mark.parametrize("n", [1, 7, 60])
def test_sizes(n: int, tmp_path: Path) -> None:
    out = S.write_corpus(tmp_path, seed=0, n_contexts=n)
    test = D.read_ecd(out / "test")
    assert len(D.read_ecd(out / "train").groups) == n
    assert len(test.groups) == max(20, n // 4)
    assert [g.context[0].text for g in test.groups[:6]] == list(S.TABLE_VI_TEXTS)


def test_topics_are_covered() -> None:
    text = (FIXTURE / "train").read_text(encoding="utf-8")
    for word in ("你好", "快递", "优惠", "发货", "还 没", "顺丰"):
        assert word in text, word
    assert any(tok.isdigit() and len(tok) >= 9 for tok in text.split())


def test_table6_found_in_synthetic_test_file() -> None:
    items = D.find_table6(D.read_ecd(FIXTURE / "test"), corpus="synthetic corpus")
    assert [it.raw_query for it in items] == list(S.TABLE_VI_TEXTS)
    assert all(it.response and it.group_index < 6 for it in items)


def test_zero_contexts_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="synthetic_contexts"):
        S.generate_corpus(n_contexts=0)
