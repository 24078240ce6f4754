"""The prompt format shared by training and generation, and the token ids of one pair.

- Prompt: the model's chat template when it has one, else a plain ``Customer:``/``Agent:``
  transcript; context turns become the conversation history, the query the last user turn.
- Input truncated from the left by whole turns (the latest turns are kept), output from the
  right; labels are -100 on the prompt, so the loss is on response tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence

from ecc_utils.records import Example, Turn

IGNORE_INDEX = -100
PLAIN_ROLES = {"user": "Customer", "assistant": "Agent"}


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


def transcript_ids(
    tokenizer,
    examples: Sequence[Example],
    n_tokens: int,
    max_input_length: int,
    max_output_length: int,
) -> list[int]:
    """At least `n_tokens` token ids (if the examples have them) of whole training
    conversations, one after another as in training, with one leading start token: the text
    that P-Tuning v2's prefix is initialised from."""
    ids: list[int] = []
    bos = _plain_bos(tokenizer) or [tokenizer.bos_token_id]
    for e in examples:
        x = encode_example(tokenizer, e, max_input_length, max_output_length)["input_ids"]
        ids += x[1:] if ids and x[:1] == bos else x
        if len(ids) >= n_tokens:
            break
    return ids
