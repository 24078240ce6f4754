"""ecc_utils.scoring.selection and .text: R10@k, BLEU-4 and ROUGE-L on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from ecc_utils import scoring as M


def test_rank_and_recall_constructed_case():
    groups = [
        ([0.9, 0.1, 0.2], 0),  # rank 1
        ([0.5, 0.9, 0.1], 0),  # rank 2
        ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 0),  # rank 6
        ([0.7, 0.7, 0.1], 1),  # tie with one other: pessimistic rank 2
    ]
    assert [M.rank_of_true(s, t) for s, t in groups] == [1, 2, 6, 2]
    assert M.recall_at_k(groups, ks=(1, 2, 5)) == {1: 0.25, 2: 0.75, 5: 0.75}


def test_constant_scorer_gets_zero_recall_at_1():
    assert M.recall_at_k([([1.0] * 10, 0)], ks=(1, 10)) == {1: 0.0, 10: 1.0}


def test_recall_errors():
    with pytest.raises(ValueError, match="true_index=3"):
        M.rank_of_true([0.1, 0.2], 3)
    with pytest.raises(ValueError, match="empty"):
        M.recall_at_k([])


def test_evaluate_selection_with_a_scorer():
    groups = [M.SelectionGroup("q", ["x", "yy", "zzz"], 2), M.SelectionGroup("q", ["aaa", "b"], 1)]
    r = M.evaluate_selection(groups, lambda q, c: [len(t) for t in c], ks=(1, 2), progress=False)
    assert r == {1: 0.5, 2: 1.0}


def test_bleu_hand_computed():
    hyp = "the cat sat on the mat".split()
    ref = "the cat is on the mat".split()
    # p1 = 5/6, p2 = 3/5 (the cat, on the, the mat), p3 = 1/4, p4 = 0/3; c = r = 6
    assert M.bleu(hyp, [ref], smoothing="none") == 0.0
    eps = (5 / 6 * 3 / 5 * 1 / 4 * 0.1 / 3) ** 0.25
    assert M.bleu(hyp, [ref], smoothing="epsilon") == pytest.approx(eps)
    add1 = (5 / 6 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25
    assert M.bleu(hyp, [ref], smoothing="add1") == pytest.approx(add1)
    assert M.bleu(ref, [ref], smoothing="none") == pytest.approx(1.0)


def test_bleu_clipping_brevity_and_multiple_references():
    # "the the the": clipped to 2 (the most any reference has) of 3 unigrams
    assert M.bleu("the the the".split(), [["the", "the", "a"], ["the"]], max_n=1) == (
        pytest.approx(2 / 3)
    )
    # c = 2, closest reference length 4: BP = exp(1 - 4/2)
    assert M.bleu(["a", "b"], [["a", "b", "c", "d"]], max_n=1) == pytest.approx(math.exp(-1))
    assert M.bleu([], [["a"]]) == 0.0


def test_corpus_bleu_sums_counts():
    hyps = [["a", "b"], ["c", "d"]]
    refs = [[["a", "b"]], [["c", "x"]]]
    # unigrams 3/4, bigrams 1/2, lengths equal
    assert M.corpus_bleu(hyps, refs, max_n=2) == pytest.approx(math.sqrt(3 / 4 * 1 / 2))
    with pytest.raises(ValueError, match="references"):
        M.corpus_bleu(hyps, refs[:1])


def test_rouge_l_hand_computed():
    assert M.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    hyp = "police killed the gunman".split()
    ref = "police kill the gunman".split()
    # LCS = 3 (police the gunman): P = R = 3/4
    assert M.rouge_l(hyp, [ref]) == pytest.approx(0.75)
    # several references: the best counts
    assert M.rouge_l(hyp, [["x"], hyp]) == pytest.approx(1.0)
    assert M.rouge_l(["a"], [["b"]]) == 0.0


def test_chinese_is_segmented_with_jieba():
    toks = M.get_tokenizer("jieba")("今天发货吗")
    assert "".join(toks) == "今天发货吗" and 1 < len(toks) < 5
    assert M.rouge_l("今天发货吗", "今天发货吗") == pytest.approx(1.0)
    # char level: LCS("今天发", "今天不发") = 3, P = 1, R = 3/4
    assert M.rouge_l("今天发", "今天不发", tokenizer="char") == pytest.approx(2 * 0.75 / 1.75)
    assert 0 < M.bleu("今天可以发货吗", ["今天可以发货的", "明天发"]) < 1
