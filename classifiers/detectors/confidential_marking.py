"""Confidential marking (機密表示).

The words Japanese organisations stamp on documents whose distribution is restricted, after the
classification levels of typical information-security rules (情報セキュリティ規程: 極秘 / 秘 /
社外秘), the English equivalents, and Microsoft Purview sensitivity labels (the extractor turns
a document's label into a metadata line ``sensitivity-label: <Name>``).

A marking is a word set apart as a stamp — in brackets (【社外秘】, [Confidential]), alone on its
line, heading a line (``社外秘 2025年度予算案``, ``区分：極秘``), or in capitals (CONFIDENTIAL) —
or a word in a subject line, a document property or a sensitivity label, or a sentence that
declares the document itself restricted (本資料は社外秘です, 社外秘につき). The same word inside
any other sentence is prose about markings (社外秘の表示がある文書は…, 機密情報の取り扱い,
「極秘」「秘」「社外秘」の区分, "may contain confidential information") and is not a finding.
The ambiguous 機密 and 取扱注意 count only as stamps and properties.

Not markings (hard negatives): 秘書, 神秘, 便秘 and every word where 秘 is part of a longer word;
秘密保持契約 / 機密保持契約 (NDA) and 機密性 (confidentiality as a property) name a kind of contract
or a security goal and appear in everyday mail about such contracts, so they are not treated as
a stamp on the message itself; likewise "confidentiality agreement" and "non-confidential".
A lone 秘 counts only as a stamp: ㊙, 【秘】〔秘〕(秘)［秘］, or 「秘」 at the start of a line.

>>> [(f.value, f.score) for f in scan("【社外秘】2025年度 予算案")]
[('社外秘', 1.0)]
>>> [f.value for f in scan("秘書室の便秘と神秘")]
[]
>>> [f.value for f in scan("sensitivity-label: 社外秘 (Confidential)")]
['社外秘 (Confidential)']
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "confidential_marking"
PATTERN = (
    r"(?=[sS関社部極厳マ機取秘FfIiTtCc])"
    r"(?:(?<![^\n])sensitivity-label:[ \t]*(?P<confidential_marking_label>[^\n]{1,200}?)[ \t]*(?![^\n])"
    r"|(?P<confidential_marking_strong>関係者外秘|社外秘|部外秘|極秘|厳秘|社内限り|社内限定|マル秘"
    r"|(?i:strictly\s{1,3}confidential|(?:for\s{1,3})?internal\s{1,3}use\s{1,3}only|top\s{1,3}secret))"
    r"|(?P<confidential_marking_weak>機密(?!保持|性|保護)|取扱注意|取扱い注意|取り扱い注意"
    r"|(?<![A-Za-z])(?<![Nn][Oo][Nn][-\s])(?i:confidential)(?!ity|iality|[A-Za-z]))"
    r"|(?<![\p{Han}])(?P<confidential_marking_hi>秘)(?![\p{Han}]))"
)
PRIORITY = 40
#: Every branch of PATTERN holds one of these (in the lower-cased, NFKC text; the case-blind
#: English words match only letters whose lower case is the same ASCII letter there): a part
#: with none of them is not scanned for markings at all, which is most parts.
REQUIRES = ("秘", "社内限", "機密", "注意", "confidential", "internal", "secret", "sensitivity-label:")

STAMP_SCORE = 1.0
STRONG_SCORE = 0.85
WEAK_STAMP_SCORE = 0.9
WEAK_SCORE = 0.6  # 機密, 取扱注意 inside a sentence
ENGLISH_WEAK_SCORE = 0.4  # "confidential" inside a sentence: disclaimers
LABEL_SCORE = 0.95
PUBLIC_LABEL_SCORE = 0.2

#: Brackets that set a marking apart as a stamp; quotation marks (「」『』) only quote a word.
_OPEN = "【〔([［<〈《"
_CLOSE = "】〕)]］>〉》"
_QUOTES = '「」『』"“”'
_PUBLIC_LABELS = regex.compile(r"(?i)^(?:public|公開|一般公開|general|一般|non-business|personal|個人用)$")
#: What may precede a marking at the start of a line (bullets, brackets, a label such as 区分:).
_LINE_HEAD = regex.compile(
    r"(?:^|\n)[\s\p{P}\p{S}]*(?:(?:機密)?区分|分類|取扱区分|Classification|Label)?[\s:：]*$"
)
#: What may follow a marking that heads a line: the line's end, a space, a separator.
_HEAD_TAIL = regex.compile(r"(?:$|\n|[\s\p{P}\p{S}])")
#: A sentence that declares the document itself restricted (本資料は社外秘です, 社外秘につき).
_DECLARED_BEFORE = regex.compile(
    r"(?:本|この|当|添付の?|下記の?|以下の?|上記の?)(?:資料|文書|書類|メール|ファイル|データ|内容|情報|議事録|報告書|ページ)"
    r"[^。\n]{0,10}?(?:は|を)[^。\n]{0,4}$"
)
_DECLARED_AFTER = regex.compile(
    # 社外秘扱いです / 極秘扱いとします declare; 極秘扱いにすべきかは, 社外秘扱いの文書 are prose
    r"^(?:扱い(?:です|と(?:します|する|なります)|で(?:お願い|願い)|に(?:て|します|してください|願います)|(?=[\s。、)）]|$))"
    r"|につき|のため|です|とします|とする|として(?:取り?扱|管理)|で(?:お願い|願い))"
)
_DECLARED_BEFORE_EN = regex.compile(
    r"(?i)\b(?:this|the attached|attached)\s+(?:deck|document|e-?mail|file|material|presentation|memo|report|message)"
    r"\s+(?:is|are)\s+$"
)


def _is_stamp(doc: Document, start: int, end: int) -> bool:
    """Set apart as a stamp: bracketed, alone on its line, heading a line, or in capitals."""
    prev = doc.text[start - 1] if start else "\n"
    nxt = doc.text[end] if end < len(doc.text) else "\n"
    if prev in _OPEN and nxt in _CLOSE:
        return True
    if prev in _QUOTES or nxt in _QUOTES:
        return False  # 「社外秘」: the word quoted in a sentence
    line_start = doc.text.rfind("\n", 0, start) + 1
    if _LINE_HEAD.search(doc.text[line_start:start]) and _HEAD_TAIL.match(doc.text, end):
        return True
    word = doc.text[start:end]
    return word.isascii() and word.isupper() and len(word) > 3


def _declared(doc: Document, start: int, end: int) -> bool:
    """Whether a sentence declares the document itself restricted (本資料は社外秘です)."""
    before = doc.before(start, 40)
    return bool(
        _DECLARED_BEFORE.search(before)
        or _DECLARED_BEFORE_EN.search(before)
        or _DECLARED_AFTER.match(doc.after(end, 8))
    )


def _kind(doc: Document) -> str:
    return doc.part.kind if doc.part is not None else "body"


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    """A marking is a stamp, a header, a subject tag, a document property or a sensitivity
    label; the same word inside a sentence about such markings (社外秘の表示がある文書は…,
    機密情報の取り扱い, 「極秘」「秘」の区分) is not one."""
    if match.group("confidential_marking_label") is not None:
        start, end = match.span("confidential_marking_label")
        name = doc.text[start:end]
        score = PUBLIC_LABEL_SCORE if _PUBLIC_LABELS.match(name) else LABEL_SCORE
        yield Hit(start, end, score, name, Explanation("sensitivity label", "label", score))
        return
    for group in ("confidential_marking_strong", "confidential_marking_weak", "confidential_marking_hi"):
        if match.group(group) is not None:
            break
    start, end = match.span(group)
    word = doc.text[start:end]
    if group == "confidential_marking_hi":
        original = doc.norm.original[slice(*doc.norm.span_to_original(start, end))]
        prev = doc.text[start - 1] if start else "\n"
        nxt = doc.text[end] if end < len(doc.text) else "\n"
        at_line_start = start < 2 or doc.text[start - 2] == "\n"
        bracketed = (prev in _OPEN and nxt in _CLOSE) or (prev == "「" and nxt == "」" and at_line_start)
        if not (original == "㊙" or bracketed):
            return
        yield Hit(start, end, STAMP_SCORE, "秘", Explanation("秘 stamp", "keyword", STAMP_SCORE, ("stamp",)))
        return
    kind = _kind(doc)
    stamp = _is_stamp(doc, start, end)
    if stamp:
        context: tuple[str, ...] = ("stamp",)
    elif kind == "metadata":
        context = ("document property",)
    elif group == "confidential_marking_strong" and kind == "subject":
        context = ("subject",)
    elif group == "confidential_marking_strong" and _declared(doc, start, end):
        context = ("declared",)
    else:
        return  # the word inside a sentence: prose about markings, not a marking
    if group == "confidential_marking_strong":
        score = STAMP_SCORE if stamp else STRONG_SCORE
        base = STRONG_SCORE
    else:
        base = ENGLISH_WEAK_SCORE if word.isascii() else WEAK_SCORE
        score = WEAK_STAMP_SCORE if stamp else max(base, WEAK_SCORE)
    normalized = regex.sub(r"\s+", " ", word).lower() if word.isascii() else word
    yield Hit(start, end, score, normalized, Explanation(f"marking word {word}", "keyword", base, context))


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)


def redact(marking: str) -> str:
    """A marking is shown as it is: it says how the document is classified, not whose it is."""
    return marking
