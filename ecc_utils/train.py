"""Fine-tune the end model with one Table IV method (Section IV-B), using transformers' Trainer.

- Prompt: the model's chat template when it has one, else a plain ``Customer:``/``Agent:``
  transcript; context turns become the conversation history, the query the last user turn.
- Loss on response tokens only (labels are -100 on the prompt and on padding).
- Input truncated from the left by whole turns (the latest turns are kept), output from the right.
- The LR schedule spans `max_steps` (30000 in the paper) while training stops at the last
  milestone; adapter-only checkpoints ``<out_dir>/checkpoint-<step>/`` are written at the
  milestones only, with optimizer, scheduler and RNG state so that a re-run resumes exactly.
- ``<out_dir>/train_log.json``: loss, learning rate and tokens/s per logging step.

CLI (also under ``accelerate launch`` / ``torchrun`` for DDP)::

    python -m ecc_utils.train --profile params/paper.yaml --method lora --artifacts artifacts/paper
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecc_utils.peft_methods import (
    LABELS,
    apply_method,
    check_gradient_checkpointing,
    check_method,
)
from ecc_utils.records import Example, Turn, atomic_write_text, iter_jsonl, read_examples

IGNORE_INDEX = -100
PLAIN_ROLES = {"user": "Customer", "assistant": "Agent"}
TRAIN_LOG = "train_log.json"
# transformers 5 warns about its own renamed attribute whenever PEFT touches a model.
_DEPRECATION_NOISE = ".*is_gradient_checkpointing.* is deprecated"


# ---------------------------------------------------------------- prompt format


def conversation_messages(context: Sequence[Turn], query: str) -> list[dict[str, str]]:
    """Chat messages for (context, query): customer -> user, agent -> assistant.

    Consecutive turns of one speaker are merged and leading agent turns dropped, because chat
    templates require user/assistant alternation starting with the user. The query is the
    last user message.
    """
    messages: list[dict[str, str]] = []
    turns = [(t.speaker, t.text) for t in context] + [("customer", query)]
    for speaker, text in turns:
        role = "user" if speaker == "customer" else "assistant"
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n" + text
        elif messages or role == "user":
            messages.append({"role": role, "content": text})
    return messages


def _render(tokenizer, messages: list[dict[str, str]], response: str | None) -> str:
    """Prompt text (response None) or the full conversation text including `response`."""
    if getattr(tokenizer, "chat_template", None):
        if response is None:
            return tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        return tokenizer.apply_chat_template(
            messages + [{"role": "assistant", "content": response}], tokenize=False
        )
    lines = [f"{PLAIN_ROLES[m['role']]}: {m['content']}" for m in messages]
    prompt = "\n".join(lines) + f"\n{PLAIN_ROLES['assistant']}:"
    if response is None:
        return prompt
    return prompt + " " + response + (tokenizer.eos_token or "")


def _plain_bos(tokenizer) -> list[int]:
    if getattr(tokenizer, "chat_template", None) or tokenizer.bos_token_id is None:
        return []
    return [tokenizer.bos_token_id]


def encode_prompt(
    tokenizer, context: Sequence[Turn], query: str, max_input_length: int
) -> list[int]:
    """Token ids of the prompt for (context, query), at most `max_input_length` long.

    The oldest turns are dropped until the prompt fits; a query that alone is too long keeps
    its last tokens (after the template's leading token).
    """
    if max_input_length < 1:
        raise ValueError(f"max_input_length={max_input_length}: must be >= 1")
    messages = conversation_messages(context, query)
    while True:
        text = _render(tokenizer, messages, None)
        ids = _plain_bos(tokenizer) + tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= max_input_length or len(messages) == 1:
            break
        messages = messages[2:] if len(messages) > 2 else messages[-1:]
    if len(ids) > max_input_length:
        ids = ids[:1] + ids[len(ids) - max_input_length + 1 :] if max_input_length > 1 else ids[-1:]
    return ids


def encode_response(tokenizer, context: Sequence[Turn], query: str, response: str) -> list[int]:
    """Token ids the model must produce after the prompt: the response and its end-of-turn."""
    messages = conversation_messages(context, query)
    prompt = _render(tokenizer, messages, None)
    full = _render(tokenizer, messages, response)
    if full.startswith(prompt):
        suffix = full[len(prompt) :]
    else:  # a template that rewrites earlier turns (rare): fall back to response + EOS
        suffix = response + (tokenizer.eos_token or "")
    return tokenizer(suffix, add_special_tokens=False)["input_ids"]


def encode_example(
    tokenizer, example: Example, max_input_length: int, max_output_length: int
) -> dict[str, list[int]]:
    """``{"input_ids", "labels"}`` for one pair: labels are -100 except on the response tokens."""
    prompt = encode_prompt(tokenizer, example.context, example.query, max_input_length)
    target = encode_response(tokenizer, example.context, example.query, example.response)
    target = target[:max_output_length]
    return {"input_ids": prompt + target, "labels": [IGNORE_INDEX] * len(prompt) + target}


# ---------------------------------------------------------------- training data


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
    for i, row in enumerate(iter_jsonl(path), 1):
        missing = [k for k in ("id", "query", "answer") if k not in row]
        if missing:
            raise ValueError(f"{path}:{i}: teacher label lacks {', '.join(missing)}")
        if row.get("split") in exclude_splits or not (row["answer"] or "").strip():
            continue
        src = (queries or {}).get(row["id"])
        out.append(
            Example(
                id=str(row["id"]),
                source="teacher",
                context=list(src.context) if src is not None else [],
                query=row["query"],
                response=row["answer"],
            )
        )
    return out


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
    """Encoded training pairs (a map-style dataset for the Trainer)."""

    def __init__(
        self, tokenizer, examples: Sequence[Example], max_input_length: int, max_output_length: int
    ):
        self.items = [
            encode_example(tokenizer, e, max_input_length, max_output_length) for e in examples
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


@dataclass
class PadCollator:
    """Right-pads a batch to its longest item (or a multiple of `pad_to_multiple_of`).

    With `response_logits_only`, the batch also carries ``logits_to_keep`` and labels cut to
    the same last positions, so the model computes vocabulary logits only from the last
    prompt token on: the loss is unchanged (prompt labels are -100 anyway) while the LM head,
    most of a small model's compute with a 262k vocabulary, runs on far fewer positions.
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
        if self.response_logits_only:
            starts = [
                next((i for i, lab in enumerate(it["labels"]) if lab != IGNORE_INDEX), n)
                for it in items
            ]
            # Logits at position t predict token t + 1: keep from the last prompt token on.
            keep = n - max(min(starts) - 1, 0)
            batch["labels"] = batch["labels"][:, n - keep :]
            batch["logits_to_keep"] = keep
        return batch


def accepts_logits_to_keep(model) -> bool:
    """Whether `model.forward` takes ``logits_to_keep`` (transformers' own causal LMs do)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


# ---------------------------------------------------------------- training


def _milestone_callback(milestones: Sequence[int]):
    from transformers import TrainerCallback

    class MilestoneCallback(TrainerCallback):
        """Save at milestone steps only; stop after the last one."""

        def __init__(self) -> None:
            self.milestones = set(milestones)
            self.last = max(milestones)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in self.milestones:
                control.should_save = True
                control.should_log = True
            else:
                control.should_save = False
            if state.global_step >= self.last:
                control.should_training_stop = True
            return control

    return MilestoneCallback()


TRAINABLE_STATE = "trainable_state.safetensors"


def _saves_inference_form(model) -> bool:
    """Prefix-Tuning with projection saves the MLP's *output* as its adapter (the inference
    form), from which training cannot resume; such checkpoints also keep the trainable weights."""
    cfg = getattr(model, "peft_config", {}).get(getattr(model, "active_adapter", None))
    return bool(getattr(cfg, "prefix_projection", False))


def _resumable_trainer(base):
    """`base` (transformers' Trainer) whose checkpoints resume exactly for every method."""

    class ResumableTrainer(base):
        def _save(self, output_dir=None, state_dict=None):
            super()._save(output_dir, state_dict)
            if output_dir and _saves_inference_form(self.model):
                from safetensors.torch import save_file

                weights = {
                    n: p.detach().cpu().contiguous()
                    for n, p in self.model.named_parameters()
                    if p.requires_grad
                }
                save_file(weights, str(Path(output_dir) / TRAINABLE_STATE))

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            path = Path(resume_from_checkpoint) / TRAINABLE_STATE
            if not path.is_file():
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            from safetensors.torch import load_file

            target = self.model if model is None else model
            result = target.load_state_dict(load_file(str(path)), strict=False)
            if result.unexpected_keys:
                raise RuntimeError(
                    f"{path}: weights that this model does not have: {result.unexpected_keys[:3]}"
                )

    return ResumableTrainer


def _text_progress(trainer) -> None:
    """Use tqdm's text bar in notebooks too: transformers' HTML bar does not survive papermill
    into the book, and it fails (division by None) when a resumed run has no step left."""
    from transformers.trainer_callback import ProgressCallback
    from transformers.utils.notebook import NotebookProgressCallback

    if trainer.pop_callback(NotebookProgressCallback) is not None:
        trainer.add_callback(ProgressCallback)


@dataclass
class TrainResult:
    """What one `train_method` call produced (also written to ``<out_dir>/train_log.json``)."""

    method: str
    label: str
    out_dir: Path
    checkpoints: dict[int, Path]
    # One row per logging step: step, loss, learning_rate, tokens_seen, tokens_per_s.
    history: list[dict] = field(repr=False)
    trainable_params: int
    total_params: int
    n_pairs: int
    n_teacher_pairs: int
    steps_per_s: float
    tokens_per_s: float
    runtime_s: float
    resumed_from: int | None
    skipped: bool

    @property
    def log_path(self) -> Path:
        return self.out_dir / TRAIN_LOG


def milestone_checkpoints(out_dir: str | os.PathLike, milestones: Sequence[int]) -> dict[int, Path]:
    """``{step: checkpoint dir}`` for the milestones whose checkpoint exists under `out_dir`."""
    out_dir = Path(out_dir)
    found = {s: out_dir / f"checkpoint-{s}" for s in sorted(milestones)}
    return {s: p for s, p in found.items() if (p / "adapter_config.json").exists()}


def _check_milestones(milestones: Sequence[int], max_steps: int) -> tuple[int, ...]:
    ms = tuple(sorted({int(m) for m in milestones}))
    if not ms or ms[0] < 1 or ms[-1] > max_steps:
        raise ValueError(
            f"milestones={tuple(milestones)}: need at least one step in [1, max_steps={max_steps}]"
        )
    return ms


def train_method(
    model_spec_or_model: Any,
    tokenizer: Any,
    method: str,
    train_examples: Sequence[Example],
    teacher_examples: Sequence[Example],
    out_dir: str | os.PathLike,
    *,
    max_steps: int,
    milestones: Sequence[int],
    learning_rate: float = 5e-5,
    batch_size: int = 1,
    gradient_accumulation_steps: int = 1,
    max_input_length: int = 256,
    max_output_length: int = 512,
    num_virtual_tokens: int = 128,
    lora_r: int = 8,
    lora_alpha: int = 32,
    lora_dropout: float = 0.1,
    target_modules: Sequence[str] | None = None,
    teacher_mix: float = 0.5,
    seed: int = 0,
    lr_scheduler_type: str = "linear",
    logging_steps: int = 10,
    gradient_checkpointing: bool = False,
    pad_to_multiple_of: int | None = None,
    group_by_length: bool = False,
    response_logits_only: bool | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
    dtype: str = "auto",
    training_args: dict[str, Any] | None = None,
) -> TrainResult:
    """Fine-tune with `method` (Table IV) and write milestone adapters under `out_dir`.

    `model_spec_or_model` is a base model (with `tokenizer`) or a spec for `models.load_model`
    (then `tokenizer` may be None). A passed model is left as it was (the adapter is removed
    after training; it lives in the checkpoints). Re-running with the same `out_dir` resumes
    from the last checkpoint; if the last milestone is already there, nothing is trained.
    The same seed and inputs give the same adapter weights. `training_args` overrides any
    `transformers.TrainingArguments` field (e.g. ``{"torch_compile": True}`` on a GPU).
    `response_logits_only` (default: when the model supports ``logits_to_keep``) computes
    vocabulary logits only where the loss needs them (see `PadCollator`).
    """
    import torch
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from ecc_utils.models import count_parameters, load_model, resolve_device

    check_method(method)
    check_gradient_checkpointing(method, gradient_checkpointing)
    ms = _check_milestones(milestones, max_steps)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    done = milestone_checkpoints(out_dir, ms)
    if ms[-1] in done and (out_dir / TRAIN_LOG).exists():
        return _result_from_log(out_dir, done)

    if isinstance(model_spec_or_model, (str, os.PathLike)):
        model, tokenizer = load_model(
            str(model_spec_or_model),
            trust_remote_code=trust_remote_code,
            dtype=dtype,
            device=device,
        )
    else:
        model = model_spec_or_model
    if tokenizer is None:
        raise ValueError("tokenizer=None: pass the tokenizer that belongs to the model")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    pairs = mix_training_pairs(train_examples, teacher_examples, teacher_mix, seed)
    teacher_objs = {id(e) for e in teacher_examples}
    n_teacher = sum(1 for p in pairs if id(p) in teacher_objs)
    dataset = PairDataset(tokenizer, pairs, max_input_length, max_output_length)

    requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}
    was_training = model.training
    dev = resolve_device(device) if device != "auto" else model.device.type
    use_bf16 = next(model.parameters()).dtype == torch.bfloat16 and dev.startswith("cuda")
    args_kw: dict[str, Any] = dict(
        output_dir=str(out_dir),
        max_steps=max_steps,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        lr_scheduler_type=lr_scheduler_type,
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=logging_steps,
        logging_first_step=True,
        save_strategy="no",  # MilestoneCallback decides when to save
        save_only_model=False,  # optimizer/scheduler/RNG state for an exact resume
        seed=seed,
        data_seed=seed,
        report_to="none",
        remove_unused_columns=False,
        label_names=["labels"],
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        use_cpu=(dev == "cpu"),
        bf16=use_bf16,
        ddp_find_unused_parameters=False,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
    )
    if gradient_checkpointing:  # only LoRA gets here (check_gradient_checkpointing)
        args_kw["gradient_checkpointing"] = True
    args_kw.update(training_args or {})
    set_seed(seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION_NOISE)
        peft_model = apply_method(
            model,
            method,
            num_virtual_tokens=num_virtual_tokens,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=target_modules,
        )
        trainable, total = count_parameters(peft_model)
        trainer = _resumable_trainer(Trainer)(
            model=peft_model,
            args=TrainingArguments(**args_kw),
            train_dataset=dataset,
            data_collator=PadCollator(
                tokenizer.pad_token_id,
                pad_to_multiple_of,
                accepts_logits_to_keep(model)
                if response_logits_only is None
                else response_logits_only,
            ),
            callbacks=[_milestone_callback(ms)],
        )
        _text_progress(trainer)
        last = get_last_checkpoint(str(out_dir)) if any(out_dir.glob("checkpoint-*")) else None
        resumed_from = int(Path(last).name.split("-")[-1]) if last else None
        t0 = time.perf_counter()
        trainer.train(resume_from_checkpoint=last)
        runtime = time.perf_counter() - t0

    history = [
        {
            "step": h["step"],
            "loss": h["loss"],
            "learning_rate": h.get("learning_rate"),
            "tokens_seen": h.get("num_input_tokens_seen"),
            # The Trainer's running average since this execution started.
            "tokens_per_s": h.get("train_tokens_per_second"),
        }
        for h in trainer.state.log_history
        if "loss" in h
    ]
    steps_run = trainer.state.global_step - (resumed_from or 0)
    tokens_run = trainer.state.num_input_tokens_seen - _tokens_at(history, resumed_from)
    result = TrainResult(
        method=method,
        label=LABELS[method],
        out_dir=out_dir,
        checkpoints=milestone_checkpoints(out_dir, ms),
        history=history,
        trainable_params=trainable,
        total_params=total,
        n_pairs=len(pairs),
        n_teacher_pairs=n_teacher,
        steps_per_s=steps_run / runtime if runtime > 0 else 0.0,
        tokens_per_s=tokens_run / runtime if runtime > 0 else 0.0,
        runtime_s=runtime,
        resumed_from=resumed_from,
        skipped=False,
    )
    if trainer.is_world_process_zero():
        _write_log(result, ms, max_steps, learning_rate, batch_size, seed)

    # Give the caller its model back unchanged; the trained adapter is in the checkpoints.
    if method == "lora":
        peft_model.unload()
    for n, p in model.named_parameters():
        p.requires_grad_(requires_grad.get(n, p.requires_grad))
    model.train(was_training)
    return result


