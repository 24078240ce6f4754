"""Training as a profile says, reading and writing the artifact contract; the CLI.

    python -m ecc_utils.train --profile params/paper.yaml --method lora --artifacts artifacts/paper

(also under ``accelerate launch`` / ``torchrun`` for DDP: one process per GPU).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ecc_utils.artifacts import Artifacts
from ecc_utils.endmodel.peft_methods import PeftSpec
from ecc_utils.paper import METHODS
from ecc_utils.train.pairs import TrainingPairs, read_teacher_labels
from ecc_utils.train.trainer import TrainOptions, TrainResult, train_method

if TYPE_CHECKING:
    from ecc_utils.config import Profile


def load_training_data(art: Artifacts, n_train: int | None = None) -> TrainingPairs:
    """The natural pairs (``data/train.jsonl``, the first `n_train`) and the teacher-labelled
    pairs (``teacher/labels.jsonl``, with their contexts from ``data/teacher_queries.jsonl``)."""
    natural = art.read_split("train")
    if not art.labels.is_file():
        raise FileNotFoundError(
            f"{art.labels} is missing: run notebook 02_cloud_labels for this profile first"
        )
    if n_train is not None:
        natural = natural[:n_train]
    queries_path = art.split("teacher_queries")
    queries = (
        {e.id: e for e in art.read_split("teacher_queries")} if queries_path.exists() else None
    )
    return TrainingPairs(natural, read_teacher_labels(art.labels, queries))


def run_from_profile(
    cfg: Profile, method: str, art: Artifacts, *, model: Any = None, tokenizer: Any = None
) -> TrainResult:
    """Train `method` as profile `cfg` says into ``runs/<method>`` of `art`.

    The end model is loaded from ``cfg.end_model`` unless `model` and `tokenizer` are given.
    """
    from ecc_utils.endmodel.load import load_end_model

    pairs = load_training_data(art, cfg.data.n_train)
    device = cfg.end_model.device
    if "LOCAL_RANK" in os.environ and device != "cpu":  # one process per GPU (torchrun)
        import torch

        if torch.cuda.is_available():  # on CPUs every process trains on the CPU (gloo)
            device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        else:
            device = "cpu"
    if model is None:
        model, tokenizer = load_end_model(cfg, device=device, art=art)
    spec = PeftSpec.from_train(method, cfg.train)
    return train_method(
        model,
        tokenizer,
        spec,
        pairs,
        art.run_dir(method),
        cfg.train.for_method(method),
        options=TrainOptions(device=device, seed=cfg.seed),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecc_utils.train", description="Fine-tune the end model (Table IV)."
    )
    parser.add_argument("--profile", required=True, help="params/<profile>.yaml")
    parser.add_argument("--method", required=True, choices=list(METHODS))
    parser.add_argument("--artifacts", required=True, help="artifacts/<profile>")
    a = parser.parse_args(argv)
    from ecc_utils.config import load_profile

    result = run_from_profile(load_profile(a.profile), a.method, Artifacts(a.artifacts))
    print(
        f"{result.label}: checkpoints {sorted(result.checkpoints)} in {result.out_dir}; "
        f"{result.tokens_per_s:.0f} tokens/s" + (" (already trained)" if result.skipped else "")
    )
    return 0
