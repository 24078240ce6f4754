"""The plain baselines each benchmark compares against: what a user writes with transformers
and PEFT alone, on the same models, inputs and settings as ours. Two of each:

- **fair** (what an experienced user writes; the README's ratios): training, `Trainer` on a
  `PeftModel` at ours' batch, transformers' length grouping, bf16 where ours uses it;
  generation, the adapter merged, the same dtype, `model.generate` on length-sorted,
  left-padded batches of ours' size with stop strings (`fair_generate`); encoding, the
  encoder's own batched call over the same list (`fair_encode`);
- **paper** (the paper's recipe, kept as "against the paper's recipe"): training at batch 1 in
  float32, random order; generation one prompt at a time, float32, adapter unmerged; encoding
  one text at a time, every time a text is needed.

Both train with logits over the whole vocabulary at every position and
`DataCollatorForSeq2Seq` padding, and answer with the model's full head.

The method's own settings (PEFT config, P-Tuning v2's starting prefix, the token ids of each
pair) are ours, so that any difference in loss or answers comes from the speed path alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecc_utils.endmodel.format import encode_example, encode_prompt, transcript_ids
from ecc_utils.endmodel.peft_methods import PeftSpec, apply_method
from ecc_utils.records import Example


@dataclass(frozen=True)
class PlainTrain:
    """Settings of one plain training run (the fields a user would pass to the Trainer)."""

    steps: int
    learning_rate: float
    batch_size: int = 1
    max_input_length: int = 64
    max_output_length: int = 64
    schedule_steps: int | None = None  # the linear schedule's length (default: `steps`)
    seed: int = 0
    bf16: bool = False
    group_by_length: bool = False  # transformers' length grouping (the fair baseline)

    @property
    def label(self) -> str:
        """Its settings in words, for the results' rows."""
        order = "length-grouped" if self.group_by_length else "random order"
        return f"Trainer + PEFT, batch {self.batch_size}, {order}, {'bf16' if self.bf16 else 'float32'}"


def plain_train(model, tokenizer, spec: PeftSpec, examples: Sequence[Example], cfg: PlainTrain,
                out_dir: str | Path, callbacks: Sequence[Any] = (),
                save_to: str | Path | None = None) -> list[dict]:  # fmt: skip
    """Train `spec` on `examples` with a plain Trainer; returns its log history. The trained
    adapter is saved to `save_to` when given; the base model is given back unchanged (LoRA
    layers unloaded)."""
    from transformers import (
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    class Stop(TrainerCallback):  # train `steps` of a schedule `schedule_steps` long
        def on_step_end(self, args, state, control, **kw):
            control.should_training_stop = state.global_step >= cfg.steps
            return control

    items = [
        encode_example(tokenizer, e, cfg.max_input_length, cfg.max_output_length) for e in examples
    ]
    init = transcript_ids(tokenizer, examples, spec.num_virtual_tokens, cfg.max_input_length,
                          cfg.max_output_length)  # fmt: skip
    set_seed(cfg.seed)  # the adapter's random start, as in ours
    peft_model = apply_method(model, spec, init_ids=init)
    use_cpu = next(model.parameters()).device.type == "cpu"
    args = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=cfg.schedule_steps or cfg.steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cfg.bf16,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        use_cpu=use_cpu,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=peft_model, args=args, train_dataset=items, data_collator=collator,
                      callbacks=[Stop(), *callbacks])  # fmt: skip
    side, tokenizer.padding_side = tokenizer.padding_side, "right"  # as training recipes do
    try:
        trainer.train()
    finally:
        tokenizer.padding_side = side
    history = [h for h in trainer.state.log_history if "loss" in h]
    if save_to is not None:
        peft_model.save_pretrained(str(save_to))
    if spec.method == "lora":
        peft_model.unload()
    for p in model.parameters():
        p.requires_grad_(False)
    return history


def plain_generate(model, tokenizer, inputs: Sequence[tuple[Sequence, str]], *,
                   max_new_tokens: int, max_input_length: int, do_sample: bool = False,
                   top_p: float = 1.0, temperature: float = 1.0, seed: int = 0) -> list[str]:  # fmt: skip
    """`model.generate` one (context, query) at a time, prompts built as ours; the answers.
    It stops where ours does, at EOS or the chat template's end of turn (the de-quantised
    Gemma's generation config names EOS alone, so the model card's end of turn is added)."""
    import torch

    from ecc_utils.endmodel.generate import stop_token_ids

    out = []
    for i, (context, query) in enumerate(inputs):
        ids = encode_prompt(tokenizer, list(context), query, max_input_length)
        x = torch.tensor([ids], device=next(model.parameters()).device)
        torch.manual_seed(seed + i)
        kw = dict(top_p=top_p, temperature=temperature) if do_sample else {}
        y = model.generate(input_ids=x, attention_mask=torch.ones_like(x),
                           max_new_tokens=max_new_tokens, do_sample=do_sample,
                           pad_token_id=tokenizer.pad_token_id,
                           eos_token_id=stop_token_ids(tokenizer, model), **kw)  # fmt: skip
        out.append(tokenizer.decode(y[0, x.shape[1] :], skip_special_tokens=True).strip())
    return out


def fair_generate(model, tokenizer, inputs: Sequence[tuple[Sequence, str]], sampling) -> list[str]:
    """`model.generate` as an experienced user calls it: prompts built as ours, sorted by
    length into left-padded batches of `sampling.batch_size`, top-p `sampling.top_p` at
    `sampling.temperature` (top_k off, as ours), stopping at EOS, the end of turn or (a plain
    transcript) the next turn's marker; sampling seeded per batch. The answers, in order."""
    import torch

    from ecc_utils.endmodel.generate import cut_at_next_turn, plain_turn_markers, stop_token_ids

    device = next(model.parameters()).device
    prompts = [encode_prompt(tokenizer, list(c), q, sampling.max_input_length) for c, q in inputs]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    markers = [] if getattr(tokenizer, "chat_template", None) else plain_turn_markers()
    kw: dict[str, Any] = dict(max_new_tokens=sampling.max_new_tokens, do_sample=sampling.do_sample,
                              pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=stop_token_ids(tokenizer, model))  # fmt: skip
    if sampling.do_sample:
        kw.update(top_p=sampling.top_p, temperature=sampling.temperature, top_k=0)
    if markers:
        kw.update(stop_strings=markers, tokenizer=tokenizer)
    out = [""] * len(prompts)
    for b, start in enumerate(range(0, len(order), sampling.batch_size)):
        rows = order[start : start + sampling.batch_size]
        n = max(len(prompts[i]) for i in rows)
        ids = torch.tensor([[tokenizer.pad_token_id] * (n - len(prompts[i])) + prompts[i]
                            for i in rows], device=device)  # fmt: skip
        mask = torch.tensor([[0] * (n - len(prompts[i])) + [1] * len(prompts[i]) for i in rows],
                            device=device)  # fmt: skip
        torch.manual_seed(sampling.seed + b)
        with torch.inference_mode():
            y = model.generate(input_ids=ids, attention_mask=mask, **kw)
        for i, row in zip(rows, y[:, n:], strict=True):
            text = tokenizer.decode(row, skip_special_tokens=True)
            out[i] = cut_at_next_turn(text, markers).strip()
    return out


def fair_encode(encode_batch, texts: Sequence[str]) -> Any:
    """The encoder's own batched call over the same list (repeats included, as given)."""
    return encode_batch(list(texts))


def plain_encode(encode_one, texts: Sequence[str]) -> list[Any]:
    """The encoder called once per text, in order (repeats encoded again)."""
    return [encode_one(t) for t in texts]
