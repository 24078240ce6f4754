"""Training pairs: natural and teacher-labelled pairs mixed, encoded, and padded into batches."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecc_utils.artifacts import read_label_file
from ecc_utils.endmodel.format import IGNORE_INDEX, encode_example
from ecc_utils.endmodel.vocab import Vocabulary
from ecc_utils.records import Example


def read_teacher_labels(
    path: str | os.PathLike,
    queries: dict[str, Example] | None = None,
    *,
    exclude_splits: Sequence[str] = ("eval",),
) -> list[Example]:
    """Teacher-labelled pairs from ``teacher/labels.jsonl`` (rows with id, query, answer, split).

    The context comes from `queries` (id -> Example, e.g. ``data/teacher_queries.jsonl``)
    when given. Rows in `exclude_splits` (the evaluation set by default) and rows without an
    answer (failed labelling) are left out.
    """
    out = []
    for rec in read_label_file(path):
        if rec.split in exclude_splits or not rec.answer.strip():
            continue
        src = (queries or {}).get(rec.id)
        out.append(
            Example(
                id=rec.id,
                source="teacher",
                context=list(src.context) if src is not None else [],
                query=rec.query,
                response=rec.answer,
            )
        )
    return out


@dataclass(frozen=True)
class TrainingPairs:
    """What a method is trained on: natural (human) pairs and teacher-labelled pairs."""

    natural: Sequence[Example]
    teacher: Sequence[Example]


def mix_training_pairs(
    natural: Sequence[Example], teacher: Sequence[Example], teacher_mix: float, seed: int
) -> list[Example]:
    """A shuffled training list in which a `teacher_mix` fraction of pairs has a teacher target.

    Uses as many pairs as the two pools allow at that fraction; the same seed gives the same list.
    """
    if not 0.0 <= teacher_mix <= 1.0:
        raise ValueError(f"teacher_mix={teacher_mix}: must be in [0, 1]")
    n_nat, n_t = len(natural), len(teacher)
    if teacher_mix == 0.0:
        k_t, k_n = 0, n_nat
    elif teacher_mix == 1.0:
        k_t, k_n = n_t, 0
    else:
        total = int(min(n_nat / (1 - teacher_mix), n_t / teacher_mix) + 1e-9)
        k_t = min(n_t, round(teacher_mix * total))
        k_n = min(n_nat, total - k_t)
    rng = random.Random(seed)
    pairs = rng.sample(list(natural), k_n) + rng.sample(list(teacher), k_t)
    rng.shuffle(pairs)
    if not pairs:
        raise ValueError(
            f"no training pairs: {n_nat} natural, {n_t} teacher-labelled with teacher_mix="
            f"{teacher_mix}; check data/train.jsonl and teacher/labels.jsonl"
        )
    return pairs


class PairDataset:
    """Encoded training pairs (a map-style dataset for the Trainer).

    For a model with a trimmed head (`vocab`, from `endmodel.head.vocabulary_of`), response
    tokens outside the vocabulary are spelled in bytes and the labels are logit columns."""

    def __init__(
        self,
        tokenizer,
        examples: Sequence[Example],
        max_input_length: int,
        max_output_length: int,
        vocab: Vocabulary | None = None,
    ):
        items = [
            encode_example(tokenizer, e, max_input_length, max_output_length) for e in examples
        ]
        self.items = [_fitted(tokenizer, it, vocab) for it in items] if vocab else items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def _fitted(tokenizer, item: dict[str, list[int]], vocab: Vocabulary) -> dict[str, list[int]]:
    n = sum(1 for lab in item["labels"] if lab == IGNORE_INDEX)
    target = vocab.fit(tokenizer, item["input_ids"][n:])
    return {"input_ids": item["input_ids"][:n] + target,
            "labels": [IGNORE_INDEX] * n + vocab.positions(target)}  # fmt: skip


@dataclass
class PadCollator:
    """Right-pads a batch to its longest item (or a multiple of `pad_to_multiple_of`).

    With `response_logits_only`, the batch also carries ``logits_to_keep``: a mask of the
    positions that predict a response token, with their targets as ``shift_labels`` (the
    loss is unchanged: prompt labels are -100 anyway) while the LM head, most of a small
    model's compute with a 262k vocabulary, runs on those positions alone.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None
    response_logits_only: bool = False

    def __call__(self, items: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        n = max(len(it["input_ids"]) for it in items)
        if self.pad_to_multiple_of:
            n = -(-n // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids, labels, mask = [], [], []
        for it in items:
            pad = n - len(it["input_ids"])
            ids.append(it["input_ids"] + [self.pad_token_id] * pad)
            labels.append(it["labels"] + [IGNORE_INDEX] * pad)
            mask.append([1] * len(it["input_ids"]) + [0] * pad)
        batch: dict[str, Any] = {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }
        if self.response_logits_only and keeps_masked_positions():
            # Logits at position t predict token t + 1: keep exactly the positions whose next
            # token is a label, flattened over the batch, with their targets.
            targets = batch["labels"][:, 1:]
            keep = torch.zeros_like(batch["labels"], dtype=torch.bool)
            keep[:, :-1] = targets != IGNORE_INDEX
            batch["logits_to_keep"] = keep
            batch["shift_labels"] = targets[targets != IGNORE_INDEX]
            batch["labels"] = batch["shift_labels"]
        elif self.response_logits_only:  # an older transformers: one window for the batch
            starts = [
                next((i for i, lab in enumerate(it["labels"]) if lab != IGNORE_INDEX), n)
                for it in items
            ]
            # Keep from the earliest last-prompt-token of the batch on.
            keep = n - max(min(starts) - 1, 0)
            batch["labels"] = batch["labels"][:, n - keep :]
            batch["logits_to_keep"] = keep
        return batch


@functools.cache
def keeps_masked_positions() -> bool:
    """Whether this transformers computes logits at the True positions of a boolean
    ``logits_to_keep`` mask (flattened), and so at the response positions only: with
    length-bucketed batches of 4 on the quick profile's pairs, 2650 positions instead of the
    5496 of the one window from the earliest response start (measured on 175 ECD pairs)."""
    import torch

    try:
        from transformers.modeling_utils import slice_logits_to_keep
    except ImportError:
        return False
    hidden = torch.arange(6.0).reshape(2, 3, 1)
    try:
        kept = slice_logits_to_keep(hidden, torch.tensor([[False, True, False], [True] * 3]))
    except (IndexError, RuntimeError, TypeError):
        return False
    return kept.shape == (4, 1)


def accepts_logits_to_keep(model) -> bool:
    """Whether `model.forward` takes ``logits_to_keep`` (transformers' own causal LMs do)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters
