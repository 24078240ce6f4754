"""The end model's vocabulary, trimmed to what a profile's texts use (plus byte fallback).

A small end model spends most of its arithmetic on the output head: Gemma 3 270M has 262,144
vocabulary rows of 640 numbers (168M of its 268M parameters), and every generated or scored
token multiplies its hidden state by all of them, while the quick profile's texts use about
6,500 distinct tokens. `Vocabulary` is the set of token ids the head keeps: every token of the
profile's texts as the format encodes them (`endmodel.format`), the tokenizer's special tokens
and the 256 byte tokens, so that any text can still be encoded as a target (`fit` spells a
token outside the set in bytes). The input embeddings stay whole: any prompt is read as before.

The vocabulary is applied alike to every model compared (the original one too); the
Deviations page says what it changes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ecc_utils.endmodel.format import encode_prompt, encode_response
from ecc_utils.records import Example, atomic_write_text

if TYPE_CHECKING:
    from ecc_utils.artifacts import Artifacts

_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
FORMAT_VERSION = 1


@functools.cache
def _byte_level_table() -> dict[str, int]:
    """GPT-2's byte-level alphabet (as the `tokenizers` ByteLevel pre-tokenizer): printable
    bytes stand for themselves, the others for the characters from U+0100 on, in order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def byte_tokens(tokenizer: Any) -> list[int]:
    """The 256 token ids that spell single bytes (index = byte value): SentencePiece's
    ``<0xNN>`` pieces (Gemma, ChatGLM) or a byte-level BPE's alphabet (SmolLM2, GPT-2).
    Raises ValueError for a tokenizer with neither (it cannot spell every text)."""
    unk = tokenizer.unk_token_id
    spm = tokenizer.convert_tokens_to_ids([f"<0x{b:02X}>" for b in range(256)])
    if all(i is not None and i != unk for i in spm):
        return list(spm)
    table = {b: ch for ch, b in _byte_level_table().items()}
    level = tokenizer.convert_tokens_to_ids([table[b] for b in range(256)])
    if all(i is not None and i != unk for i in level):
        return list(level)
    raise ValueError(
        f"end_model.trim_vocabulary: tokenizer {type(tokenizer).__name__} has no byte tokens "
        "(neither <0xNN> pieces nor a byte-level alphabet), so a trimmed head could not spell "
        "every text; set end_model.trim_vocabulary: false"
    )


def _token_bytes(tokenizer: Any, token_id: int, byte_level: bool) -> bytes:
    piece = tokenizer.convert_ids_to_tokens(token_id)
    m = _BYTE_PIECE.match(piece)
    if m:
        return bytes([int(m.group(1), 16)])
    if byte_level:
        table = _byte_level_table()
        return bytes(table[ch] for ch in piece)
    return piece.replace("\u2581", " ").encode("utf-8")


@dataclass(frozen=True)
class Vocabulary:
    """Token ids a trimmed head keeps (sorted), with the byte tokens among them."""

    kept: tuple[int, ...]
    byte_ids: tuple[int, ...]
    byte_level: bool
    full_size: int

    def __post_init__(self) -> None:
        if len(self.byte_ids) != 256 or not set(self.byte_ids) <= set(self.kept):
            raise ValueError("a Vocabulary keeps all 256 byte tokens")

    @property
    def size(self) -> int:
        return len(self.kept)

    @cached_property
    def _position(self) -> dict[int, int]:
        return {t: i for i, t in enumerate(self.kept)}

    def positions(self, ids: Sequence[int]) -> list[int]:
        """The logit columns of kept token `ids` under a head trimmed to this vocabulary."""
        return [self._position[i] for i in ids]

    def fit(self, tokenizer: Any, ids: Sequence[int]) -> list[int]:
        """`ids` with every token outside the vocabulary spelled in byte tokens (the same
        text, so a trimmed head can score or learn it)."""
        out: list[int] = []
        for i in ids:
            if i in self._position:
                out.append(i)
            else:
                out += [self.byte_ids[b] for b in _token_bytes(tokenizer, i, self.byte_level)]
        return out

    def to_json(self) -> dict:
        return {"kept": list(self.kept), "byte_ids": list(self.byte_ids),
                "byte_level": self.byte_level, "full_size": self.full_size}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict) -> Vocabulary:
        return cls(tuple(d["kept"]), tuple(d["byte_ids"]), bool(d["byte_level"]),
                   int(d["full_size"]))  # fmt: skip


