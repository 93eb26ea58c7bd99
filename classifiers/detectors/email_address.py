"""Email address (メールアドレス).

The pragmatic ``addr-spec`` of RFC 5322 s 3.4.1: a dot-atom local part (``atext`` of s 3.2.3,
ASCII only, so that Japanese prose glued to the address is not taken into it) ``@`` a domain of
dot-separated labels (RFC 1035 s 2.3.4: at most 63 characters, no leading or trailing hyphen;
IDN labels of RFC 5890 in Unicode are accepted) ending in an alphabetic top-level label. Quoted
local parts and address literals (``[192.0.2.1]``) are not used in practice and are not matched.

>>> validate("Taro.Yamada@Example.CO.JP")
'taro.yamada@example.co.jp'
>>> is_valid("taro..yamada@example.jp")
False
>>> [f.value for f in scan("連絡先:taro@example.co.jpまでお願いします")]
['taro@example.co.jp']
>>> [f.value for f in scan("問合せ：ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ")]
['ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ']
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with, words_pattern
from classifiers.errors import InvalidFormat, InvalidLength
from classifiers.model import Explanation, Finding
from classifiers.normalize import fold
from classifiers.redact import mask

ENTITY_TYPE = "email_address"
#: Identifies or describes a natural person: counts towards ``records``.
PERSONAL = True
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
PATTERN = (
    rf"(?={_ATEXT})(?<![A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]){_ATEXT}{{1,64}}(?:\.{_ATEXT}{{1,64}}){{0,16}}"
    r"@(?:[\w](?:[\w-]{0,61}[\w])?\.){1,8}(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9-])"
)
PRIORITY = 30
#: Runs on ``re``, which tests ``\\w`` in a bitmap (see :mod:`classifiers.detectors._stdre`).
RE_PASSES = (PATTERN,)

BASE_SCORE = 0.9
CONTEXT_SCORE = 1.0

_CONTEXT = words_pattern(
    ["メール", "mail", "アドレス", "連絡先", "宛先", "E-mail", "Email", "送信元", "差出人"]
)
_LOCAL = regex.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = regex.compile(r"[\w](?:[\w-]{0,61}[\w])?")


def compact(address: str) -> str:
    """Normalised as the scan normalises (full-width ＠ and letters), without surrounding
    space; addresses compare case-insensitively in practice."""
    return fold(address).lower()


def validate(address: str) -> str:
    """Return the lower-cased address or raise a :class:`~classifiers.errors.ValidationError`."""
    address = compact(address)
    local, sep, domain = address.rpartition("@")
    if not sep or not _LOCAL.fullmatch(local):
        raise InvalidFormat(address)
    if len(local) > 64 or len(address) > 254:  # RFC 5321 s 4.5.3.1.1 and 4.5.3.1.3
        raise InvalidLength(address)
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidFormat(address)
    tld = labels[-1]
    if not (tld.isascii() and (tld.isalpha() or tld.startswith("xn--"))):
        raise InvalidFormat(address)
    return address


def is_valid(address: str) -> bool:
    try:
        validate(address)
    except ValueError:
        return False
    return True


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    start, end = match.span()
    token = doc.text[start:end]
    if not is_valid(token):
        return
    context = doc.context(start, end, _CONTEXT, before=20, after=0)
    score = CONTEXT_SCORE if context else BASE_SCORE
    yield Hit(start, end, score, compact(token), Explanation("addr-spec", "format", BASE_SCORE, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)


def redact(address: str) -> str:
    """The address masked for display: the local part's first character and the domain.

    >>> redact("taro.yamada@example.co.jp")
    't**********@example.co.jp'
    """
    local, at, domain = address.partition("@")
    if not at:
        return mask(address, None)
    return local[:1] + "*" * max(len(local) - 1, 0) + "@" + domain
