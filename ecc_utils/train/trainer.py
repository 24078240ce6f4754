"""Fine-tune the end model with one Table IV method (Section IV-B), using transformers' Trainer.

- Loss on response tokens only (`format`), batches from `pairs`.
- The LR schedule spans ``max_steps`` (30000 in the paper) while training stops at the last
  milestone; adapter-only checkpoints ``<out_dir>/checkpoint-<step>/`` are written at the
  milestones only, with optimizer, scheduler and RNG state so that a re-run resumes exactly.
- ``<out_dir>/train_log.json`` (`artifacts.TrainLog`): loss, learning rate and tokens/s per
  logging step.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecc_utils.artifacts import (
    TRAIN_LOG,
    TrainLog,
    milestone_checkpoints,
    read_train_log,
    write_train_log,
)
from ecc_utils.endmodel.format import transcript_ids
from ecc_utils.endmodel.head import vocabulary_of
from ecc_utils.endmodel.peft_methods import (
    DEPRECATION_NOISE,
    PeftSpec,
    apply_method,
    check_gradient_checkpointing,
)
from ecc_utils.train.pairs import (
    PadCollator,
    PairDataset,
    TrainingPairs,
    accepts_logits_to_keep,
    mix_training_pairs,
)

if TYPE_CHECKING:
    from ecc_utils.config import TrainConfig


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

    try:  # needs IPython, which a plain Python (a GPU server) may not have
        from transformers.utils.notebook import NotebookProgressCallback
    except ImportError:
        return

    if trainer.pop_callback(NotebookProgressCallback) is not None:
        trainer.add_callback(ProgressCallback)


def bf16_math(mixed_precision: str, dtype: Any, dev: str) -> bool:
    """Whether the Trainer runs in bf16 (`TrainConfig.mixed_precision`). Measured on this
    project's 2-core CPU (AVX512-BF16), LoRA on Gemma 3 270M at the quick settings, 32 ECD
    pairs, float32 and bf16 alternating in one process, two runs each: 2.47 and 2.33 against
    2.86 and 2.72 samples/s; every logged loss within 0.01 of float32's."""
    import torch

    from ecc_utils.endmodel.load import resolve_inference_dtype

    if dtype == torch.bfloat16 and dev.startswith("cuda"):
        return True
    if mixed_precision == "auto":  # the same rule as answering's "auto" dtype
        return resolve_inference_dtype("auto", "float32", dev) == torch.bfloat16
    return mixed_precision == "bf16"


@dataclass
class TrainResult:
    """What one `train_method` call produced: its `TrainLog` (also written to
    ``<out_dir>/train_log.json``), the milestone checkpoints, and whether training was skipped
    because the last milestone already existed. The log's fields read as attributes
    (``result.tokens_per_s``, ``result.history``, ...)."""

    log: TrainLog
    out_dir: Path
    checkpoints: dict[int, Path]
    skipped: bool

    def __getattr__(self, name: str) -> Any:
        if name == "log":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.log, name)

    @property
    def log_path(self) -> Path:
        return self.out_dir / TRAIN_LOG


def _check_milestones(method: str, cfg: TrainConfig) -> tuple[int, ...]:
    if method not in cfg.milestones:
        raise ValueError(
            f"train.milestones: no milestones for method {method!r} "
            f"(milestones given for {sorted(cfg.milestones)})"
        )
    milestones = cfg.milestones[method]
    ms = tuple(sorted({int(m) for m in milestones}))
    if not ms or ms[0] < 1 or ms[-1] > cfg.max_steps:
        raise ValueError(
            f"train.milestones.{method}={tuple(milestones)}: need at least one step in "
            f"[1, max_steps={cfg.max_steps}]"
        )
    return ms


def _training_arguments(out_dir: Path, cfg: TrainConfig, seed: int, dev: str, bf16: bool) -> dict:
    args: dict[str, Any] = dict(
        output_dir=str(out_dir),
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=0,
        weight_decay=0.0,
        logging_steps=cfg.logging_steps,
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
        bf16=bf16,
        ddp_find_unused_parameters=False,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
    )
    if cfg.gradient_checkpointing:  # only LoRA gets here (check_gradient_checkpointing)
        args["gradient_checkpointing"] = True
    return args


@dataclass(frozen=True)
class TrainOptions:
    """How a `train_method` call runs, beyond the profile's section `train`: `device` ("auto":
    the model's), the `seed` (the same seed and inputs give the same adapter weights),
    `training_args` overriding any `transformers.TrainingArguments` field (e.g.
    ``{"torch_compile": True}`` on a GPU), `response_logits_only` (None: when the model
    supports ``logits_to_keep``) for vocabulary logits only where the loss needs them, and extra
    `transformers.TrainerCallback`s (e.g. the benchmarks' step timer)."""

    device: str = "auto"
    seed: int = 0  # the Trainer's seed and the mix of natural and teacher pairs
    training_args: dict[str, Any] | None = None
    response_logits_only: bool | None = None
    callbacks: tuple[Any, ...] = ()


