"""Whose data a finding is: a natural person's, or an organisation's.

``records`` counts people. A supplier master (company names, 法人番号/T-numbers, head-office
addresses, switchboard numbers), a newsletter's shop list and a press release's contact block
hold contact data of companies, not of people; a customer list, a roster and a signature hold
people's. A natural person needs a personal identifier tied to a person: a name, or a number
only a person has (My Number, licence, passport, pension, card, birth date). Phone numbers,
mail addresses, postal addresses and bank accounts belong to whoever they sit with:

- a free-dial number (0120, 0800, 0570...) and a role mailbox (info@, support@, press@...)
  are an organisation's wherever they appear;
- in a table, the column header says it (代表電話, 本社所在地, 窓口メール), or the row does: a
  table whose rows name companies (a 会社名 / 取引先名 column, or 株式会社 in the row) and no
  person is an organisation's list;
- elsewhere, the block of lines the value sits in: a block that names a person (a signature, a
  delivery address with the recipient) is that person's; a block that names only an
  organisation (株式会社…, 広報部, 事務局, …店, 発行元) is the organisation's.

Every finding of a personal type gets ``holder`` ("person" or "organisation") and
``holder_reason`` (why, shown in the scan output). :func:`count_people` counts distinct people
over person-held findings; a reading (フリガナ) or a surname that repeats a full name found in
the same part is the same person.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from itertools import accumulate, compress, count

import regex

from classifiers.detectors import on_refresh, person_only_types, personal_types
from classifiers.detectors._base import Document
from classifiers.detectors._table import column_cell, row_headers
from classifiers.model import Finding
from classifiers.normalize import normalize


@cache
def contact_types() -> frozenset[str]:
    """Personal types a company has too (phone, mail, address, bank account): whose they are is
    decided here. The types only a person has (``PERSON_ONLY`` in their module) are held by a
    person when they are found (:func:`classifiers.detectors._base.to_finding`)."""
    return personal_types() - person_only_types()


_FREE_DIAL = ("0120", "0800", "0570", "0180", "0990")
_ROLE_MAILBOX = regex.compile(
    r"^(?:info|information|support|help|helpdesk|desk|contact|contacts|inquiry|inquiries|enquiry|toiawase|otoiawase"
    r"|press|pr|koho|kouhou|ir|media|news|newsletter|magazine|mm|mail|webmaster|admin|administrator|office|jimu"
    r"|jimukyoku|soumu|somu|jinji|romu|keiri|accounting|finance|sales|eigyo|eigyou|order|orders|juchu|shop|store"
    r"|service|services|customer|customers|cs|recruit|saiyo|saiyou|hr|legal|houmu|kobai|purchase|purchasing"
    r"|shizai|gyomu|koji|qa|noreply|no-reply|donotreply|postmaster|abuse|security|privacy|billing|invoice"
    r"|unsubscribe|marketing|event|events|seminar|henshu|editor|unko|team|staff|center|centre)(?:[._-]?\w{0,12})?$"
)
#: A column that holds an organisation's contact data.
_ORG_COLUMN = regex.compile(
    r"(?i)代表|本社|本店|所在地|会社|法人|事業所|店舗|窓口|部署|事務局|company|office|head"
)
#: A column that names the organisation of each row, and one that names a person.
_ORG_NAME_COLUMN = regex.compile(
    r"(?i)会社名|社名|取引先|仕入先|得意先|法人名|企業名|店舗名|店名|事業者|団体名|company|vendor|supplier"
)
_PERSON_COLUMN = regex.compile(
    r"(?i)氏名|名前|担当者|受取人|会員名|顧客名|お客様名|契約者|申込者|宛名|(?<![法業])[者員人]名|name"
)
#: Words that name an organisation or one of its units.
_ORG_WORDS = regex.compile(
    r"株式会社|有限会社|合同会社|合資会社|合名会社|㈱|㈲|\((?:株|有)\)|一般社団法人|一般財団法人|公益社団法人|公益財団法人"
    r"|社団法人|財団法人|学校法人|医療法人|社会福祉法人|NPO法人|特定非営利活動法人|協同組合|組合|協会|事務局|事務所"
    r"|(?i:co\.,? ?ltd|inc\.|corporation|corp\.|k\.k\.|llc)"
    r"|本社|本店|支店|支社|営業所|事業所|工場|センター|窓口|店(?![主長員])|[部課室局]"
    r"|院(?![長])|病院|医院|クリニック|歯科|薬局|学校|学園|教室|スクール|ホテル|旅館|会館|図書館|美術館|博物館"
    r"|発行元|配信元|発行者|お問い合わせ|お問合せ|問い合わせ先"
)
#: A label right before a value that says it is an organisation's (代表, 本社所在地, 会場).
_ORG_LABEL = regex.compile(
    r"(?:代表|本社|本店|所在地|会場|店舗|受付|窓口|事務局|センター|支店|営業所)[^\n]{0,6}$"
)
_BLOCK_LINES = 8  # a block is at most this many lines either side of the value


_NOT_DIGIT = regex.compile(r"\D")


def _phone_digits(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


class _Layout:
    """Lines and blocks (runs of non-blank lines) of a part's text."""

    def __init__(self, text: str) -> None:
        self.text = text
        lines = text.split("\n")
        self.starts = list(accumulate(map((1).__add__, map(len, lines[:-1])), initial=0))
        self.blank = set(compress(count(), map(operator.not_, map(str.strip, lines))))
        self.org_rows: dict[int, bool] = {}  # per line asked about: whether it names an organisation
        self.kinds: tuple[tuple[str, ...], tuple[bool, bool]] = ((), (False, False))  # the last header row's

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def lines_text(self, first: int, last: int) -> str:
        end = self.starts[last + 1] if last + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[first] : end]

    def names_organisation(self, line: int) -> bool:
        """Whether ``line`` names an organisation, searched once per line however many values
        of a table row ask (a hostile row holds thousands)."""
        known = self.org_rows.get(line)
        if known is None:
            known = self.org_rows[line] = bool(_ORG_WORDS.search(self.lines_text(line, line)))
        return known

    def header_row_kinds(self, headers: tuple[str, ...]) -> tuple[bool, bool]:
        """:func:`_header_row_kinds` of the header row of a table, remembered for the values of its
        rows, which come in order: a header row of thousands of cells is not hashed once per value."""
        if self.kinds[0] is not headers:
            self.kinds = (headers, _header_row_kinds(headers))
        return self.kinds[1]

    def block(self, line: int) -> tuple[int, int]:
        """The first and last line of the block around ``line`` (at most _BLOCK_LINES away)."""
        first = line
        while first > 0 and first - 1 not in self.blank and line - first < _BLOCK_LINES:
            first -= 1
        last = line
        while last + 1 < len(self.starts) and last + 1 not in self.blank and last - line < _BLOCK_LINES:
            last += 1
        return first, last


