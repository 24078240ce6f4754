"""The Table II prompt: the role description and N numbered example pairs, then the query."""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ecc_utils import privacy
from ecc_utils.records import Example

ROLE = {
    "en": (
        "Assuming that you are an e-commerce customer service agent who is able to answer the "
        "specialized knowledge in e-commerce, has good service consciousness, and is able to "
        "deal with the customer's request properly, you are asked to play the role of an "
        "e-commerce customer service agent in order to deal with the customers in the "
        "following. Here are some examples for your reference."
    ),
    # A faithful translation of the English text of Table II.
    "zh": (
        "假设你是一名电商客服，能够解答电商领域的专业知识，具有良好的服务意识，"
        "并且能够妥善处理顾客的请求。现在请你扮演电商客服的角色，接待下面的顾客。"
        "以下是一些示例，供你参考。"
    ),
}
# Table II numbers the examples ("Question No.i" / "Customer Service: Answer No.i").
QUESTION = {"en": "Question No.{i}: {q}", "zh": "问题{i}：{q}"}
ANSWER = {"en": "Customer Service: {a}", "zh": "客服：{a}"}
ANSWER_CUE = {"en": "Customer Service:", "zh": "客服："}


@dataclass(frozen=True)
class FewShotPrompt:
    """The Table II prompt: ``prefix`` (role + N masked examples) + ``suffix(query)``.

    The prefix is the same for every query; `render(query)` is exactly the text a backend
    receives (the query is expected to be masked already, `Teacher` does that).
    """

    language: str
    examples: tuple[tuple[str, str], ...]
    prefix: str

    @property
    def n_shots(self) -> int:
        return len(self.examples)

    @property
    def prefix_sha256(self) -> str:
        return hashlib.sha256(self.prefix.encode("utf-8")).hexdigest()

    def suffix(self, query: str) -> str:
        """The per-query tail: the next numbered question and the agent's cue."""
        q = QUESTION[self.language].format(i=self.n_shots + 1, q=query)
        return f"{q}\n{ANSWER_CUE[self.language]}"

    def render(self, query: str) -> str:
        return self.prefix + self.suffix(query)


def _pair(ex: Example | tuple[str, str] | Sequence[str]) -> tuple[str, str]:
    if isinstance(ex, Example):
        return ex.query, ex.response
    q, a = ex
    return str(q), str(a)


def build_prompt(
    fewshot: Sequence[Example | tuple[str, str]], n_shots: int, language: str = "zh"
) -> FewShotPrompt:
    """Build the Table II prompt from the first `n_shots` examples of the few-shot pool.

    Examples are `Example` records (their ``query`` and ``response``) or (question, answer)
    pairs; both sides pass `privacy.mask`. When the pool is smaller than `n_shots`, all of it
    is used and a warning says so. Raises ValueError for an unknown language or an empty pool.
    """
    if language not in ROLE:
        raise ValueError(f"language={language!r}: must be one of {sorted(ROLE)} (teacher.language)")
    if n_shots < 1:
        raise ValueError(f"n_shots={n_shots}: must be >= 1 (teacher.n_shots)")
    if not fewshot:
        raise ValueError(
            "the few-shot pool is empty: the Table II prompt needs example pairs "
            "(data/fewshot.jsonl, written by notebook 01)"
        )
    if len(fewshot) < n_shots:
        warnings.warn(
            f"teacher.n_shots={n_shots} but the few-shot pool holds {len(fewshot)} examples; "
            f"the prompt uses all {len(fewshot)} (raise data.n_fewshot for more)",
            stacklevel=2,
        )
    pairs = tuple(
        (privacy.mask(q), privacy.mask(a)) for q, a in (_pair(e) for e in fewshot[:n_shots])
    )
    blocks = [ROLE[language]]
    for i, (q, a) in enumerate(pairs, 1):
        blocks.append(QUESTION[language].format(i=i, q=q) + "\n" + ANSWER[language].format(a=a))
    prefix = "\n\n".join(blocks) + "\n\n"
    return FewShotPrompt(language=language, examples=pairs, prefix=prefix)


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Number of tokens in `text`.

    With `tokenizer` (a transformers tokenizer, anything with ``encode``, or a callable
    returning a list), its exact count without special tokens. Without one, an approximation
    documented here: one token per CJK character (ideograph or full-width punctuation) plus
    one per four other characters, rounded up (the usual rule of thumb for English with BPE
    vocabularies). It tends to overestimate Chinese for large-vocabulary models such as Gemini.
    """
    if tokenizer is not None:
        if callable(getattr(tokenizer, "encode", None)):
            try:
                return len(tokenizer.encode(text, add_special_tokens=False))
            except TypeError:  # e.g. tiktoken, which has no add_special_tokens
                return len(tokenizer.encode(text))
        return len(tokenizer(text))
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def context_text(texts: Sequence[str], turns: int) -> str:
    """The last `turns` turn texts, one line each ("" when `turns` is 0)."""
    return "\n".join(texts[-turns:]) if turns else ""
