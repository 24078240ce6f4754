"""The local update: the end model fine-tuned on the device on the round's pseudo-labels plus a
replay sample of the original training pairs (against forgetting), with transformers' Trainer.

The adapter it continues was trained with a rate that decayed to zero, so the update is a
continual fine-tuning step: a peak rate that is a fraction of the method's training rate
(``evolve.update_lr_scale``), warmed up and decayed over the update's steps, about one pass over
the new labels (``evolve.update_epochs``), and rehearsal of training pairs drawn from the whole
training split (``evolve.replay_ratio`` per pseudo-label). The settings were chosen on a
validation split with perfect (oracle) labels (``bench/sweep_update.py``, shown on the loop
page); `UpdateSettings` turns them into a learning rate and a number of steps for one round.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.records import Example

if TYPE_CHECKING:
    from ecc_utils.config import EvolveConfig, TrainConfig


@dataclass(frozen=True)
class UpdateSettings:
    """One round's local update: peak learning rate, optimizer steps, the schedule from that
    peak (``constant``, ``linear`` or ``cosine`` to zero) and its warm-up steps; batch size and
    lengths come from the method's `TrainConfig`."""

    learning_rate: float
    steps: int
    schedule: str = "constant"
    warmup_steps: int = 0

    @classmethod
    def for_round(cls, ev: EvolveConfig, train: TrainConfig, n_examples: int) -> UpdateSettings:
        """Section `evolve`'s update for `n_examples` (pseudo-labels and replay) under the
        method's section `train`: ``steps_per_round`` steps when set, else enough for
        ``update_epochs`` passes over the examples at the method's batch size."""
        if ev.steps_per_round is not None:
            steps = ev.steps_per_round
        else:
            steps = max(1, math.ceil(ev.update_epochs * n_examples / train.batch_size))
        return cls(train.learning_rate * ev.update_lr_scale, steps, ev.update_schedule,
                   round(ev.update_warmup_ratio * steps))  # fmt: skip


def update_examples(
    new: Sequence[Example],
    buffer: Sequence[Example],
    replay_pool: Sequence[Example],
    ev: EvolveConfig,
    rng: random.Random,
) -> list[Example]:
    """What a round's update trains on: the round's `new` pseudo-labels (``update_on: new``) or
    the whole `buffer` so far (``buffer``), then ``replay_ratio`` replayed training pairs per
    pseudo-label drawn with `rng` from `replay_pool` (no pseudo-label: nothing, no update)."""
    labels = list(new) if ev.update_on == "new" else list(buffer)
    if not labels:
        return []
    n = min(len(replay_pool), round(ev.replay_ratio * len(labels)))
    return labels + rng.sample(list(replay_pool), n)


def local_update(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    cfg: TrainConfig,
    update: UpdateSettings,
    *,
    seed: int = 0,
    work_dir: str | Path,
) -> float:
    """Fine-tune the (trainable PEFT) `model` in place on `examples` as `update` says; batch
    size and lengths from `cfg` (profile section `train`, resolved for the adapter's method
    with `TrainConfig.for_method`). Matrix products in bfloat16 where the profile's training
    uses them (`train.mixed_precision`, as `train_method`). No examples: no update. Returns
    seconds."""
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

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
        max_steps=update.steps,
        learning_rate=update.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        lr_scheduler_type=update.schedule,
        warmup_steps=update.warmup_steps,
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
    trainer.remove_callback(PrinterCallback)  # its closing metrics dict would clutter the page
    t0 = time.perf_counter()
    trainer.train()
    model.eval()
    return time.perf_counter() - t0


def replay_sample(train: Sequence[Example], n: int | None, seed: int = 0) -> list[Example]:
    """The pool replayed beside the pseudo-labels: a seeded sample of `n` original training
    pairs, or the whole training split (`n` None)."""
    if n is None:
        return list(train)
    return random.Random(seed).sample(list(train), min(n, len(train)))


def trainable_adapter(base_model: Any, checkpoint_dir: str | Path) -> Any:
    """`base_model` with the adapter of `checkpoint_dir` loaded for further training."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(checkpoint_dir), is_trainable=True)