@cache
def _personal() -> frozenset[str]:
    return personal_types()


on_refresh(contact_types.cache_clear)
on_refresh(_personal.cache_clear)


def assign_holders(doc: Document | str, findings: Sequence[Finding]) -> list[Finding]:
    """Each finding with ``holder`` and ``holder_reason`` set (non-personal types unchanged).

    ``doc`` is the part the engine scanned (tables are read on its normalised text, as the
    detectors read them) or the part's text."""
    contact = contact_types()
    if not any(f.type in contact for f in findings):
        return list(findings)
    if isinstance(doc, str):
        doc = Document(normalize(doc))
    layout = _Layout(doc.norm.original)  # offsets of findings are into the original text
    names_by_line: dict[int, int] = {}
    for f in findings:
        if f.type == "person_name":
            line = layout.line_of(f.span[0])
            names_by_line[line] = names_by_line.get(line, 0) + 1
    out: list[Finding] = []
    blocks: dict[int, tuple[str, str]] = {}  # the verdict of a block, for its other values
    for f in findings:
        if f.type in contact:
            holder, reason = _contact_holder(f, doc, layout, names_by_line, blocks)
            out.append(f.held_by(holder, reason))
        else:
            out.append(f)
    return out


def _contact_holder(
    f: Finding,
    doc: Document,
    layout: _Layout,
    names_by_line: dict[int, int],
    blocks: dict[int, tuple[str, str]],
) -> tuple[str, str]:
    if f.type == "phone_number" and _phone_digits(f.normalized or f.value).startswith(_FREE_DIAL):
        return "organisation", "free-dial number"
    if f.type == "email_address":
        local = (f.normalized or f.value).split("@", 1)[0].lower()
        if _ROLE_MAILBOX.match(local):
            return "organisation", f"role mailbox {local}@"
    line = layout.line_of(f.span[0])
    at = doc.norm.to_normalized(f.span[0])
    cell = column_cell(doc, at)
    if cell is not None:
        header = cell[0]
        if _is_org_column(header):
            return "organisation", f"column {header}"
        person_column, org_name_column = layout.header_row_kinds(row_headers(doc, at))
        if person_column or names_by_line.get(line):
            return "person", "row names a person"
        if org_name_column:
            return "organisation", "row of an organisation list"
        if layout.names_organisation(line):
            return "organisation", "row names an organisation"
        return "person", "table row"
    before = layout.text[max(0, f.span[0] - 30) : f.span[0]]
    if _ORG_LABEL.search(before.split("\n")[-1]):
        return "organisation", "labelled as an organisation's"
    verdict = blocks.get(line)
    if verdict is None:
        first, last = layout.block(line)
        verdict = _block_holder(layout, first, last, names_by_line)
        blocks.update(dict.fromkeys(range(first, last + 1), verdict))  # the block's other lines
    return verdict


