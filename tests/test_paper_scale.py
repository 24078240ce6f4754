"""The paper profile's code path end to end on the CPU, without the hub, on the smoke run's
data and teacher labels: training, resume and scoring on a ChatGLM3-shaped model, and the
paper-scale page's multi-process command (`torchrun`) with two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ecc_utils.artifacts import Artifacts
from ecc_utils.config import load_profile

pytestmark = pytest.mark.slow


def _artifacts_without_runs(smoke_run, dest: Path) -> Artifacts:
    """The smoke run's data and teacher labels (what training reads), no trained runs."""
    src = smoke_run[0] / "artifacts" / "smoke"
    for name in ("data", "teacher"):
        shutil.copytree(src / name, dest / name)
    return Artifacts(dest)


def _paper_on_the_cpu(root: Path):
    """The paper profile with its real settings, except what the CPU needs: the ChatGLM3-shaped
    model at CPU size (random weights, no remote code) in float32, 4 steps, 16 new tokens."""
    cfg = load_profile(root / "params" / "paper.yaml")
    ms = {"prefix": (2,), "ptuning_v2": (2,), "lora": (2, 4)}
    return replace(
        cfg,
        end_model=replace(cfg.end_model, spec="chatglm3-shaped-small", trust_remote_code=False,
                          dtype="float32", device="cpu", inference_dtype="float32"),
        train=replace(cfg.train, max_steps=4, milestones=ms, logging_steps=1),
        generation=replace(cfg.generation, max_new_tokens=16, batch_size=6),
        scoring=replace(cfg.scoring, n_reference_pairs=40),
    )  # fmt: skip


def test_paper_profile_trains_resumes_and_scores_on_a_chatglm3_shaped_model(
    smoke_run, tmp_path, root
):
    import torch
    from safetensors.torch import load_file

    from ecc_utils import scoring
    from ecc_utils.endmodel import generate
    from ecc_utils.endmodel.load import load_end_model
    from ecc_utils.train.run import run_from_profile

    cfg = _paper_on_the_cpu(root)
    art = _artifacts_without_runs(smoke_run, tmp_path / "paper")
    paper = load_profile(root / "params" / "paper.yaml")
    # The settings that are the paper's stay the paper's.
    assert cfg.train.learning_rate == paper.train.learning_rate == 5e-5
    assert (cfg.train.batch_size, cfg.train.num_virtual_tokens, cfg.train.lora_r) == (1, 128, 8)
    assert (cfg.scoring.alpha, cfg.scoring.theta) == (0.8, 0.2)

    results = {m: run_from_profile(cfg, m, art) for m in cfg.train.methods}
    assert all(r.checkpoints for r in results.values())
    assert sorted(results["lora"].checkpoints) == [2, 4]

    # Resume: without its last checkpoint, LoRA continues from step 2 to the same weights.
    last = art.run_dir("lora") / "checkpoint-4"
    weights = load_file(last / "adapter_model.safetensors")
    shutil.rmtree(last)
    again = run_from_profile(cfg, "lora", art)
    assert again.log.resumed_from == 2 and sorted(again.checkpoints) == [2, 4]
    resumed = load_file(last / "adapter_model.safetensors")
    assert all(torch.equal(weights[k], resumed[k]) for k in weights)

    # Scoring as the scoring page does it: answers with the paper's sampling, Eq. (1).
    eval_set = art.read_split("eval")[:6]
    teacher = art.teacher_answers(eval_set)
    groups = scoring.groups_from_candidates(art.candidates, art.read_split("eval"))[:2]
    base, tokenizer = load_end_model(cfg, inference=True)
    checkpoints = art.checkpoints_by_model(cfg.train.methods, cfg.train.milestones)
    assert len(checkpoints) == 5  # the original model and 1 + 1 + 2 milestones
    evaluations = scoring.evaluate_models(
        base, tokenizer, checkpoints,
        scoring.EvaluationSet(eval_set, [r.answer for r in teacher], groups),
        sampling=generate.Sampling.from_profile(cfg),
        max_output_length=cfg.train.max_output_length,
    )  # fmt: skip
    scorer = scoring.Scorer.from_config(cfg.scoring)
    train = art.read_split("train")
    scorer.calibrator = scoring.fit_calibrator(
        scorer.embedder, scorer.matcher, [e.query for e in train], [e.response for e in train],
        n_pairs=cfg.scoring.n_reference_pairs, seed=cfg.seed,
    )  # fmt: skip
    answers = {m: ev.answers for m, ev in evaluations.items()}
    scores = scoring.score_table(
        eval_set, [r.query for r in teacher], [r.answer for r in teacher], answers, scorer
    )
    assert len(scores) == len(checkpoints) * len(eval_set)
    assert scores["final_score"].between(0, 1).all() and scores["final_score"].notna().all()


def test_torchrun_two_cpu_processes_train_on_disjoint_halves(smoke_run, tmp_path, root):
    """The paper-scale page's command, with 2 processes on the CPU (gloo) and the smoke model:
    each step of the pair of processes covers the samples of two single-process steps."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    args = ["-m", "ecc_utils.train", "--profile", str(root / "params" / "smoke.yaml"),
            "--method", "lora", "--artifacts"]  # fmt: skip
    two = _artifacts_without_runs(smoke_run, tmp_path / "two")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", *args, str(two.root)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=root)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert done.stdout.count("LoRA: checkpoints") == 2  # both ranks finished
    one = _artifacts_without_runs(smoke_run, tmp_path / "one")
    single = subprocess.run([sys.executable, *args, str(one.root)], env=env, cwd=root,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]

    def seen(a: Artifacts) -> dict[int, int]:
        log = json.loads((a.run_dir("lora") / "train_log.json").read_text(encoding="utf-8"))
        return {h["step"]: h["tokens_seen"] for h in log["history"]}

    ddp, solo = seen(two), seen(one)
    assert [ddp[k] for k in (1, 2, 3)] == [solo[2 * k] for k in (1, 2, 3)]
    assert sorted(p.name for p in two.run_dir("lora").glob("checkpoint-*")) == sorted(
        p.name for p in one.run_dir("lora").glob("checkpoint-*")
    )
