"""The paper profile's training path on a ChatGLM3-shaped model at CPU size (no hub).

`bench/paper_gpu.py` is what ran on the GPU (bench/results/gpu_*_h200.csv); here the same
script runs with the paper profile's settings on `chatglm3-shaped-small`, so that it and the
code path it measures cannot rot unseen.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from ecc_utils.endmodel.shaped import SHAPED_MODELS, char_tokenizer, shaped_config, shaped_model


def test_shaped_config_has_chatglm3_6b_shapes():
    cfg = shaped_config("chatglm3-shaped")
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) == (28, 4096, 13696)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.vocab_size) == (32, 2, 65024)
    assert cfg.rope_parameters["partial_rotary_factor"] == 0.5 and cfg.attention_bias
    with pytest.raises(ValueError, match="chatglm3-shaped"):
        shaped_config("chatglm3-7b")


def test_char_tokenizer_round_trips_chinese_with_chatglm3_template():
    tok = char_tokenizer()
    text = "亲，这款有货吗？size M"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tok.unk_token_id not in ids
    assert tok.decode(ids) == text
    conv = [{"role": "user", "content": "在吗"}, {"role": "assistant", "content": "在的"}]
    assert tok.apply_chat_template(conv, tokenize=False) == (
        "[gMASK]sop<|user|>\n在吗<|assistant|>\n在的<eos>"
    )


def test_shaped_model_is_seeded_and_leaves_the_rng_alone():
    import torch

    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a, _ = shaped_model("chatglm3-shaped-small", seed=1)
    after = torch.rand(1)
    b, _ = shaped_model("chatglm3-shaped-small", seed=1)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert set(SHAPED_MODELS) == {"chatglm3-shaped", "chatglm3-shaped-small"}


@pytest.mark.slow  # a paper-profile run in a subprocess (20 s)
def test_paper_training_path_runs_resumes_exactly_and_matches_plain_peft(root, data_dir, tmp_path):
    out = tmp_path / "results"
    cmd = [sys.executable, "bench/paper_gpu.py", "--spec", "chatglm3-shaped-small", "--device",
           "cpu", "--plain-steps", "6", "--steps", "6", "--bucket-batch", "4", "--bucket-steps",
           "2", "--warmup", "1", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "ECC_DATA_DIR": str(data_dir), "PYTHONPATH": str(root)}
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    def read(name):
        with (out / name).open(encoding="utf-8") as f:
            return list(csv.DictReader(f))

    rows = read("gpu_train.csv")
    methods = ("prefix", "ptuning_v2", "lora")
    fair = "plain Trainer + PEFT, length-grouped"
    paths = {"plain Trainer + PEFT", "ours", "ours, length-bucketed", fair}
    assert {(r["method"], r["path"]) for r in rows} == {(m, p) for m in methods for p in paths}
    assert all(float(r["samples_per_s"]) > 0 for r in rows)
    # The paper's settings: batch 1 for plain and ours; the fair baseline at ours' bucket batch.
    batch_1 = {"plain Trainer + PEFT", "ours"}
    assert {r["batch_size"] for r in rows if r["path"] in batch_1} == {"1"}
    assert {r["batch_size"] for r in rows if r["path"] not in batch_1} == {"4"}
    assert all("length-grouped" in r["settings"] for r in rows if r["path"] == fair)
    # On the CPU in float32 a resumed run ends at the straight run's weights, bit for bit.
    assert [float(r["max_abs_weight_difference"]) for r in read("gpu_resume.csv")] == [0.0] * 3
    # Same pairs, same order, batch 1: ours (logits only where the loss needs them) and plain
    # PEFT have the same loss at every step.
    curves = [r for r in read("gpu_loss.csv") if r["plain"]]
    assert len(curves) == 3 * 6
    assert max(abs(float(r["ours"]) - float(r["plain"])) for r in curves) < 1e-4
