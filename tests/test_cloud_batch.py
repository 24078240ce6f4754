"""Batch labelling, the cost ledger and the spend cap, against the local fake servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecc_utils import cloud
from ecc_utils.cloud.errors import TeacherError
from ecc_utils.cloud.ledger import LabellingPlan, SpendGuard, entry_cost, estimate, summarize
from ecc_utils.cloud.prices import PriceError, PriceTable
from ecc_utils.records import iter_jsonl
from tests.fake_servers import fake_server
from tests.test_cloud import FEWSHOT, GEMINI_KEY, OPENAI_KEY, _teacher

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["什么时候发货", "可以便宜点吗", "我的快递到哪了", "你好", "能开发票吗", "尺码偏大吗"]
MODELS = {"gemini": "gemini-2.5-pro", "openai": "gpt-4o-mini"}


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    for v in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "OPENAI_BASE_URL"):
        monkeypatch.delenv(v, raising=False)


def _batch_teacher(tmp_path: Path, kind: str, url: str, **kw) -> cloud.Teacher:
    """The `kind` teacher (model `MODELS[kind]`) at the fake server `url`; batch mode unless
    `mode` says otherwise."""
    kw.setdefault("mode", "batch")
    return _teacher(tmp_path, kind, model=MODELS[kind], base_url=url, batch_poll_s=0.01, **kw)


def _lines(path: Path) -> list[dict]:
    return list(iter_jsonl(path))


@pytest.mark.parametrize("kind", ["gemini", "openai"])
def test_batch_run_fills_the_cache_and_a_rebuild_makes_zero_calls(tmp_path, keys, kind):
    with fake_server(kind) as (api, url):
        api.batch.polls = 2
        t = _batch_teacher(tmp_path, kind, url)
        recs = t.label(QUERIES)
        assert [r.answer for r in recs] == [f"亲，关于“{q}”请放心" for q in QUERIES]
        assert api.batch.creates == 1 and api.answer_requests == 0  # no live call
        lines = _lines(tmp_path / "cache.jsonl")
        assert len(lines) == len(QUERIES)
        assert {x["mode"] for x in lines} == {"batch"}
        assert all(x["cost_usd"] > 0 and x["prices_as_of"] for x in lines)
        assert {x["batch_job"] for x in lines} == {lines[0]["batch_job"]}
        assert not (tmp_path / "cache.batch.json").exists()  # collected: state removed
        assert t.stats.batch_items == len(QUERIES) and t.stats.cost_usd == pytest.approx(
            sum(x["cost_usd"] for x in lines)
        )
        n_requests = len(api.requests)
        for mode in ("batch", "live", "replay"):  # a rebuild, in every mode: 0 requests
            again = _batch_teacher(tmp_path, kind, url, mode=mode)
            assert [r.answer for r in again.label(QUERIES)] == [r.answer for r in recs]
            assert again.stats.calls == 0
        assert len(api.requests) == n_requests
    sent = "".join(r.body for r in api.requests)  # the key travels in auth headers only
    stored = "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    for key in (GEMINI_KEY, OPENAI_KEY):
        assert key not in stored and key not in sent


@pytest.mark.parametrize("kind", ["gemini", "openai"])
def test_failed_items_are_reported_with_reasons_and_the_rest_kept(tmp_path, keys, kind):
    with fake_server(kind) as (api, url):
        api.batch.fail_every = 2  # half of the items
        t = _batch_teacher(tmp_path, kind, url)
        with pytest.raises(cloud.BatchItemsFailed, match="3 of 6 items failed") as e:
            t.label(QUERIES)
        assert len(e.value.failures) == 3 and "item refused" in e.value.failures[0].reason
        kept = {x["query"] for x in _lines(tmp_path / "cache.jsonl")}
        assert kept == set(QUERIES[0::2])
        report = _lines(tmp_path / "cache.batch_failures.jsonl")
        assert {x["query"] for x in report} == set(QUERIES[1::2])
        assert all("item refused" in x["reason"] and x["job"] for x in report)
        # A rerun submits only the failed items.
        api.batch.fail_every = 0
        recs = _batch_teacher(tmp_path, kind, url).label(QUERIES)
        assert api.batch.creates == 2 and all(r.answer for r in recs)
        assert len(_lines(tmp_path / "cache.jsonl")) == len(QUERIES)


def test_a_failed_job_is_a_clear_error_and_can_be_resubmitted(tmp_path, keys):
    with fake_server("openai") as (api, url):
        api.batch.job_fails = True
        with pytest.raises(TeacherError, match="ended failed: fake: fake: job failed.*Rerun"):
            _batch_teacher(tmp_path, "openai", url).label(QUERIES[:2])
        api.batch.job_fails = False
        assert len(_batch_teacher(tmp_path, "openai", url).label(QUERIES[:2])) == 2


_CHILD = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.test_cloud_batch import _batch_teacher, QUERIES
_batch_teacher(Path({tmp!r}), {kind!r}, {url!r}).label(QUERIES)
"""


