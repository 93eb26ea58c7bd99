"""The standard library's ``re`` form of a detector pattern written for the ``regex`` module.

Some patterns run two to four times faster on ``re`` than on ``regex``: ``re`` tests a large
character class (``\\p{Han}``, a class of a thousand kanji, ``\\w``) with one look-up in a
bitmap where ``regex`` walks its members, and it sets up each attempt at a start position with
less work (measured over the benchmark's mail mix: the kanji branch of ``person_name`` 22 →
7 ms, its katakana branch 7.8 → 1.9 ms, ``email_address`` 8.5 → 3.1 ms). ``regex`` stays the
language of the patterns, because only it has ``\\p{...}``, variable-width look-behind and a
timeout; a detector names in ``RE_PASSES`` the patterns that run on ``re`` (see
:mod:`classifiers.engine`), and :func:`stdlib_form` writes them for ``re`` with the same
meaning:

- ``\\p{Name}``, ``\\d``, ``\\w`` and ``\\s`` become explicit classes of the code points the
  installed ``regex`` module gives them (the two modules' Unicode tables differ: ``regex``'s
  ``\\d`` has 72 ranges, ``re``'s 62), read once per process by a pass of ``regex`` over every
  code point (about 60 ms);
- a group ``(?i:...)`` of ASCII words (``(?i:jan(?:uary)?|feb...)``) becomes a plain group
  whose letters are classes of what ``regex`` matches with each ignoring case (``re`` also
  matches ``ı`` with ``i``, ``regex`` does not);
- whatever the two modules could read differently gives no form (``None``): other inline flags
  or anything else inside ``(?i:...)``, ``\\b``, negated escapes inside a class, POSIX classes
  and set operations, and whatever ``re`` does not compile (variable-width look-behind,
  ``\\L<name>`` lists).

``tests/classifiers/test_stdre.py`` holds each such pass to the same matches, groups included,
as its ``regex`` form over the test corpora and the hostile shapes of the fuzz tests.
"""

from __future__ import annotations

import re
from functools import cache

import regex

#: Escapes read as a class of code points (the same for ``regex`` and for the translation).
_CLASS_ESCAPES = frozenset("dws")
#: What may follow ``(?`` in a pattern both modules read alike: groups and look-arounds.
_GROUP_KINDS = frozenset("=!<:>P(#")


@cache
def _every_code_point() -> str:
    """Every code point but the surrogates, in order (built in C: ``chr`` per code point
    takes ten times as long)."""
    plane = bytearray(4 * 0x10000)
    plane[0::4] = bytes(range(256)) * 256
    plane[1::4] = b"".join(bytes([high]) * 256 for high in range(256))
    every = bytearray(plane * 17)
    every[2::4] = b"".join(bytes([number]) * 0x10000 for number in range(17))
    del every[4 * 0xD800 : 4 * 0xE000]
    return every.decode("utf-32-le")


@cache
def class_ranges(escape: str) -> str:
    """The code points ``regex`` matches with ``escape`` (``\\p{Han}``, ``\\d``...), as the inside
    of an ``re`` character class.

    >>> class_ranges(r"\\p{Hiragana}")[:19]
    '\\\\u3041-\\\\u3096\\\\u309d'
    """
    out: list[str] = []
    for m in regex.finditer(f"(?:{escape})+", _every_code_point()):
        first, last = ord(m.group()[0]), ord(m.group()[-1])
        out.append(_code(first) if first == last else f"{_code(first)}-{_code(last)}")
    return "".join(out)


@cache
def _caseless_letters() -> str:
    """Every character that ``regex`` matches with an ASCII letter ignoring case."""
    return "".join(sorted(set(regex.findall("(?i)[a-z]", _every_code_point()))))


