"""Normalise once: NFKC, the Japanese dash family and full-width spaces, with a map back.

Characters a reader never sees (zero-width space and joiners, the word joiner, the byte-order
mark, the soft hyphen, direction marks, variation selectors: Unicode's default-ignorable code
points) are dropped, so that ``1234\u200b5678\u200b9018`` reads as the number it shows.

Detectors only ever see :attr:`Normalized.text`; findings are reported at original offsets
through :meth:`Normalized.span_to_original`. Characters whose NFKC form is themselves pass
through in runs (the common case, fast); only the others are handled one by one.
"""

from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import regex

#: Dashes people type between digits (``6214ー9832ー0257``). Katakana ``ー`` folds only next to
#: a digit, so ``パスワード`` stays a word.
_ALWAYS_DASH = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\ufe63\u2043\u30a0"
_DIGIT_DASH = "\u30fc\uff70"  # ー and half-width ｰ
#: Every character read as ``-`` (the first group anywhere, ー and ｰ next to a digit).
DASHES = _ALWAYS_DASH + _DIGIT_DASH

#: Unicode's Default_Ignorable_Code_Point: drawn as nothing, so dropped before detection.
_INVISIBLE_RE = regex.compile(r"\p{Default_Ignorable_Code_Point}")

_VOICED = {"\u3099", "\u309a", "\uff9e", "\uff9f"}


@lru_cache(maxsize=1)
def _one_to_one() -> dict[int, str]:
    """``str.translate`` table for characters whose NFKC form is one other character."""
    table: dict[int, str] = {}
    for cp in range(0x80, 0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) == 1 and folded != ch:
            table[cp] = folded
    for ch in _ALWAYS_DASH:
        table[ord(ch)] = "-"
    return table


_ALWAYS_DASH_RE = regex.compile("[" + regex.escape(_ALWAYS_DASH) + "]")
_DIGIT_DASH_RE = regex.compile(r"(?<=\d)[ーｰ]|[ーｰ](?=\d)")


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text and the offset map back to the original.

    The map is a list of changed segments ``(norm_start, norm_end, orig_start, orig_end)``;
    between them the two texts are aligned one to one.
    """

    original: str
    text: str
    _nstarts: tuple[int, ...]
    _segments: tuple[tuple[int, int, int, int], ...]

    def _seg(self, pos: int) -> tuple[int, int, int, int] | None:
        k = bisect.bisect_right(self._nstarts, pos) - 1
        return self._segments[k] if k >= 0 else None

    def to_original(self, pos: int) -> int:
        """Original offset of the normalised character at ``pos`` (a start position)."""
        seg = self._seg(pos)
        if seg is None:
            return pos
        _ns, ne, os_, oe = seg
        if pos < ne:
            return os_
        return oe + (pos - ne)

    def end_to_original(self, end: int) -> int:
        """Original offset for an exclusive end position in the normalised text."""
        if end <= 0:
            return 0
        seg = self._seg(end - 1)
        if seg is None:
            return end
        _ns, ne, _os, oe = seg
        if end - 1 < ne:
            return oe
        return oe + (end - ne)

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Original span of a normalised one (an empty span at a dropped character stays empty).

        >>> normalize("山田\u200b太郎").span_to_original(2, 2), normalize("12\u200b34").span_to_original(1, 3)
        ((3, 3), (1, 4))
        """
        begin = self.to_original(start)
        return begin, max(begin, self.end_to_original(end))

    def to_normalized(self, pos: int) -> int:
        """Normalised offset of the original character at ``pos`` (the start of its segment).

        >>> n = normalize("ＴＥＬ：０３")
        >>> n.text[n.to_normalized(4)]
        '0'
        """
        k = bisect.bisect_right(self._segments, pos, key=lambda seg: seg[2]) - 1
        if k < 0:
            return pos
        ns, ne, _os, oe = self._segments[k]
        return ns if pos < oe else ne + (pos - oe)