@pytest.mark.parametrize("kind", ["gemini", "openai"])
def test_a_process_killed_between_submit_and_download_resumes_the_same_job(tmp_path, keys, kind):
    with fake_server(kind) as (api, url):
        api.batch.hold = True  # the job keeps running until the child is killed
        code = _CHILD.format(root=str(ROOT), tmp=str(tmp_path), kind=kind, url=url)
        child = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        state = tmp_path / "cache.batch.json"
        deadline = time.monotonic() + 120
        while not state.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), child.communicate()[0].decode()[-2000:]
        child.send_signal(signal.SIGKILL)
        child.wait()
        job = json.loads(state.read_text(encoding="utf-8"))["job"]
        assert not (tmp_path / "cache.jsonl").exists() and api.batch.creates == 1
        api.batch.hold = False
        recs = _batch_teacher(tmp_path, kind, url).label(QUERIES)
        assert api.batch.creates == 1  # resumed, not submitted again
        assert all(r.answer for r in recs)
        assert {x["batch_job"] for x in _lines(tmp_path / "cache.jsonl")} == {job}
        assert not state.exists()


def test_batch_mode_on_a_backend_without_one_says_so(tmp_path):
    t = _teacher(tmp_path, "knn", mode="batch")
    with pytest.raises(TeacherError, match="batch endpoint.*use teacher.mode: live"):
        t.label(["你好"])


# --- the spend cap ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gemini", "openai"])
def test_the_spend_cap_stops_a_live_run_cleanly_and_keeps_its_labels(tmp_path, keys, kind):
    with fake_server(kind) as (api, url):
        t = _batch_teacher(tmp_path, kind, url, mode="live", batch_size=1)
        one = t.call_bound(QUERIES, "live")
        cap = 2.5 * one  # room for two calls at their upper bound
        t = _batch_teacher(tmp_path, kind, url, mode="live", max_cost_usd=cap, batch_size=3)
        with pytest.raises(cloud.SpendCapReached, match="spend cap reached") as e:
            t.label(QUERIES)
        assert "Raise teacher.max_cost_usd" in str(e.value)
        lines = _lines(tmp_path / "cache.jsonl")
        assert len(lines) == 2 == api.answer_requests  # nothing sent past the cap
        assert sum(x["cost_usd"] for x in lines) <= cap
        assert t.spent() == pytest.approx(sum(x["cost_usd"] for x in lines))
        # The spend counts across runs: with less than one call's bound left, nothing is sent.
        with pytest.raises(cloud.SpendCapReached):
            live = _batch_teacher(
                tmp_path, kind, url, mode="live", max_cost_usd=t.spent() + 0.5 * one
            )
            live.label(QUERIES)
        assert api.answer_requests == 2
        more = _batch_teacher(tmp_path, kind, url, mode="live", max_cost_usd=1.0)
        assert len(more.label(QUERIES)) == len(QUERIES)


def test_the_spend_cap_limits_what_a_batch_submits(tmp_path, keys):
    with fake_server("gemini") as (api, url):
        probe = _batch_teacher(tmp_path, "gemini", url)
        bound = probe.call_bound(QUERIES, "batch")
        t = _batch_teacher(tmp_path, "gemini", url, max_cost_usd=3.5 * bound)
        with pytest.raises(cloud.SpendCapReached, match="3 were not requested"):
            t.label(QUERIES)
        assert len(_lines(tmp_path / "cache.jsonl")) == 3 and api.batch.creates == 1


def test_a_cap_on_a_model_without_a_price_is_refused(tmp_path, keys):
    with pytest.raises(TeacherError, match="no price for openai/some-local-model"):
        _teacher(tmp_path, "openai", model="some-local-model", base_url="http://127.0.0.1:9",
                 max_cost_usd=5.0)  # fmt: skip
    t = _teacher(tmp_path, "openai", model="some-local-model", base_url="http://127.0.0.1:9")
    assert t.price is None  # without a cap: cost unknown, never 0


def test_spend_guard_reserves_upper_bounds():
    g = SpendGuard(1.0, 0.2, 0.3)
    assert g.affordable(5) == 2 and g.reserve() and g.reserve() and not g.reserve()
    g.settle(0.1)
    assert g.spent == pytest.approx(0.3) and g.reserve()
    assert SpendGuard(None, 0.0, 0.0).reserve(10**6)