@cache
def caseless(letter: str) -> str:
    """An ``re`` class of what ``regex`` matches with ``letter`` (ASCII) ignoring case.

    >>> caseless("a"), caseless("k")  # \\u212a: the Kelvin sign
    ('[Aa]', '[Kk\\\\u212a]')
    """
    return "[" + "".join(_char(c) for c in _caseless_letters() if regex.fullmatch(f"(?i:{letter})", c)) + "]"


def _char(c: str) -> str:
    return c if c.isascii() and c.isalnum() else _code(ord(c))


#: What a ``(?i:...)`` group may hold besides ASCII letters: what case does not touch.
_CASELESS_OTHERS = frozenset("0123456789 |()?*+{},:")


def _code(point: int) -> str:
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"


def translate(source: str) -> str | None:
    """``source`` (``regex`` syntax, VERSION0, no flags) written for ``re`` with the same
    meaning, or None where the two modules could read it differently.

    >>> translate(r"[\\d-]{2}") == "[" + class_ranges(r"\\d") + "-]{2}"
    True
    >>> translate(r"(?i:ab)") == "(?:" + caseless("a") + caseless("b") + ")"
    True
    >>> translate(r"(?i)ab") is None, translate(r"(?i:[ab])") is None, translate(r"\\bx") is None
    (True, True, True)
    """
    out: list[str] = []
    in_class = False
    depth = 0  # of the groups open (outside classes)
    caseless_at: int | None = None  # the depth of the (?i:...) group being read, if any
    class_start = 0  # index in source of the first member of the class being read
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if caseless_at is not None:
            if ch.isascii() and ch.isalpha():
                out.append(caseless(ch))
                i += 1
                continue
            if ch == "\\" and source[i + 1 : i + 2] in (".", "-", " "):
                out.append(source[i : i + 2])
                i += 2
                continue
            if ch not in _CASELESS_OTHERS or (ch == "(" and not source.startswith("(?:", i)):
                return None  # a class, an escape, a look-around, a character with a case...
        if ch == "\\":
            if i + 1 >= n:
                return None
            nxt = source[i + 1]
            if nxt in "pP":
                close = source.find("}", i)
                if i + 2 >= n or source[i + 2] != "{" or close < 0:
                    return None
                members = class_ranges(f"\\p{source[i + 2 : close + 1]}")
                i = close + 1
                if nxt == "P":
                    if in_class:
                        return None
                    out.append(f"[^{members}]")
                else:
                    out.append(members if in_class else f"[{members}]")
                continue
            if nxt in _CLASS_ESCAPES:
                members = class_ranges(f"\\{nxt}")
                out.append(members if in_class else f"[{members}]")
                i += 2
                continue
            if nxt.isalpha() and nxt not in "ntrfvxuU":
                return None  # \b, \B, \D, \W, \S, \A, \Z, \G, \L<...>, \N{...}...
            out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]" and i > class_start:
                in_class = False
            elif ch == "[":
                if source.startswith("[:", i):
                    return None  # a POSIX class
                out.append("\\[")
                i += 1
                continue
            elif source[i : i + 2] in ("--", "&&", "||", "~~"):
                return None  # a set operation in VERSION1
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            class_start = i + 1
            if source.startswith("^", class_start):
                out.append("[^")
                i += 2
                class_start += 1
                continue
        elif ch == "(":
            depth += 1
            if source.startswith("(?i:", i) and caseless_at is None:
                caseless_at = depth
                out.append("(?:")
                i += 4
                continue
            if source.startswith("(?", i) and source[i + 2 : i + 3] not in _GROUP_KINDS:
                return None  # inline flags
        elif ch == ")":
            if caseless_at == depth:
                caseless_at = None
            depth -= 1
        out.append(ch)
        i += 1
    return "".join(out)


def stdlib_form(source: str) -> re.Pattern[str] | None:
    """``source`` compiled by ``re`` to match what ``regex`` matches with it (the same spans
    and groups), or None where it has no such form (see :func:`translate`)."""
    text = translate(source)
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error:
        return None