def _tokens_at(history: list[dict], step: int | None) -> int:
    if not step:
        return 0
    seen = [h["tokens_seen"] or 0 for h in history if h["step"] <= step]
    return max(seen, default=0)


def _write_log(result: TrainResult, milestones, max_steps, learning_rate, batch_size, seed) -> None:
    log = {
        "method": result.method,
        "label": result.label,
        "milestones": list(milestones),
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "seed": seed,
        "trainable_params": result.trainable_params,
        "total_params": result.total_params,
        "n_pairs": result.n_pairs,
        "n_teacher_pairs": result.n_teacher_pairs,
        "steps_per_s": result.steps_per_s,
        "tokens_per_s": result.tokens_per_s,
        "runtime_s": result.runtime_s,
        "resumed_from": result.resumed_from,
        "checkpoints": {str(s): p.name for s, p in result.checkpoints.items()},
        "history": result.history,
    }
    atomic_write_text(result.log_path, json.dumps(log, indent=1) + "\n")


def read_train_log(out_dir: str | os.PathLike) -> dict:
    """The ``train_log.json`` of a run directory."""
    return json.loads((Path(out_dir) / TRAIN_LOG).read_text(encoding="utf-8"))


def _result_from_log(out_dir: Path, checkpoints: dict[int, Path]) -> TrainResult:
    log = read_train_log(out_dir)
    return TrainResult(
        method=log["method"],
        label=log["label"],
        out_dir=out_dir,
        checkpoints=checkpoints,
        history=log["history"],
        trainable_params=log["trainable_params"],
        total_params=log["total_params"],
        n_pairs=log["n_pairs"],
        n_teacher_pairs=log["n_teacher_pairs"],
        steps_per_s=log["steps_per_s"],
        tokens_per_s=log["tokens_per_s"],
        runtime_s=log["runtime_s"],
        resumed_from=log["resumed_from"],
        skipped=True,
    )