# --- prices and the ledger -------------------------------------------------------------------


def test_costs_follow_the_dated_price_table():
    table = PriceTable.load()
    assert table.as_of and table.path.name == "prices.yaml"
    pro = table.lookup("gemini", "gemini-2.5-pro")
    entry = {
        "key": "a",
        "usage": {"input_tokens": 1000, "cached_tokens": 400, "output_tokens": 100},
    }
    assert entry_cost(entry, pro) == pytest.approx((600 * 1.25 + 400 * 0.125 + 100 * 10) / 1e6)
    assert entry_cost(entry, pro, "batch") == pytest.approx((600 * 0.625 + 50 + 500) / 1e6)
    assert table.lookup("knn", "use-m3").live.input == 0.0
    assert table.lookup("openai", "not-listed") is None and entry_cost(entry, None) is None


def test_malformed_price_file_names_file_and_model(tmp_path):
    p = tmp_path / "prices.yaml"
    p.write_text("as_of: '2026-01-01'\nmodels:\n  gemini/x:\n    live: {input: 1}\n")
    with pytest.raises(PriceError, match=r"prices.yaml: models.gemini/x.live needs numbers"):
        PriceTable.load(p)
    p.write_text("as_of: [\n")
    with pytest.raises(PriceError, match=r"prices.yaml:\d+: not valid YAML"):
        PriceTable.load(p)


def test_ledger_compares_with_and_without_cache_and_batch():
    pro = PriceTable.load().lookup("gemini", "gemini-2.5-pro")
    usage = {"input_tokens": 20000, "cached_tokens": 19000, "output_tokens": 500}
    rows = [{"key": f"l{i}", "usage": usage, "latency_s": float(i), "mode": "live"}
            for i in range(1, 11)]  # fmt: skip
    rows += [{"key": "b", "usage": usage, "latency_s": 600.0, "mode": "batch"}]
    s = summarize(rows + rows[:1], pro, "2025-10-01")  # a repeated key counts once
    assert s["labels"] == 11 and s["live_calls"] == 10 and s["batch_items"] == 1
    assert s["cost_usd"] < s["cost_without_batch_usd"] < s["cost_list_usd"]
    assert s["cost_usd"] < s["cost_without_cache_usd"] < s["cost_list_usd"]
    assert s["latency_p50_s"] == pytest.approx(5.5) and s["batch_turnaround_p50_s"] == 600.0
    assert summarize(rows, None, "x")["cost_usd"] is None


def test_estimate_before_sending_orders_the_ways_of_sending():
    pro = PriceTable.load().lookup("gemini", "gemini-2.5-pro")
    plan = LabellingPlan(2200, 20500, 30.0, 1100.0, 2048)
    rows = {(r["mode"], r["prefix cache"]): r for r in estimate(plan, pro)}
    live = rows[("live", False)]["expected cost (USD)"]
    assert live == pytest.approx((2200 * 20530 * 1.25 + 2200 * 1100 * 10) / 1e6)
    assert (
        rows[("batch", True)]["expected cost (USD)"] < rows[("live", True)]["expected cost (USD)"]
    )
    assert rows[("live", True)]["expected cost (USD)"] < live
    assert all(r["upper bound (USD)"] >= r["expected cost (USD)"] for r in rows.values())


def test_the_teacher_ledger_of_a_live_run(tmp_path, keys):
    with fake_server("openai") as (_, url):
        t = _teacher(tmp_path, "openai", model="gpt-4o-mini", base_url=url)
        recs = t.label(QUERIES[:4])
        led = t.ledger(recs)
    assert led["labels"] == 4 and led["live_calls"] == 4 and led["cost_usd"] > 0
    assert led["cost_without_cache_usd"] > led["cost_usd"]  # the fake reports 64 cached
    assert led["latency_p95_s"] >= led["latency_p50_s"] > 0


def test_answers_someone_waits_for_are_live_where_the_profile_says_batch(tmp_path, root):
    from dataclasses import replace

    from ecc_utils.artifacts import Artifacts
    from ecc_utils.config import load_profile

    cfg = load_profile(root / "params" / "smoke.yaml")
    t = replace(cfg.teacher, backend="gemini", model="gemini-2.5-pro", mode="batch", n_shots=5)
    cfg = replace(cfg, teacher=t)
    art = Artifacts(tmp_path)
    assert cloud.teacher_from_profile(cfg, art, FEWSHOT, progress=False).mode == "batch"
    assert cloud.teacher_from_profile(cfg, art, FEWSHOT, online=True).mode == "live"
    replay = replace(cfg, teacher=replace(t, mode="replay"))
    assert cloud.teacher_from_profile(replay, art, FEWSHOT, online=True).mode == "replay"