@lru_cache(maxsize=1024)  # a table has a few header cells, asked about for each finding
def _is_org_column(header: str) -> bool:
    return bool(_ORG_COLUMN.search(header))


@lru_cache(maxsize=256)  # one header row per table, asked about for each finding in it
def _header_row_kinds(headers: tuple[str, ...]) -> tuple[bool, bool]:
    """Whether a column of this header row names a person, and whether one names an
    organisation (its name column)."""
    return (
        any(_PERSON_COLUMN.search(h) for h in headers),
        any(_ORG_NAME_COLUMN.search(h) for h in headers),
    )


def _block_holder(layout: _Layout, first: int, last: int, names_by_line: dict[int, int]) -> tuple[str, str]:
    """Whose the contact data in the block of lines ``first..last`` (outside tables) is."""
    if not names_by_line.keys().isdisjoint(range(first, last + 1)):
        return "person", "with a person's name"
    m = _ORG_WORDS.search(layout.lines_text(first, last))
    if m:
        return "organisation", f"in an organisation's contact block ({m.group(0)})"
    # Paragraphs one line each (HTML <p>): the lines just above head the same contact block.
    above = [k for k in range(max(0, first - 4), first) if layout.lines_text(k, k).strip()][-2:]
    if above and not any(names_by_line.get(k) for k in above):
        m = _ORG_WORDS.search(layout.lines_text(above[0], above[-1]))
        if m:
            return "organisation", f"under an organisation's name ({m.group(0)})"
    return "person", "no organisation named"


#: The patterns of :mod:`classifiers.detectors.person_name` that find a surname without its
#: given name (田中様, 前川は, Mr. Suzuki): the same person as a full name that begins with it.
SURNAME_ALONE = frozenset(
    {
        "surname (dictionary)",
        "kana surname (dictionary)",
        "romanised surname (dictionary)",
        "kanji + honorific",
    }
)


def count_people(findings: Iterable[Finding], min_score: float, secondary: frozenset[str]) -> int:
    """Distinct natural persons among person-held findings (see :func:`classifiers.engine.count_records`)."""
    personal = _personal()
    distinct: dict[str, set[str]] = {}
    surnames: set[str] = set()  # names found as a surname alone
    for f in findings:
        kind = f.type
        if kind in personal and f.score >= min_score and f.holder != "organisation":
            value = f.normalized or f.value
            if kind == "person_name":
                pattern = f.explanation.pattern
                if "reading" in pattern:  # a reading (フリガナ) is the person its name counts
                    continue
                if pattern in SURNAME_ALONE:
                    surnames.add(value)
            distinct.setdefault(kind, set()).add(value)
    names = distinct.get("person_name")
    if names and surnames:
        # A surname alone that begins a full name found too (前川浩之 … 前川は) is that person.
        ordered = sorted(names)
        distinct["person_name"] = {n for n in names if n not in surnames or not _begins_another(ordered, n)}
    primary = max((len(v) for t, v in distinct.items() if t not in secondary), default=0)
    if primary:
        return primary
    return max((len(v) for v in distinct.values()), default=0)


def _begins_another(ordered: Sequence[str], name: str) -> bool:
    """Whether a value of sorted ``ordered`` other than ``name`` (one of them) begins with it:
    those that do sort right after it, so one look there says (a roster of many surnames alone
    is not compared with every name).

    >>> _begins_another(["前川", "前川浩之", "山田"], "前川"), _begins_another(["前川", "山田"], "前川")
    (True, False)
    """
    i = bisect.bisect_right(ordered, name)
    return i < len(ordered) and ordered[i].startswith(name)


def count_organisations(findings: Iterable[Finding], min_score: float) -> int:
    """Distinct organisations' contact data: the most distinct values of one contact type."""
    distinct: dict[str, set[str]] = {}
    for f in findings:
        if f.holder == "organisation" and f.score >= min_score:
            distinct.setdefault(f.type, set()).add(f.normalized or f.value)
    return max((len(v) for v in distinct.values()), default=0)