# ---------------------------------------------------------------- profile entry point


def load_training_data(
    art: str | os.PathLike, n_train: int | None = None
) -> tuple[list[Example], list[Example]]:
    """(natural pairs, teacher-labelled pairs) from the artifact directory `art`."""
    art = Path(art)
    train_path = art / "data" / "train.jsonl"
    labels_path = art / "teacher" / "labels.jsonl"
    for p, nb in ((train_path, "01_data"), (labels_path, "02_cloud_labels")):
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: run notebook {nb} for this profile first")
    natural = read_examples(train_path)
    if n_train is not None:
        natural = natural[:n_train]
    queries_path = art / "data" / "teacher_queries.jsonl"
    queries = {e.id: e for e in read_examples(queries_path)} if queries_path.exists() else None
    return natural, read_teacher_labels(labels_path, queries)


def run_from_profile(
    cfg: Any, method: str, artifacts: str | os.PathLike, *, model: Any = None, tokenizer: Any = None
) -> TrainResult:
    """Train `method` as profile `cfg` says, reading and writing the artifact contract.

    The end model is loaded from ``cfg.end_model`` unless `model` and `tokenizer` are given.
    """
    from ecc_utils.models import load_end_model

    art = Path(artifacts)
    natural, teacher = load_training_data(art, cfg.data.n_train)
    device = cfg.end_model.device
    if "LOCAL_RANK" in os.environ and device != "cpu":  # one process per GPU (torchrun)
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    if model is None:
        model, tokenizer = load_end_model(cfg, device=device)
    t = cfg.train
    return train_method(
        model,
        tokenizer,
        method,
        natural,
        teacher,
        art / "runs" / method,
        max_steps=t.max_steps,
        milestones=t.milestones[method],
        learning_rate=t.learning_rate,
        batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        max_input_length=t.max_input_length,
        max_output_length=t.max_output_length,
        num_virtual_tokens=t.num_virtual_tokens,
        lora_r=t.lora_r,
        lora_alpha=t.lora_alpha,
        lora_dropout=t.lora_dropout,
        teacher_mix=t.teacher_mix,
        seed=cfg.seed,
        lr_scheduler_type=t.lr_scheduler_type,
        logging_steps=t.logging_steps,
        device=device,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ecc_utils.train", description="Fine-tune the end model (Table IV)."
    )
    parser.add_argument("--profile", required=True, help="params/<profile>.yaml")
    parser.add_argument("--method", required=True, choices=list(LABELS))
    parser.add_argument("--artifacts", required=True, help="artifacts/<profile>")
    a = parser.parse_args(argv)
    from ecc_utils.config import load_profile

    result = run_from_profile(load_profile(a.profile), a.method, a.artifacts)
    print(
        f"{result.label}: checkpoints {sorted(result.checkpoints)} in {result.out_dir}; "
        f"{result.tokens_per_s:.0f} tokens/s" + (" (already trained)" if result.skipped else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
