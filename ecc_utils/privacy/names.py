"""Person names in a customer's message (masked as ``[姓名x]``).

A name is a surname of `lexicon.SURNAMES` followed by one or two given-name characters, found
in one of six ways, weakest evidence last:

1. jieba tags the word as a person name (``nr``): 陈晓明, 谢梁鑫;
2. a title follows: 王先生, 余建平经理 (the title stays: ``[姓名x]经理``);
3. a cue precedes: 收货人赵丽华, 我叫周建平, 寄给刘龙;
4. the analyser splits it into a surname and a given name, one of them tagged (王 / 秀英);
5. it stands on its own between spaces or punctuation and is no word of the dictionary
   (好的，高建国; 苏 婷婷);
6. inside running text, a surname that is rarely a word followed by characters of the given-name
   prior (`lexicon.GIVEN_CHARS`), when the result is no common word and cuts none (寄给马健票
   yes; 扣费明细, 儿童书, 师傅才 no);
7. at an edge of the message (`edge_names`): the name-shaped run right before a phone number,
   address or other contact placeholder (高军 [电话x] [地址x], as on a parcel label), a whole
   message that is one name (江雷坤), or a name signed at its end (那好吧 田东). Here the
   ambiguous surnames count too, when the given name is of the prior.

Brands named after a person (李宁, 张小泉; `lexicon.BRANDS`) are never names. Surnames that
are usually ordinary words (于, 和, 高 ...; `lexicon.AMBIGUOUS_SURNAMES`) need the analyser's
tag, a title or a cue.
"""

from __future__ import annotations

from ecc_utils.privacy.lexicon import (
    AMBIGUOUS_SURNAMES,
    BRANDS,
    COMPOUND_SURNAMES,
    FIELD_WORDS,
    GIVEN_CHARS,
    NAME_CUES,
    SURNAMES,
    TITLES,
    admin_names,
)
from ecc_utils.privacy.segment import Compact, chunks, common_word, dictionary_tag

__all__ = ["edge_names", "find_names"]

# Characters that end a name rather than continue it (particles, pronouns, verbs of a request).
_NOT_GIVEN = set(
    "的了吗呢啊吧呀哦哈嘛么我你您他她它们是在有要和跟给把被就都也还又很不没这那个"
    "号单件元天点到说问买发送寄收退换改查看请谢好对一二三四五六七八九十几"
)
# Characters that come before a title without being a surname (这位先生, 那位女士, 大老板).
_BEFORE_TITLE = set("位那这个大小老的该此各每某男女本贵令你您他她好和跟向与给对把被")
# A given name does not end like a place (张江镇, 李村) or a title.
NOT_LAST = ("省", "市", "区", "县", "镇", "乡", "村", "路", "街", "道", "楼", "店", "院", "园")
NAME_FLAGS = {"nr", "nrfg", "nrt"}


def surname_len(word: str) -> int:
    """The length of the surname `word` starts with (2 for a compound surname), else 0."""
    if word[:2] in COMPOUND_SURNAMES:
        return 2
    return 1 if word[:1] in SURNAMES else 0


def given_ok(given: str) -> bool:
    return (1 <= len(given) <= 2 and not any(c in _NOT_GIVEN for c in given)
            and not given.endswith(NOT_LAST) and given not in TITLES)  # fmt: skip


def _is_name(word: str, strict: bool) -> bool:
    """`word` reads as surname + given name; `strict` refuses the ambiguous surnames."""
    if word in BRANDS or not 2 <= len(word) <= 4 or word in admin_names() or common_word(word):
        return False
    if len(set(word)) == 1:  # 张张, 方方: a reduplicated word
        return False
    n = surname_len(word)
    if len(word) >= 3 and n == 1 and common_word(word[:2], 100):  # 牛肉干: a word, then more
        return False
    if not n or (strict and n == 1 and word[0] in AMBIGUOUS_SURNAMES):
        return False
    return given_ok(word[n:]) or (n == 2 and len(word) == 2)