def _is_byte_level(tokenizer: Any, byte_ids: Sequence[int]) -> bool:
    return not _BYTE_PIECE.match(tokenizer.convert_ids_to_tokens(byte_ids[0x41]) or "")


def build_vocabulary(
    tokenizer: Any, examples: Iterable[Example], max_input_length: int
) -> Vocabulary:
    """The tokens of `examples` as training and scoring encode them (prompt and response,
    end-of-turn included), the special tokens and the byte tokens."""
    byte_ids = byte_tokens(tokenizer)
    kept: set[int] = set(byte_ids) | set(tokenizer.all_special_ids)
    eos = tokenizer.eos_token_id
    kept |= {eos} if isinstance(eos, int) else set(eos or ())
    for e in examples:
        kept.update(encode_prompt(tokenizer, e.context, e.query, max_input_length))
        kept.update(encode_response(tokenizer, e.context, e.query, e.response))
    kept.discard(None)  # type: ignore[arg-type]
    return Vocabulary(tuple(sorted(kept)), tuple(byte_ids),
                      _is_byte_level(tokenizer, byte_ids), len(tokenizer))  # fmt: skip


def _profile_examples(art: Artifacts) -> list[Example]:
    """Every pair the profile holds: its data splits, the teacher's answers (as responses) and
    the ranking candidates (each as a reply to its query)."""
    from ecc_utils.artifacts import SPLITS
    from ecc_utils.records import iter_jsonl

    out: list[Example] = []
    for name in SPLITS:
        if art.split(name).is_file():
            out += art.read_split(name)
    if art.labels.is_file():
        out += [Example(id=r.id, source="teacher", context=[], query=r.query, response=r.answer)
                for r in art.read_labels() if r.answer]  # fmt: skip
    if art.candidates.is_file():
        by_id = {e.id: e for e in out}
        for row in iter_jsonl(art.candidates):
            e = by_id.get(row["id"])
            out += [Example(id=row["id"], source="candidate", context=e.context if e else [],
                            query=e.query if e else "", response=str(c))
                    for c in row["candidates"]]  # fmt: skip
    return out


def _digest(art: Artifacts, tokenizer: Any, max_input_length: int) -> str:
    from ecc_utils.artifacts import SPLITS

    h = hashlib.sha256(f"{FORMAT_VERSION}|{tokenizer.name_or_path}|{len(tokenizer)}|"
                       f"{max_input_length}".encode())  # fmt: skip
    for path in [art.split(n) for n in SPLITS] + [art.labels, art.candidates]:
        h.update(path.name.encode() + (path.read_bytes() if path.is_file() else b"-"))
    return h.hexdigest()


def profile_vocabulary(art: Artifacts, tokenizer: Any, max_input_length: int) -> Vocabulary:
    """The vocabulary of the profile whose artifacts are `art`: a function of its data splits,
    candidates and teacher labels, cached at `Artifacts.vocabulary` under a digest of those
    files and the tokenizer (rebuilt when either changed)."""
    path = art.vocabulary
    key = _digest(art, tokenizer, max_input_length)
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("digest") == key:
            return Vocabulary.from_json(stored)
    examples = _profile_examples(art)
    if not examples:
        raise FileNotFoundError(
            f"end_model.trim_vocabulary: no texts under {art.data_dir} to take the vocabulary "
            "from; run notebook 01_data for this profile first"
        )
    vocab = build_vocabulary(tokenizer, examples, max_input_length)
    atomic_write_text(path, json.dumps({"digest": key, "n_texts": len(examples),
                                        **vocab.to_json()}))  # fmt: skip
    return vocab
