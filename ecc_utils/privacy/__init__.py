"""PII masking before anything leaves the device (the paper's end-cloud privacy boundary).

`mask(text)` replaces personal data with the typed placeholders that the JDDC corpus already
uses (its chat log was anonymised by JD with ``[订单x] [数字x] [金额x] [地址x] [姓名x] [电话x]
[邮箱x] [身份证号x] [链接x]`` ...), so masked ECD text, masked user input and JDDC text look
alike to both models. First the pattern rules of `patterns` (e-mail, URL, ID-card, bank-card,
phone and order numbers), then, on what remains between placeholders:

* street addresses (`addresses`): ``[地址x]``, down to road, number, estate, building, unit
  and room; a province, city or district alone stays (发广州几天能到);
* person names (`names`): ``[姓名x]``, with or without a title (王先生 -> ``[姓名x]先生``),
  in spaced or unspaced text; brands named after a person (李宁, 张小泉) stay.

Prices, dates, quantities, sizes and short numbers are not PII and stay. Existing placeholders
are kept as they are and `mask` is idempotent: ``mask(mask(x)) == mask(x)``.
`privacy.corpus` measures the name and address recall and the over-masking on real JDDC turns.
"""

from __future__ import annotations

import functools

from ecc_utils.privacy.addresses import find_addresses
from ecc_utils.privacy.fields import consignee_names, label_head
from ecc_utils.privacy.lexicon import SURNAMES
from ecc_utils.privacy.names import find_names
from ecc_utils.privacy.patterns import (
    PLACEHOLDER_RE,
    PLACEHOLDERS,
    pattern_spans,
)
from ecc_utils.privacy.segment import compact

__all__ = ["PLACEHOLDERS", "PLACEHOLDER_RE", "find_pii", "mask", "mask_spans",
           "name_address_spans"]  # fmt: skip

NAME, ADDRESS = "[姓名x]", "[地址x]"
# Placeholders after which a name on its own is contact data (a parcel label: 高军 [电话x]).
# (Not a name placeholder: 麻烦让[姓名x] must stay as it is, so that masking is idempotent.)
CONTACT = frozenset({"[电话x]", "[地址x]", "[数字x]", "[邮箱x]", "[身份证号x]"})


def name_address_spans(text: str) -> list[tuple[int, int, str]]:
    """The (start, end, placeholder) spans of names and addresses in `text`, found between its
    placeholders; an address wins over a name it overlaps."""
    bounds = [(m.start(), m.end()) for m in PLACEHOLDER_RE.finditer(text)] + [(len(text),) * 2]
    pieces, pos = [], 0  # (start, the piece compacted, the placeholder after it)
    for ph_start, ph_end in bounds:
        if text[pos:ph_start].strip():
            pieces.append((pos, compact(text[pos:ph_start]), text[ph_start:ph_end]))
        pos = ph_end
    addresses = [find_addresses(c) for _, c, _ in pieces]
    spans: list[tuple[int, int, str]] = []
    for k, (start, c, after) in enumerate(pieces):
        found = [(*c.span(s, e), ADDRESS) for s, e in addresses[k]]
        names = find_names(c, before_contact=after in CONTACT, at_end=after == "")
        names += consignee_names(c)
        if k == 0 and start == 0 and _heads_label(text, pieces, addresses):
            names += label_head(c)
        for s, e in _merged(names):
            for a_start, a_end in addresses[k]:  # a name next to an address keeps its own part
                if s < a_end and a_start < e:
                    s, e = (a_end, e) if e > a_end else (s, a_start)
            if e - s >= 2 or e > s and c.text[s] in SURNAMES:
                found.append((*c.span(s, e), NAME))
        spans += [(start + s, start + e, ph) for s, e, ph in found]
    return sorted(spans)


def _heads_label(text: str, pieces: list, addresses: list) -> bool:
    """The message's first piece is followed by a phone number, and an address comes after it:
    a parcel label (李四光 13812345678 北京市...), whose head is the consignee's name."""
    if pieces[0][2] != "[电话x]":
        return False
    after_phone = text.index("[电话x]", pieces[0][0])
    return ADDRESS in text[after_phone:] or any(
        addresses[k] for k, (start, _, _) in enumerate(pieces) if start > after_phone
    )


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans joined (a rule's half name inside another's whole one: 孙中 and 孙中山)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def mask_spans(text: str) -> list[tuple[int, int, str]]:
    """The (start, end, placeholder) spans of `text` that `mask` replaces, in order: the
    pattern rules' first, then names and addresses found in the text between them."""
    spans = pattern_spans(text)
    # The text as the name and address finders see it: pattern spans already placeholders.
    parts, origin, pos = [], [], 0
    for s, e, ph in spans:
        parts += [text[pos:s], ph]
        origin += list(range(pos, s)) + [s] * len(ph)
        pos = e
    parts.append(text[pos:])
    origin += list(range(pos, len(text) + 1))
    seen = "".join(parts)
    for s, e, ph in name_address_spans(seen):
        spans.append((origin[s], origin[e - 1] + 1, ph))
    return sorted(spans)


@functools.lru_cache(maxsize=1 << 16)
def mask(text: str) -> str:
    """Return `text` with every PII span replaced by its JDDC-style typed placeholder.

    Deterministic and idempotent; text without PII (and JDDC placeholders) is returned
    unchanged. Cached: a dialogue's turns recur as the context of its later questions.
    """
    for s, e, placeholder in reversed(mask_spans(text)):
        text = text[:s] + placeholder + text[e:]
    return text


def find_pii(text: str) -> list[str]:
    """Return the PII spans that `mask` would replace, in order of appearance.

    An empty list means the text is safe to send; a payload spy asserts exactly that.
    """
    return [text[s:e] for s, e, _ in mask_spans(text)]