def _tagged(c: Compact) -> list[tuple[int, int]]:
    found = []
    toks = c.tokens
    for k, t in enumerate(toks):
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        prev = toks[k - 1] if k else None
        if (
            t.flag in NAME_FLAGS
            and len(t.word) <= 2
            and prev
            and len(prev.word) == 1
            and (_is_name(prev.word + t.word, strict=True))
        ):  # 张 / 荣军: a given name the analyser tags, after a surname
            found.append((prev.start, t.end))
        elif (
            t.flag in NAME_FLAGS
            and _is_name(t.word, strict=False)
            and (
                surname_len(t.word) == 2
                or t.word[0] not in AMBIGUOUS_SURNAMES
                or set(t.word[1:]) <= GIVEN_CHARS  # 高敏, not 白茶
            )
        ):
            found.append((t.start, t.end))
        elif t.flag in NAME_FLAGS and t.word.endswith(TITLES):  # 王先生: the title stays
            title = next(x for x in TITLES if t.word.endswith(x))
            word = t.word[: -len(title)]
            if _is_name(word, strict=False) or (surname_len(word) == 1 and len(word) == 1
                                                and word not in AMBIGUOUS_SURNAMES):  # fmt: skip
                found.append((t.start, t.start + len(word)))
        elif t.flag in NAME_FLAGS and len(t.word) == 1 and surname_len(t.word) and nxt:
            # 周 / 建平: a surname the analyser tags, then a short given name
            if nxt.flag in {"nr", "n", "ng", "nz", "a", "j"} and _is_name(t.word + nxt.word, True):
                found.append((t.start, nxt.end))
    return found


def occurrences(text: str, words: tuple[str, ...]) -> list[tuple[str, int]]:
    """Every (word, position) of `words` in `text`, overlaps included."""
    found = []
    for word in words:
        p = text.find(word)
        while p >= 0:
            found.append((word, p))
            p = text.find(word, p + 1)
    return found


def _titled(c: Compact) -> list[tuple[int, int]]:
    found = []
    for _, p in occurrences(c.text, TITLES):
        for k in (4, 3, 2, 1):  # the longest name that ends right before the title
            word, s = c.text[max(0, p - k) : p], p - k
            if len(word) < k or not (
                _fits(c, s, p)
                or k >= 3
                and _is_name(word, True)
                or k == 3
                and _is_name(word, False)
                and set(word[1:]) <= GIVEN_CHARS
            ):  # 改金建平小姐
                continue
            single = len(word) == 1 and surname_len(word) == 1
            if (single and word not in _BEFORE_TITLE and word not in BRANDS) or (
                len(word) > 1 and _is_name(word, strict=False)
            ):
                found.append((s, p))
                break
    return found


def _cued(c: Compact) -> list[tuple[int, int]]:
    found = []
    for cue, start in occurrences(c.text, NAME_CUES):
        i = start + len(cue)
        while i < len(c.text) and c.text[i] in ":：,，是为":
            i += 1
        for n in (4, 3, 2):  # the longest candidate that reads as a name
            word = c.text[i : i + n]
            if (
                len(word) == n
                and _is_name(word, strict=False)
                and word[surname_len(word) :] not in FIELD_WORDS  # 收件人和电话: no name
                and _fits(c, i + n, i + n)  # the cue may share a word with the name
                and (not _one_word(c, i, i + n))
            ):
                found.append((i, i + n))
                break
    return found


def _fits(c: Compact, start: int, end: int) -> bool:
    """The candidate does not cut a word of the analyser in two (寄给周建平 yes; 我是高兴的 no:
    高兴 is one word), unless that word is itself tagged as a name."""
    return all(
        t.flag in NAME_FLAGS
        or not (t.start < start < t.end and not c.gap_before(start) or t.start < end < t.end)
        for t in c.tokens
    )


def _standalone(c: Compact) -> list[tuple[int, int]]:
    """A run of characters on its own (between spaces or punctuation) that reads as a name and
    is no word of the dictionary: 好的，高建国 / 赵桂兰; and 苏 婷婷, a surname typed apart."""
    found = []
    runs = chunks(c)
    for k, (s, e, _) in enumerate(runs):
        word = c.text[s:e]
        tag = dictionary_tag(word)
        # A dictionary word may be a name the dictionary lists as a place (高建国 ns).
        known_name = tag in NAME_FLAGS or tag == "ns" and word not in admin_names()
        if (
            2 <= len(word) <= 4
            and (tag is None or known_name)
            and (_is_name(word, True) or _is_name(word, False) and set(word[1:]) <= GIVEN_CHARS)
        ):
            found.append((s, e))
        elif (len(word) == 1 or word in COMPOUND_SURNAMES) and k + 1 < len(runs):
            s2, e2, spaced = runs[k + 1]
            given = c.text[s2:e2]
            if word in AMBIGUOUS_SURNAMES and not set(given) <= GIVEN_CHARS:
                continue
            if spaced and s2 == e and given_ok(given) and surname_len(word):
                if not _word_not_name(word + given):
                    found.append((s, e2))
    return found