def normalize(text: str) -> Normalized:
    """Normalise ``text`` for detection.

    >>> n = normalize("６２１４ー９８３２－０２５７")
    >>> n.text
    '6214-9832-0257'
    >>> n.span_to_original(5, 9)
    (5, 9)
    >>> normalize("パスワード：ｶﾞｷﾞ").text
    'パスワード:ガギ'
    """
    if text.isascii():
        return Normalized(text, text, (), ())
    invisible = _INVISIBLE_RE.search(text) is not None
    if not invisible and unicodedata.is_normalized("NFKC", text):
        # The common case (a quick check in C): only the dashes can still change, one for one.
        folded = _ALWAYS_DASH_RE.sub("-", text)
        if "ー" in folded or "ｰ" in folded:
            folded = _DIGIT_DASH_RE.sub("-", folded)
        return Normalized(text, folded, (), ())
    folded = text.translate(_one_to_one())
    if "ー" in folded or "ｰ" in folded:
        folded = _DIGIT_DASH_RE.sub("-", folded)
    if not invisible and unicodedata.is_normalized("NFKC", folded):
        return Normalized(text, folded, (), ())
    return _normalize_slow(text, folded, invisible)


def fold(value: str) -> str:
    """A value normalised exactly as the scan normalises text, without surrounding space: what
    every detector's ``compact``/``validate`` starts from, so that whatever a scan finds (and
    reports as written) its validator accepts.

    >>> fold(" １２３４⁃５６７８９０ "), fold("6214ー9832ー0257"), fold("パスワード")
    ('1234-567890', '6214-9832-0257', 'パスワード')
    """
    if value.isascii():
        return value.strip()  # what normalize() leaves ASCII as, without building a Normalized
    return normalize(value).text.strip()


def _normalize_slow(text: str, folded: str, invisible: bool) -> Normalized:
    """Line by line; within a line that is not yet NFKC (or holds an invisible character),
    character by character.

    ``folded`` is aligned one to one with ``text`` (only single-character folds so far).
    An invisible character becomes an empty segment: nothing in the normalised text, one
    character in the original.
    """
    out: list[str] = []
    nstarts: list[int] = []
    segments: list[tuple[int, int, int, int]] = []
    npos = 0
    opos = 0
    for line in folded.splitlines(keepends=True):
        if unicodedata.is_normalized("NFKC", line) and not (invisible and _INVISIBLE_RE.search(line)):
            out.append(line)
            npos += len(line)
            opos += len(line)
            continue
        for ch in line:
            i = opos
            opos += 1
            if invisible and _INVISIBLE_RE.match(ch):
                nstarts.append(npos)
                segments.append((npos, npos, i, i + 1))
                continue
            if (
                unicodedata.combining(ch)
                and out
                and segments
                and segments[-1][1] == npos
                and segments[-1][0] < npos  # not after a dropped character
            ):
                composed = unicodedata.normalize("NFC", out[-1][-1] + ch)
                if len(composed) == 1:
                    out[-1] = out[-1][:-1] + composed
                    ns, ne, os_, _ = segments[-1]
                    segments[-1] = (ns, ne, os_, i + 1)
                    continue
            if ch in _VOICED and out and out[-1]:
                composed = unicodedata.normalize("NFC", out[-1][-1] + unicodedata.normalize("NFKC", ch))
                if len(composed) == 1:
                    out[-1] = out[-1][:-1] + composed
                    npos_prev = npos - 1
                    nstarts.append(npos_prev)
                    segments.append((npos_prev, npos, i - 1, i + 1))
                    continue
            nfkc = unicodedata.normalize("NFKC", ch)
            if nfkc == ch and text[i] == ch:
                out.append(ch)
                npos += 1
                continue
            out.append(nfkc)
            nstarts.append(npos)
            segments.append((npos, npos + len(nfkc), i, i + 1))
            npos += len(nfkc)
    return Normalized(text, "".join(out), tuple(nstarts), tuple(segments))
