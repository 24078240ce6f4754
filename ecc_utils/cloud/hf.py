"""A local transformers causal LM as the teacher, its few-shot prefix computed once."""

from __future__ import annotations

import copy
import hashlib
import time
from typing import TYPE_CHECKING, Any

from ecc_utils.cloud.base import Backend, Completion, clean_answer
from ecc_utils.cloud.errors import TeacherError
from ecc_utils.cloud.prompt import FewShotPrompt

if TYPE_CHECKING:
    from ecc_utils.config import TeacherConfig


class HFBackend(Backend):
    """A local transformers causal LM (hub id or path), sampled with the paper's settings.

    The few-shot prefix is run through the model once and its key/value cache is reused for
    every query (reported as cached tokens). Each query is sampled with a seed derived from
    `seed` and the query, so a label does not depend on the batch it was in.
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        cfg: TeacherConfig,
        *,
        seed: int = 0,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
    ):
        """`model` (hub id or path) sampled with the settings of profile section `teacher`."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.model = model
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self._tok = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self._lm = AutoModelForCausalLM.from_pretrained(
            model, dtype=torch_dtype, trust_remote_code=trust_remote_code
        ).to(device)
        self._lm.eval()
        self._device = device
        self._seed = seed
        sample = cfg.temperature > 0
        self._sampling = dict(
            max_new_tokens=cfg.max_output_tokens,
            do_sample=sample,
            temperature=cfg.temperature if sample else None,
            top_p=cfg.top_p if sample else None,
        )
        self._prefix_key: str | None = None
        self._prefix_ids: list[int] = []
        self._prefix_cache: Any = None

    def _split(self, prompt: FewShotPrompt, query: str) -> tuple[str, str]:
        """(the constant head incl. the few-shot prefix, the per-query rest) as model text."""
        text = prompt.render(query)
        if getattr(self._tok, "chat_template", None):
            text = self._tok.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
            )
            cut = text.find(prompt.prefix)
            if cut >= 0:
                cut += len(prompt.prefix)
                return text[:cut], text[cut:]
            return "", text
        return prompt.prefix, prompt.suffix(query)

    def _max_len(self) -> int | None:
        cfg = self._lm.config
        for name in ("max_position_embeddings", "n_positions", "seq_length"):
            if isinstance(getattr(cfg, name, None), int):
                return getattr(cfg, name)
        return None

    def complete(self, prompt: FewShotPrompt, query: str) -> Completion:
        torch = self._torch
        head, rest = self._split(prompt, query)
        special = not getattr(self._tok, "chat_template", None)
        if self._prefix_key != head:
            ids = self._tok(head, add_special_tokens=special)["input_ids"] if head else []
            self._prefix_ids, self._prefix_key, self._prefix_cache = list(ids), head, None
            if ids:
                with torch.no_grad():
                    out = self._lm(torch.tensor([ids], device=self._device), use_cache=True)
                self._prefix_cache = out.past_key_values
        rest_ids = self._tok(rest, add_special_tokens=special and not head)["input_ids"]
        ids = self._prefix_ids + list(rest_ids)
        limit = self._max_len()
        if limit is not None and len(ids) + self._sampling["max_new_tokens"] > limit:
            raise TeacherError(
                f"hf: the prompt is {len(ids)} tokens plus {self._sampling['max_new_tokens']} "
                f"new ones, over the {limit} positions of {self.model}; lower teacher.n_shots "
                "or teacher.max_output_tokens, or use a model with a longer context"
            )
        seed = int(hashlib.sha256(f"{self._seed}:{query}".encode()).hexdigest()[:8], 16)
        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {}
        if self._prefix_cache is not None:
            kwargs["past_key_values"] = copy.deepcopy(self._prefix_cache)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = self._lm.generate(
                torch.tensor([ids], device=self._device),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self._device),
                pad_token_id=(
                    self._tok.eos_token_id
                    if self._tok.pad_token_id is None
                    else self._tok.pad_token_id
                ),
                **self._sampling,
                **kwargs,
            )
        new = out[0, len(ids) :].tolist()
        text = self._tok.decode(new, skip_special_tokens=True)
        return Completion(
            answer=clean_answer(text, prompt.language),
            input_tokens=len(ids),
            output_tokens=len(new),
            cached_tokens=len(self._prefix_ids) if self._prefix_cache is not None else 0,
            latency_s=time.perf_counter() - t0,
        )