def _one_word(c: Compact, start: int, end: int) -> bool:
    """`start:end` is exactly one word of the analyser's dictionary that is not a name (高兴)."""
    return any(t.start == start and t.end == end and t.flag not in NAME_FLAGS for t in c.tokens)


def _word_not_name(word: str) -> bool:
    """`word` is a dictionary word that is no name: the analyser's tag says so, or the word is
    too frequent to be one (齐全 and 师傅 are tagged ``nr``)."""
    return common_word(word) and (dictionary_tag(word) not in NAME_FLAGS or common_word(word, 500))


_NICKNAME = ("小", "老")  # before a surname: 小张, 老王


def _cuts_word(c: Compact, start: int, end: int) -> bool:
    """`start:end` cuts a common word of the analyser that is no name in two (扣费|明细), or
    forms a common word with the character on either side (儿童|书); 小 and 老 before a surname
    make a nickname (小张), not a word."""
    t = c.text
    if start and common_word(t[start - 1 : start + 1], 50) and t[start - 1] not in _NICKNAME:
        return True
    if end < len(t) and common_word(t[end - 1 : end + 1], 50):
        return True
    return any(
        (tok.start < start < tok.end or tok.start < end < tok.end)
        and _word_not_name(tok.word)
        and not (tok.end == start + 1 and tok.word[:-1] in _NICKNAME)
        for tok in c.tokens
    )


_FUNCTION_FLAGS = {"v", "m", "q", "p", "c", "d", "u", "uj", "r"}


def _function_word_in(c: Compact, start: int, end: int) -> bool:
    """The analyser reads a verb, numeral, measure word or particle inside `start:end`."""
    return any(start <= t.start < end and t.flag in _FUNCTION_FLAGS for t in c.tokens)


def _scanned(c: Compact) -> list[tuple[int, int]]:
    """Surname + one or two characters of the given-name prior inside running text."""
    found = []
    for i, ch in enumerate(c.text):
        if ch not in SURNAMES:
            continue
        # a surname that is often a word (高, 方) only with two given characters: 高秀英
        for n in (3,) if ch in AMBIGUOUS_SURNAMES else (3, 2):
            word = c.text[i : i + n]
            if (
                len(word) < n
                or not set(word[1:]) <= GIVEN_CHARS
                or not given_ok(word[1:])
                or word in BRANDS
                or word in admin_names()
                or _word_not_name(word)
                or n == 3
                and (common_word(word[:2], 100) or common_word(word[1:], 500))
                or c.text[i + n : i + n + 1] in NOT_LAST  # 张江镇: a place, not a name
                or ch in AMBIGUOUS_SURNAMES
                and _function_word_in(c, i, i + n)  # 包|年|云
                or _cuts_word(c, i, i + n)
            ):
                continue
            found.append((i, i + n))
            break
    return found


def _spaced(c: Compact) -> list[tuple[int, int]]:
    """A surname typed apart from its given name: 李 鹏, 粘廖 建国 想, 立马 建平的. The given name
    is one or two characters of the prior and no common word that is not a name."""
    found = []
    t = c.text
    for i in range(len(t) - 1):
        if not (c.spaced_before(i + 1) and t[i] in SURNAMES):
            continue
        for n in (2, 1):
            given = t[i + 1 : i + 1 + n]
            if (
                len(given) == n
                and not (n == 2 and c.spaced_before(i + 2))
                and set(given) <= GIVEN_CHARS
                and given_ok(given)
                and not (_word_not_name(given) and not _whole_given(c, i + 1, n))
                and not _word_not_name(t[i] + given)
                and not (i + 1 + n < len(t) and not c.gap_before(i + 1 + n)
                         and common_word(t[i + n : i + n + 2], 50))
            ):  # fmt: skip
                found.append((i, i + 1 + n))
                break
    return found


def _whole_given(c: Compact, start: int, n: int) -> bool:
    """Two given-name characters typed as a run of their own after a surname typed apart (廖 建国
    想换): a given name even where the dictionary knows the word (建国, a place), unless the word
    is an everyday one (张 开心 stays)."""
    end = start + n
    if n != 2 or common_word(c.text[start:end], 5000):
        return False
    return end == len(c.text) or c.gap_before(end)


