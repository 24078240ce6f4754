"""The local update: the end model fine-tuned on the device on the pseudo-label buffer plus a
replay sample of the original training pairs (against forgetting), with transformers' Trainer."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.records import Example

if TYPE_CHECKING:
    from ecc_utils.config import TrainConfig


def local_update(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    cfg: TrainConfig,
    *,
    steps: int,
    seed: int = 0,
    work_dir: str | Path,
) -> float:
    """Fine-tune the (trainable PEFT) `model` in place for `steps` steps at a constant rate;
    learning rate, batch size and lengths from `cfg` (profile section `train`, resolved for the
    adapter's method with `TrainConfig.for_method`). Matrix products in bfloat16 where the
    profile's training uses them (`train.mixed_precision`, as `train_method`). No examples: no
    update. Returns seconds."""
    from transformers import Trainer, TrainingArguments, set_seed

    from ecc_utils.endmodel.head import vocabulary_of
    from ecc_utils.train.pairs import PadCollator, PairDataset, accepts_logits_to_keep
    from ecc_utils.train.trainer import bf16_math

    if not examples:
        return 0.0
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    set_seed(seed)
    device = next(model.parameters()).device.type
    args = TrainingArguments(
        output_dir=str(work_dir),
        max_steps=steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        lr_scheduler_type="constant",
        save_strategy="no",
        report_to="none",
        logging_strategy="no",
        seed=seed,
        data_seed=seed,
        remove_unused_columns=False,
        label_names=["labels"],
        use_cpu=device == "cpu",
        bf16=bf16_math(cfg.mixed_precision, next(model.parameters()).dtype, device),
        disable_tqdm=True,
    )
    dataset = PairDataset(tokenizer, examples, cfg.max_input_length, cfg.max_output_length,
                          vocabulary_of(model))  # fmt: skip
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        # Vocabulary logits only where the loss needs them (the same loss, less arithmetic).
        data_collator=PadCollator(tokenizer.pad_token_id, None, accepts_logits_to_keep(model)),
    )
    t0 = time.perf_counter()
    trainer.train()
    model.eval()
    return time.perf_counter() - t0


def replay_sample(train: Sequence[Example], n: int, seed: int = 0) -> list[Example]:
    """A seeded sample of `n` original training pairs, replayed beside the pseudo-labels."""
    return random.Random(seed).sample(list(train), min(n, len(train)))


def trainable_adapter(base_model: Any, checkpoint_dir: str | Path) -> Any:
    """`base_model` with the adapter of `checkpoint_dir` loaded for further training."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(checkpoint_dir), is_trainable=True)