def train_method(
    model: Any,
    tokenizer: Any,
    spec: PeftSpec,
    pairs: TrainingPairs,
    out_dir: str | os.PathLike,
    cfg: TrainConfig,
    *,
    options: TrainOptions = TrainOptions(),
) -> TrainResult:
    """Fine-tune `model` with the method of `spec` (Table IV) and write milestone adapters.

    `cfg` is profile section `train`: the schedule (``max_steps``, ``milestones[method]``,
    learning rate, batch size), lengths, the teacher mix. The passed model is left as it was
    (the adapter is removed after training; it lives in the checkpoints under `out_dir`).
    Re-running with the same `out_dir` resumes from the last checkpoint; if the last milestone
    is already there, nothing is trained. `options`: device, seed (the same seed and inputs
    give the same adapter weights), Trainer overrides, response-only logits, callbacks.
    """
    from transformers import set_seed

    check_gradient_checkpointing(spec.method, cfg.gradient_checkpointing)
    ms = _check_milestones(spec.method, cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = milestone_checkpoints(out_dir, ms)
    if ms[-1] in done and (out_dir / TRAIN_LOG).exists():
        return TrainResult(read_train_log(out_dir), out_dir, done, skipped=True)
    if tokenizer is None:
        raise ValueError("tokenizer=None: pass the tokenizer that belongs to the model")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    seed = options.seed
    mixed = mix_training_pairs(pairs.natural, pairs.teacher, cfg.teacher_mix, seed)
    teacher_objs = {id(e) for e in pairs.teacher}
    n_teacher = sum(1 for p in mixed if id(p) in teacher_objs)
    requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}
    was_training = model.training
    set_seed(seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DEPRECATION_NOISE)
        run = _run_trainer(model, tokenizer, spec, mixed, out_dir, cfg, options)
    checkpoints = milestone_checkpoints(out_dir, ms)
    log = _train_log(run, spec, cfg, seed, ms, (len(mixed), n_teacher), checkpoints)
    if run.trainer.is_world_process_zero():
        write_train_log(out_dir, log)
    # Give the caller its model back unchanged; the trained adapter is in the checkpoints.
    if spec.method == "lora":
        run.peft_model.unload()
    for n, p in model.named_parameters():
        p.requires_grad_(requires_grad.get(n, p.requires_grad))
    model.train(was_training)
    return TrainResult(log, out_dir, checkpoints, skipped=False)


@dataclass
class _Run:
    """What one Trainer run leaves for its log."""

    trainer: Any
    peft_model: Any
    trainable: int
    total: int
    resumed_from: int | None
    runtime: float


def _run_trainer(
    model: Any,
    tokenizer: Any,
    spec: PeftSpec,
    mixed: list,
    out_dir: Path,
    cfg: TrainConfig,
    options: TrainOptions,
) -> _Run:
    """The adapter applied (P-Tuning v2's prefix started from the pairs' transcripts) and the
    Trainer run to the last milestone, resuming from the last checkpoint under `out_dir`."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    from ecc_utils.endmodel.load import count_parameters, resolve_device

    dataset = PairDataset(tokenizer, mixed, cfg.max_input_length, cfg.max_output_length,
                          vocabulary_of(model))  # fmt: skip
    dev = resolve_device(options.device) if options.device != "auto" else model.device.type
    use_bf16 = bf16_math(cfg.mixed_precision, next(model.parameters()).dtype, dev)
    args_kw = _training_arguments(out_dir, cfg, options.seed, dev, use_bf16)
    args_kw.update(options.training_args or {})
    init = transcript_ids(tokenizer, mixed, spec.num_virtual_tokens,
                          cfg.max_input_length, cfg.max_output_length)  # fmt: skip
    peft_model = apply_method(model, spec, init_ids=init)
    trainable, total = count_parameters(peft_model)
    logits_only = options.response_logits_only
    if logits_only is None:
        logits_only = accepts_logits_to_keep(model)
    trainer = _resumable_trainer(Trainer)(
        model=peft_model,
        args=TrainingArguments(**args_kw),
        train_dataset=dataset,
        data_collator=PadCollator(tokenizer.pad_token_id, cfg.pad_to_multiple_of, logits_only),
        callbacks=[_milestone_callback(_check_milestones(spec.method, cfg)), *options.callbacks],
    )
    _text_progress(trainer)
    last = get_last_checkpoint(str(out_dir)) if any(out_dir.glob("checkpoint-*")) else None
    resumed_from = int(Path(last).name.split("-")[-1]) if last else None
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    return _Run(trainer, peft_model, trainable, total, resumed_from, time.perf_counter() - t0)


def _train_log(
    run: _Run,
    spec: PeftSpec,
    cfg: TrainConfig,
    seed: int,
    ms: tuple[int, ...],
    counts: tuple[int, int],
    checkpoints: dict[int, Path],
) -> TrainLog:
    """The run's `TrainLog`: its loss history and what this execution trained at what speed;
    `counts` = (training pairs, of which teacher-labelled)."""
    state = run.trainer.state
    history = [
        {
            "step": h["step"],
            "loss": h["loss"],
            "learning_rate": h.get("learning_rate"),
            "tokens_seen": h.get("num_input_tokens_seen"),
            # The Trainer's running average since this execution started.
            "tokens_per_s": h.get("train_tokens_per_second"),
        }
        for h in state.log_history
        if "loss" in h
    ]
    steps_run = state.global_step - (run.resumed_from or 0)
    tokens_run = state.num_input_tokens_seen - _tokens_at(history, run.resumed_from)
    runtime = run.runtime
    return TrainLog(
        method=spec.method,
        label=spec.label,
        milestones=list(ms),
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        batch_size=cfg.batch_size,
        seed=seed,
        trainable_params=run.trainable,
        total_params=run.total,
        n_pairs=counts[0],
        n_teacher_pairs=counts[1],
        steps_per_s=steps_run / runtime if runtime > 0 else 0.0,
        tokens_per_s=tokens_run / runtime if runtime > 0 else 0.0,
        runtime_s=runtime,
        resumed_from=run.resumed_from,
        checkpoints={str(s): p.name for s, p in checkpoints.items()},
        history=history,
    )


def _tokens_at(history: list[dict], step: int | None) -> int:
    if not step:
        return 0
    seen = [h["tokens_seen"] or 0 for h in history if h["step"] <= step]
    return max(seen, default=0)