def _with_surname_before(c: Compact, start: int, end: int) -> tuple[int, int]:
    """A two-character name of given-name characters after a surname that forms no word with it
    is the given name of that surname (时 桂香, 长高桂英了: 桂香 and 桂英 read as names too)."""
    t = c.text
    if (
        end - start == 2
        and start
        and t[start - 1] in SURNAMES
        and set(t[start:end]) <= GIVEN_CHARS
        and not common_word(t[start - 1 : start + 1])
    ):
        return start - 1, end
    return start, end


def _chained(c: Compact, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Names listed one after another (收件人刘秀华李鹏秀, 张小姐萧建国): right after a found name,
    or after the title that follows it, a surname and one or two given-name characters of the
    prior that form no everyday word are a name too."""
    found: list[tuple[int, int]] = []
    ends = sorted({e for _, e in spans})
    while ends:
        p = ends.pop(0)
        p += next((len(x) for x in TITLES if c.text.startswith(x, p)), 0)
        for n in (3, 2):
            word = c.text[p : p + n]
            k = surname_len(word)
            if (len(word) == n and k and len(word) > k and set(word[k:]) <= GIVEN_CHARS
                    and _is_name(word, strict=False)):  # fmt: skip
                found.append((p, p + n))
                ends.append(p + n)
                break
    return found


def find_names(
    c: Compact, *, before_contact: bool = False, at_end: bool = True
) -> list[tuple[int, int]]:
    """The name spans (compact-text indices) in `c`, merged, in order. `before_contact` and
    `at_end` say where `c` stands in its message (`edge_names`); the defaults read `c` as a
    whole message."""
    spans = sorted(_tagged(c) + _titled(c) + _cued(c) + _standalone(c) + _scanned(c) + _spaced(c)
                   + edge_names(c, before_contact=before_contact, at_end=at_end))  # fmt: skip
    spans = sorted(spans + _chained(c, spans))
    merged: list[tuple[int, int]] = []
    for s, e in (_with_surname_before(c, *span) for span in spans):
        if merged and s < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _edge_ok(word: str) -> bool:
    """`word`, standing at an edge of a message, reads as a name: a surname, then a given name
    (for an ambiguous surname, of the prior when there is one given character: 高军, not 方便),
    and no everyday word (a dictionary word that is no name and not rare, or any very frequent
    one: 王者, 明白); a place only when the dictionary also knows it as a name (田东)."""
    n = surname_len(word)
    if not n or not 2 <= len(word) <= 4 or word in BRANDS or len(set(word)) == 1:
        return False
    if not (given_ok(word[n:]) or n == 2 and len(word) == 2):
        return False
    if n == 1 and len(word) == 2 and word[0] in AMBIGUOUS_SURNAMES and word[1] not in GIVEN_CHARS:
        return False
    tag = dictionary_tag(word)
    if word in admin_names() and tag not in NAME_FLAGS:
        return False
    named = tag in NAME_FLAGS
    return not (common_word(word, 1000) or common_word(word, 100) and not named)


def _edge_word(c: Compact, runs: list[tuple[int, int, bool]]) -> tuple[int, int] | None:
    """The compact span of the name-shaped word that the last one or two `runs` form (李 鹏:
    a surname typed apart is joined to its given name), when it reads as a name."""
    s, e, _ = runs[-1]
    if len(runs) >= 2:
        s0, e0, _ = runs[-2]
        if e0 == s and c.spaced_before(s) and surname_len(c.text[s0:e0]) == e0 - s0:
            s = s0
    return (s, e) if _edge_ok(c.text[s:e]) else None


def edge_names(c: Compact, *, before_contact: bool, at_end: bool) -> list[tuple[int, int]]:
    """Rule 7 on one piece of a message (the text between two placeholders). `before_contact`:
    a phone, address or other contact placeholder follows the piece; `at_end`: the piece ends
    the message. The candidate is the piece's last word, set apart from what precedes it by a
    space, punctuation or the piece's start, and followed by nothing but punctuation."""
    runs = chunks(c)
    if not runs or not (before_contact or at_end):
        return []
    s, e, _ = runs[-1]
    rest = c.text[e:]
    if any("\u4e00" <= ch <= "\u9fff" or ch.isalnum() for ch in rest):
        return []
    if not before_contact and (
        "?" in rest or "？" in rest
    ):  # 哪个店的哦 金福来?: a thing asked about
        return []
    found = _edge_word(c, runs)
    if found is None or not c.gap_before(found[0]):
        return []
    return [found]
