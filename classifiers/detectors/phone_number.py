"""Phone number (電話番号): Japanese fixed, mobile, IP and free-dial numbers.

There is no check digit; the shape is validated against the numbering plan of the Ministry
of Internal Affairs and Communications (総務省 電気通信番号計画, 電話番号の桁数): a national
number starts with ``0`` and a non-zero digit; ``020``/``050``/``060``/``070``/``080``/``090``
numbers (M2M, IP telephony, mobile) and ``0800`` free dial have 11 digits, every other number
(fixed lines with a 1-4 digit area code, ``0120`` free dial, ``0570`` navi dial) has 10. From
abroad the leading ``0`` is replaced by the country code ``+81`` (ITU-T E.164). Written forms
accepted: ``03-1234-5678``, ``090 1234 5678``, ``(03)1234-5678``, ``03(1234)5678``,
``0120-123-456``, ``+81-3-1234-5678``, ``+81 (0)90 1234 5678`` and contiguous digits (lower
score without a context word).

>>> validate("+81-3-1234-5678")
'0312345678'
>>> validate("090-1234-567")
Traceback (most recent call last):
classifiers.errors.InvalidLength: 090-1234-567
>>> [(f.value, f.score) for f in scan("TEL：(03)1234ー5678")]
[('(03)1234ー5678', 0.95)]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._numeric import (
    ORDER_LIKE,
    candidates,
    chunk_shape,
    context_words,
    find_context,
    fold,
    is_labelled_as,
)
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "phone_number"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 4
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 7  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.6  # grouped like a phone number, valid length for its prefix, no context
PLAIN_SCORE = 0.4  # contiguous digits (or two groups), no context
CONTEXT_SCORE = 0.95
PLAIN_CONTEXT_SCORE = 0.8

_CONTEXT = context_words(
    [
        "電話",
        "電話番号",
        "携帯",
        "携帯電話",
        "連絡先",
        "FAX",
        "ファックス",
        "ファクス",
        "TEL",
        "phone",
        "mobile",
        "cell",
        "fax",
        "内線",
        "代表",
        "直通",
        "問い合わせ先",
        "問合せ先",
        "お問い合わせ窓口",
        "フリーダイヤル",
        "ナビダイヤル",
        "☎",
        "📞",
    ]
)
_NEGATIVE = context_words(
    [
        *ORDER_LIKE,
        "年金",
        "口座",
        "法人番号",
        "登録番号",
        "個人番号",
        "マイナンバー",
        "免許",
        "旅券",
        "パスポート",
        "カード番号",
    ]
)
_SHAPE = chunk_shape(
    r"0\d{1,4}([-. ])\d{1,4}\1\d{3,4}"  # 03-1234-5678, 090 1234 5678, 0120.123.456
    r"|\(?0\d{1,4}\)[- ]?\d{1,4}[-. ]?\d{3,4}"  # (03)1234-5678, (0120) 123 456
    r"|0\d{1,4}[- ]?\(\d{1,4}\)[- ]?\d{3,4}"  # 03(1234)5678
    r"|0\d{1,4}-\d{5,8}"  # 0120-123456, 03-12345678
    r"|0\d{9,10}"  # contiguous
    r"|\+81[-. ]?(?:\(0\)[-. ]?)?"  # +81-3-1234-5678, +81 (0)90 1234 5678, +81312345678
    r"(?:\d{1,4}([-. ])\d{1,4}\2\d{3,4}|\d{9,10}|\(\d{1,4}\)[- ]?\d{1,4}[-. ]?\d{3,4})"
)
_NON_DIGITS = regex.compile(r"\D+")
_ELEVEN = ("020", "050", "060", "070", "080", "090")
_SHORT_LAST = ("0120", "0570", "0800", "0990", "0180")


def compact(number: str) -> str:
    """The national number: digits only, ``+81`` (and a bracketed ``(0)``) turned into ``0``."""
    number = fold(number)
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.startswith("+81"):
        rest = digits[2:]
        if "(0)" in number.replace(" ", ""):
            rest = rest[1:]
        return rest if rest.startswith("0") else "0" + rest
    return digits


def _groups(number: str) -> list[str]:
    body = fold(number)
    if body.startswith("+81"):
        body = body[3:].replace("(0)", "", 1)
    return [g for g in _NON_DIGITS.split(body) if g]


def validate(number: str) -> str:
    """Return the national number or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit() or not value.startswith("0") or value[1:2] in ("", "0"):
        raise InvalidFormat(number)
    groups = _groups(number)
    if len(groups) >= 2:  # the first group is the prefix as written: 06-0174-8814 is Osaka
        prefix = groups[0] if groups[0].startswith("0") else "0" + groups[0]
        expected = 11 if prefix in _ELEVEN or prefix == "0800" else 10
    else:
        expected = 11 if value[:3] in _ELEVEN else 10
    if len(value) != expected:
        raise InvalidLength(number)
    if len(groups) == 3:
        last = len(groups[2])
        if last != 4 and not (last == 3 and value[:4] in _SHORT_LAST):
            raise InvalidFormat(number)
        if expected == 11 and value[:4] != "0800" and [len(g) for g in groups[1:]] != [4, 4]:
            raise InvalidFormat(number)
    elif len(groups) > 3:
        raise InvalidFormat(number)
    return value


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except ValueError:
        return False
    return True


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    taken = -1
    for start, end, text in candidates(match, _SHAPE):
        if start < taken:
            continue
        try:
            value = validate(text)
        except ValueError:
            continue
        context = find_context(doc, start, end, _CONTEXT, before=30, after=10)
        if not context and is_labelled_as(doc, start, end, _NEGATIVE):
            continue
        grouped = len(_groups(text)) >= 3
        if grouped:
            score = CONTEXT_SCORE if context else BASE_SCORE
        else:
            score = PLAIN_CONTEXT_SCORE if context else PLAIN_SCORE
        pattern = ("+81 " if text.startswith("+") else "") + f"{len(value)}-digit number starting {value[:3]}"
        taken = end
        yield Hit(
            start,
            end,
            score,
            value,
            Explanation(pattern, "format", BASE_SCORE if grouped else PLAIN_SCORE, context),
        )


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
