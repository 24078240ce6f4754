"""Text as the name and address finders see it: whitespace removed (ECD is word-segmented with
spaces, a customer may type 赵 丽华), tagged by jieba's part-of-speech analyser, with a map
back to the original characters."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

__all__ = ["Compact", "Token", "chunks", "common_word", "compact", "dictionary_tag", "tagger"]


@dataclass(frozen=True)
class Token:
    word: str
    flag: str  # jieba's tag: nr person name, ns place, n noun, v verb, m numeral, x other
    start: int  # in the compact text
    end: int


@dataclass(frozen=True)
class Compact:
    """`text` without whitespace; ``origin[i]`` is the index in the original text of compact
    character i."""

    text: str
    origin: tuple[int, ...]
    tokens: tuple[Token, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of compact characters ``start:end`` (inner spaces included)."""
        return self.origin[start], self.origin[end - 1] + 1

    def spaced_before(self, i: int) -> bool:
        """Whitespace of the original text stood right before compact character i (i > 0)."""
        return 0 < i < len(self.text) and self.origin[i] - self.origin[i - 1] > 1

    def gap_before(self, i: int) -> bool:
        """Whitespace, punctuation or the text's start comes right before compact character i."""
        return i == 0 or self.spaced_before(i) or not "\u4e00" <= self.text[i - 1] <= "\u9fff"

    def token_at(self, i: int) -> int:
        """The index of the token that holds compact character `i`."""
        for k, t in enumerate(self.tokens):
            if t.start <= i < t.end:
                return k
        raise IndexError(i)


@dataclass(frozen=True)
class _Pair:
    word: str
    flag: str


@functools.cache
def tagger():
    """A part-of-speech tagger with jieba's dictionary, loaded once per process.

    jieba's segmenter (with its HMM for new words such as names) splits the text; a dictionary
    word takes its dictionary tag, and only a new word goes through jieba's part-of-speech HMM
    (``jieba.posseg``), which is eight times slower than the segmenter on whole texts. Name
    and address recall on the data page's corpus are the same as with ``jieba.posseg`` on
    the whole text (bench/bench_mask.py measures the time).
    """
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    tags, freq = jieba.posseg.dt.word_tag_tab, jieba.dt.FREQ

    def tag(text: str) -> list[_Pair]:
        out = []
        for w in jieba.lcut(text):
            if freq.get(w, 0) > 0 or len(w) == 1:
                out.append(_Pair(w, tags.get(w, "x")))
            else:  # a new word: the part-of-speech HMM (nr for most new names)
                out += [_Pair(p.word, p.flag) for p in jieba.posseg.lcut(w)]
        return out

    return tag


def dictionary_tag(word: str) -> str | None:
    """The tag of `word` in jieba's dictionary (``nr`` for a known name), None when unknown."""
    import jieba.posseg

    tagger()
    if jieba.dt.FREQ.get(word, 0) <= 0:
        return None
    return jieba.posseg.dt.word_tag_tab.get(word, "x")


def common_word(word: str, min_freq: int = 20) -> bool:
    """`word` is in jieba's dictionary with a frequency of at least `min_freq`. The dictionary
    tags some everyday words as names (顾客, 师傅, 明白, 盖子 are ``nr``); a real name there is
    rare (陈晓明: 7)."""
    tagger()
    import jieba

    return jieba.dt.FREQ.get(word, 0) >= min_freq


def chunks(c: Compact) -> list[tuple[int, int, bool]]:
    """Runs of CJK characters in `c` as (start, end, spaced): `spaced` when whitespace, not
    punctuation or the text's start, comes right before the run."""
    out, start = [], None
    for i, ch in enumerate(c.text + "\n"):
        cjk = "\u4e00" <= ch <= "\u9fff"
        if start is not None and (not cjk or c.spaced_before(i)):
            spaced = c.spaced_before(start) and "\u4e00" <= c.text[start - 1] <= "\u9fff"
            out.append((start, i, spaced))
            start = None
        if cjk and start is None:
            start = i
    return out


def compact(text: str) -> Compact:
    """`text` without whitespace, tagged."""
    kept = [(i, c) for i, c in enumerate(text) if not c.isspace()]
    flat = "".join(c for _, c in kept)
    tokens, pos = [], 0
    for pair in tagger()(flat) if flat else []:
        tokens.append(Token(pair.word, pair.flag, pos, pos + len(pair.word)))
        pos += len(pair.word)
    return Compact(flat, tuple(i for i, _ in kept), tuple(tokens))
