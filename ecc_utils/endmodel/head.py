"""An output head restricted to a `Vocabulary`: logits for the kept tokens only.

`trim_head(model, vocab)` replaces a causal LM's output layer by a `TrimmedHead` holding a copy
of the kept rows. The model's logits then have one column per kept token, in the order of
``head.ids``: a column index is a *position*, not a token id. The three places that read
logits translate: decoding maps the picked position back to its token id (`to_ids`), the reply
likelihood and the training labels map token ids to positions (`to_positions`). Softmax over
the kept columns is the full model's distribution conditioned on the next token being kept.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ecc_utils.endmodel.vocab import Vocabulary

_HEAD_NAMES = ("lm_head", "output", "embed_out")


class TrimmedHead(nn.Module):
    """A bias-free linear layer over the kept rows of a full output head.

    The rows are a parameter (so that `ready_for_inference` can give them ``requires_grad``,
    which torch's fast bfloat16 CPU path needs) stored as `rows`, not `weight`, so that
    transformers' weight tying never mistakes it for the full head."""

    def __init__(self, full_weight: Any, vocab: Vocabulary) -> None:
        super().__init__()
        ids = torch.tensor(vocab.kept, dtype=torch.long, device=full_weight.device)
        self.rows = nn.Parameter(full_weight.detach()[ids].clone(), requires_grad=False)
        position = torch.full((full_weight.shape[0],), -1, dtype=torch.long, device=ids.device)
        position[ids] = torch.arange(len(ids), device=ids.device)
        self.register_buffer("ids", ids, persistent=False)
        self.register_buffer("position", position, persistent=False)
        self.full_size = int(full_weight.shape[0])
        self.vocab = vocab

    def forward(self, hidden: Any) -> Any:
        return nn.functional.linear(hidden, self.rows)

    def extra_repr(self) -> str:
        return f"kept={self.rows.shape[0]} of {self.full_size}, hidden={self.rows.shape[1]}"


def _owner_and_name(model: Any) -> tuple[Any, str]:
    head = model.get_output_embeddings()
    for name in _HEAD_NAMES:
        if getattr(model, name, None) is head:
            return model, name
    raise ValueError(f"cannot find the output head of {type(model).__name__}")


def trim_head(model: Any, vocab: Vocabulary) -> Any:
    """`model` (a transformers causal LM, not yet wrapped by PEFT) with its output head
    restricted to `vocab`, in place. Its loss then counts `vocab.size` classes."""
    full = model.get_output_embeddings()
    if isinstance(full, TrimmedHead):
        raise ValueError("the model's head is already trimmed")
    if full.weight.shape[0] != vocab.full_size:
        raise ValueError(
            f"end_model.trim_vocabulary: the vocabulary was built for {vocab.full_size} tokens, "
            f"the model's head has {full.weight.shape[0]}; delete vocabulary.json and rerun"
        )
    owner, name = _owner_and_name(model)
    setattr(owner, name, TrimmedHead(full.weight, vocab))
    # The loss counts the kept classes. The config keeps the full size: PEFT compares it with
    # the base model's to decide whether the embeddings were resized, and would then save
    # them (670 MB for Gemma 3) with every adapter.
    model.loss_function = TrimmedLoss(model.loss_function, vocab.size)
    return model


class TrimmedLoss:
    """A causal-LM loss function (transformers' ``loss_function``) over `size` classes,
    whatever vocabulary size the model passes (Gemma 3 passes its attribute, Llama its
    config's)."""

    def __init__(self, loss: Any, size: int) -> None:
        self.loss, self.size = loss, size

    def __call__(self, logits: Any, labels: Any, vocab_size: int | None = None, **kwargs: Any):
        return self.loss(logits=logits, labels=labels, vocab_size=self.size, **kwargs)


def trimmed_head(model: Any) -> TrimmedHead | None:
    """The model's `TrimmedHead` (through PEFT wrappers), or None for a full head."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if get is not None else None
    return head if isinstance(head, TrimmedHead) else None


def vocabulary_of(model: Any) -> Vocabulary | None:
    """The `Vocabulary` of the model's trimmed head, or None for a full head."""
    head = trimmed_head(model)
    return head.vocab if head is not None else None


def to_positions(head: Any, ids: Any) -> Any:
    """Logit columns of token `ids` (a tensor) under output layer `head`: the ids themselves
    for a full head; raises if one is not kept by a trimmed head (`Vocabulary.fit` first)."""
    if not isinstance(head, TrimmedHead):
        return ids
    pos = head.position[ids]
    if bool((pos < 0).any()):
        missing = ids[pos < 0].unique()[:5].tolist()
        raise ValueError(f"token ids {missing} are outside the trimmed vocabulary; "
                         "spell them with Vocabulary.fit")  # fmt: skip
    return pos


def to_ids(head: Any, positions: Any) -> Any:
    """Token ids of logit columns `positions` under output layer `head`."""
    return head.ids[positions] if isinstance(head, TrimmedHead) else positions
