"""Names the context leaves no doubt about, whatever the dictionary says of them.

The rules of `names` refuse a word that jieba's dictionary knows (高兴, 黄山) or lists as a
well-known person (李四光, 孙中山), since such a word in running text is seldom a customer's
name. Two contexts settle it:

1. right after a consignee or contact cue (`lexicon.CONSIGNEE_CUES`: 收货人, 收件人, 联系人,
   姓名 ...): 收货人：李四光, 收件人孙中山，地址... The name is the whole run of characters up
   to punctuation, a space, a placeholder or the text's end; where the text runs on without a
   break (收件人孙中山地址...), the analyser's name token there. What such a field often holds
   besides a name (收货人信息, 联系人电话, `lexicon.FIELD_WORDS`) stays;
2. at the head of a parcel label: a message that opens with one name-shaped word, then a phone
   number and an address (李四光 13812345678 北京市...): `privacy.name_address_spans` decides
   what a label is, `label_head` finds its name.
"""

from __future__ import annotations

from ecc_utils.privacy.lexicon import CONSIGNEE_CUES, FIELD_WORDS, TITLES
from ecc_utils.privacy.names import NAME_FLAGS, NOT_LAST, occurrences, surname_len
from ecc_utils.privacy.segment import Compact, chunks

__all__ = ["NAME_FLAGS", "consignee_names", "label_head", "shaped"]

_SEPARATORS = ":：,，是为"
# Characters that end a name rather than continue it, as in `names`, less the numerals and verbs
# that a given name may hold where the context says it is one.
_PARTICLES = set("的了吗呢啊吧呀哦哈嘛么我你您他她它们是在有要和跟给把被就都也还又很不没这那个")


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def shaped(word: str) -> bool:
    """`word` has a name's shape: a surname, then a given name of one or two characters, none
    of them a particle or pronoun (numerals may be: 张三, 李四光), that ends like no place
    (张江镇) and is no title; and it is no reduplication (张张)."""
    n = surname_len(word)
    if not n or not 1 <= len(word) - n <= 2 or len(set(word)) == 1:
        return False
    given = word[n:]
    return not (set(given) & _PARTICLES or given.endswith(NOT_LAST) or given in TITLES)


def _field_name(word: str) -> bool:
    return shaped(word) and word not in FIELD_WORDS and word[surname_len(word) :] not in FIELD_WORDS


def _run_end(c: Compact, i: int) -> int:
    """The end of the run of CJK characters from `i` (a space, punctuation or the end stops it)."""
    j = i + 1
    while j < len(c.text) and _cjk(c.text[j]) and not c.spaced_before(j):
        j += 1
    return j


def consignee_names(c: Compact) -> list[tuple[int, int]]:
    """Rule 1: the name after each consignee or contact cue in `c` (compact-text spans)."""
    found = []
    for cue, start in occurrences(c.text, CONSIGNEE_CUES):
        i = start + len(cue)
        while i < len(c.text) and c.text[i] in _SEPARATORS:
            i += 1
        if i >= len(c.text) or not surname_len(c.text[i : i + 2]):
            continue
        end = _run_end(c, i)
        if _field_name(c.text[i:end]):  # the whole run: 收货人：李四光
            found.append((i, end))
            continue
        token = next((t for t in c.tokens if t.start == i), None)
        if token is not None and token.flag in NAME_FLAGS and _field_name(token.word):
            found.append((token.start, token.end))  # 收件人孙中山地址...
    return found


def label_head(c: Compact) -> list[tuple[int, int]]:
    """Rule 2 on the text before a parcel label's phone number: the name it holds when that is
    all it holds (a surname typed apart included: 李 四光), besides punctuation."""
    runs = chunks(c)
    if not runs or len(runs) > 2 or any(ch.isalnum() and not _cjk(ch) for ch in c.text):
        return []
    s, e = runs[0][0], runs[-1][1]
    if len(runs) == 2 and surname_len(c.text[s : runs[0][1]]) != runs[0][1] - s:
        return []
    return [(s, e)] if 2 <= e - s <= 4 and shaped(c.text[s:e]) else []
