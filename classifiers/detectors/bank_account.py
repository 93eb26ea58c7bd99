"""Bank account number (口座番号).

Japanese bank accounts are identified by a four-digit bank code (金融機関コード), a three-digit
branch code (支店コード) and a seven-digit account number (口座番号), as used by the Zengin
clearing system (全国銀行協会 全銀システム, 振込データ形式). Japan Post Bank (ゆうちょ銀行) writes
its accounts as a five-digit 記号 starting with ``1`` and a number of up to eight digits
(``12345-12345671``). None of these has a published check digit, and seven digits alone are
everywhere, so a candidate counts only with a banking word nearby (口座, 普通, 当座, 支店,
振込先, account...). Accepted shapes: ``1234567``, ``123-1234567`` (branch + account),
``0001-123-1234567`` (bank + branch + account) and the Japan Post Bank form.

>>> validate("0001ー123ー1234567")
'00011231234567'
>>> validate("123456")
Traceback (most recent call last):
classifiers.errors.InvalidLength: 123456
>>> [(f.value, f.score) for f in scan("振込先：みずほ銀行 渋谷支店 普通 １２３４５６７")]
[('１２３４５６７', 0.8)]
>>> list(scan("1234567"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.detectors._numeric import candidates, chunk_shape, context_words, find_context, fold
from classifiers.detectors._tokens import NUMBER
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "bank_account"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
#: Characters kept at the end when a value is shown masked (``classifiers.redact``).
KEEP_TAIL = 3
PATTERN = NUMBER
PRIORITY = 50
MIN_LENGTH = 7  # the shortest shape, in characters: shorter tokens are skipped unread

BASE_SCORE = 0.8  # the shape with a banking word nearby
LABEL_SCORE = 0.95  # with an explicit label (口座番号, account number, 記号番号)

_LABELS = ["口座番号", "口座No", "account number", "account no", "acct no", "記号番号"]
_LABEL = context_words(_LABELS)
_CONTEXT = context_words(
    [
        *_LABELS,
        "口座",
        "普通",
        "当座",
        "貯蓄",
        "支店",
        "振込",
        "振込先",
        "振り込み",
        "振込口座",
        "預金",
        "銀行",
        "信用金庫",
        "ゆうちょ",
        "記号",
        "account",
        "acct",
        "bank",
        "branch",
        "savings",
    ]
)
_SHAPE = chunk_shape(
    r"\d{7}"  # account number
    r"|\d{3}([- ])\d{7}"  # branch + account
    r"|\d{4}([- ])\d{3}\2\d{7}"  # bank + branch + account
    r"|1\d{4}[- ]\d{5,8}"  # Japan Post Bank 記号-番号
)


def compact(number: str) -> str:
    """Remove separators."""
    return "".join(ch for ch in fold(number) if ch not in " -")


def validate(number: str) -> str:
    """Return the digits or raise an :class:`~classifiers.errors.ValidationError`."""
    value = compact(number)
    if not value.isdigit():
        raise InvalidFormat(number)
    if len(value) not in (7, 10, 14) and not (value.startswith("1") and 10 <= len(value) <= 13):
        raise InvalidLength(number)
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
        if start < taken or not is_valid(text):
            continue
        context = find_context(doc, start, end, _CONTEXT, before=30, after=10)
        if not context:
            continue
        label = find_context(doc, start, end, _LABEL, before=30, after=0)
        taken = end
        score = LABEL_SCORE if label else BASE_SCORE
        pattern = {7: "7-digit account", 10: "branch + account", 14: "bank + branch + account"}.get(
            len(compact(text)), "Japan Post Bank 記号-番号"
        )
        yield Hit(start, end, score, compact(text), Explanation(pattern, "keyword", BASE_SCORE, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)
