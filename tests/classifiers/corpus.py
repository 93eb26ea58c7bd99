"""A deterministic, labelled end-to-end corpus for the classifiers.

The generator writes realistic Japanese and English business documents (customer lists, HR
notices, invoices, contracts, identity checks, IT hand-overs, English customer mails, order
confirmations full of look-alike numbers) with a seeded :class:`random.Random` and Faker's
``ja_JP`` locale. Person names and addresses come from Faker on purpose: the person-name
detector's dictionary is built from gimei/mimesis, so the corpus does not grade the detector
with its own word list. Numbers are made with the official algorithms (My Number check digit,
corporate number check digit, Luhn with real issuer prefixes, the driver's licence check digit)
and valid Japanese shapes (phone numbers, postal codes, passport numbers).

Every document is then rendered as mail in every charset and transfer encoding people send
(ISO-2022-JP with the Microsoft CP50221 extensions, Shift_JIS/cp932, EUC-JP, UTF-8 as base64,
quoted-printable and 8bit, a wrong declared charset, none declared, multipart/alternative),
with every attachment kind (.txt .csv .tsv .html .json .xml .pdf .docx .xlsx .pptx .zip, a
nested zip, message/rfc822), and as plain files.

Ground truth
    Each rendered :class:`Item` carries the multiset of ``(type, value)`` pairs written into it,
    ``value`` exactly as written. Only what a document says is labelled: the envelope fields of
    a mail (From, To, Cc, Date, Message-ID) are not documents, so findings in parts of kind
    ``header`` are not scored; the subject is scored. The bodies of one multipart/alternative
    are one document and are labelled once.

Matching rule
    Both sides are canonicalised the same way before comparison:

    - NFKC, and the dash family (U+2010-2015, U+2212, U+FF0D) becomes ``-``: decoders disagree
      on which of them a JIS code is, and the project's normaliser folds them anyway;
    - for the numeric types (:data:`NUMERIC_TYPES`) keep only ASCII letters and digits, letters
      upper-cased: the digits of the number, the ``T`` of an invoice registration number and the
      two letters of a passport number survive; separators, ``〒``, ``+`` and labels written in
      Japanese do not;
    - for the text types remove all whitespace and the brackets and quotation marks enclosing
      the value (``【社外秘】`` and ``社外秘`` are the same marking).

    Per item, a finding is a true positive when a not yet matched truth pair of the same type has
    the same canonical value; every other finding is a false positive and every unmatched truth
    pair a false negative. Every reported finding counts, whatever its score: a low score is still
    a claim. Overlapping spans or a shared prefix do not count: a value with its boundaries wrong
    is one false positive and one false negative. Precision and recall are computed per type over
    the whole corpus.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import quopri
import random
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from faker import Faker

from classifiers.model import ENTITY_TYPES

NUMERIC_TYPES: tuple[str, ...] = (
    "my_number",
    "corporate_number",
    "credit_card",
    "phone_number",
    "postal_code",
    "bank_account",
    "passport_number",
    "drivers_license",
    "pension_number",
)
TEXT_TYPES: tuple[str, ...] = tuple(t for t in ENTITY_TYPES if t not in NUMERIC_TYPES)

Entity = tuple[str, str]

#: The dash family (folded like the normaliser does): the same character comes out of cp932,
#: Shift_JIS, EUC-JP and ISO-2022-JP decoders as U+FF0D or U+2212.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d", "-"))
_ENCLOSERS = "【】「」『』〔〕［］()（）[]{}<>〈〉《》\"'“”‘’"


def canonical(entity_type: str, value: str) -> str:
    """The canonical form both the truth and a finding are compared in.

    >>> canonical("phone_number", "＋８１－９０ ー 1234-5678")
    '819012345678'
    >>> canonical("corporate_number", "登録番号 T1234567890123")
    'T1234567890123'
    >>> canonical("confidential_marking", "【社外秘】")
    '社外秘'
    >>> canonical("person_name", "山田　太郎")
    '山田太郎'
    """
    text = unicodedata.normalize("NFKC", value).translate(_DASHES)
    if entity_type in NUMERIC_TYPES:
        return "".join(ch for ch in text.upper() if ch.isascii() and ch.isalnum())
    text = "".join(text.split())
    return text.strip(_ENCLOSERS)


# --------------------------------------------------------------------------------------------
# Official algorithms
# --------------------------------------------------------------------------------------------


def my_number_check(first11: str) -> str:
    """Check digit of a My Number (総務省令第85号 第5条)."""
    total = 0
    for n, ch in enumerate(reversed(first11), start=1):
        total += int(ch) * (n + 1 if n <= 6 else n - 5)
    r = total % 11
    return "0" if r <= 1 else str(11 - r)


def corporate_check(base12: str) -> str:
    """Leading check digit of a corporate number (法人番号): 9 - (weighted sum mod 9)."""
    total = sum(int(ch) * (1 if n % 2 else 2) for n, ch in enumerate(reversed(base12), start=1))
    return str(9 - total % 9)


def luhn_check(partial: str) -> str:
    total = 0
    for n, ch in enumerate(reversed(partial)):
        d = int(ch)
        if n % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def licence_check(first10: str) -> str:
    """Check digit (11th digit) of a Japanese driver's licence number."""
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    total = sum(int(ch) * w for ch, w in zip(first10, weights, strict=True))
    return str((11 - total % 11) % 10)


def ean13_check(first12: str) -> str:
    total = sum(int(ch) * (3 if i % 2 else 1) for i, ch in enumerate(first12))
    return str((10 - total % 10) % 10)


#: Registry office codes (the first four digits of a 会社法人等番号): Tokyo, its branch offices,
#: Osaka, Nagoya, Fukuoka, Hiroshima, Sendai, Sapporo, Takamatsu and others.
_REGISTRY_OFFICES = (
    "0100",
    "0104",
    "0105",
    "0109",
    "0110",
    "0111",
    "1200",
    "1203",
    "1803",
    "2900",
    "2400",
    "3700",
    "4300",
    "4700",
    "1300",
    "0200",
)

_FULLWIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


class Gen:
    """Seeded value generators (numbers and Faker-backed names/addresses)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(seed)
        self._used: set[str] = set()

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            key = canonical("phone_number", value) or value
            if key not in self._used:
                self._used.add(key)
                return value
        raise RuntimeError("value space exhausted")

    def maybe_fullwidth(self, s: str, p: float = 0.1) -> str:
        return s.translate(_FULLWIDTH) if self.rng.random() < p else s

    # ---- numbers -------------------------------------------------------------------------

    def my_number(self) -> str:
        def make() -> str:
            first = str(self.rng.randint(1, 9)) + self.digits(10)
            d = first + my_number_check(first)
            sep = self.rng.choice([" ", "-", "", "-"])
            return f"{d[:4]}{sep}{d[4:8]}{sep}{d[8:]}"

        return self.maybe_fullwidth(self.unique(make))

    def corporate_number(self, invoice: bool = False) -> str:
        """A company's number: check digit + its 12-digit 会社法人等番号 (registry office code,
        company-type code, serial), as for 5010401067252 (office 0104, type 01)."""

        def make() -> str:
            base = self.rng.choice(_REGISTRY_OFFICES) + self.rng.choice(["01", "01", "01", "02", "03", "05"])
            base += self.digits(6)
            return corporate_check(base) + base

        number = self.unique(make)
        return "T" + number if invoice else number

    def credit_card(self) -> str:
        brand = self.rng.choice(["visa", "visa", "mc", "mc2", "jcb", "jcb", "amex", "diners"])
        prefix, length = {
            "visa": ("4", 16),
            "mc": (str(self.rng.randint(51, 55)), 16),
            "mc2": (str(self.rng.randint(2221, 2720)), 16),
            "jcb": (str(self.rng.randint(3528, 3589)), 16),
            "amex": (self.rng.choice(["34", "37"]), 15),
            "diners": ("36", 14),
        }[brand]

        def make() -> str:
            partial = prefix + self.digits(length - len(prefix) - 1)
            return partial + luhn_check(partial)

        number = self.unique(make)
        sep = self.rng.choice([" ", "-", "", " "])
        if length == 16:
            groups = [number[i : i + 4] for i in range(0, 16, 4)]
        elif length == 15:
            groups = [number[:4], number[4:10], number[10:]]
        else:
            groups = [number[:4], number[4:10], number[10:]]
        return sep.join(groups)

    def phone(self, kind: str | None = None) -> str:
        kind = kind or self.rng.choice(["land", "land", "mobile", "mobile", "free", "intl", "paren", "ip"])

        def make() -> str:
            if kind == "mobile":
                return f"{self.rng.choice(['090', '080', '070'])}-{self.digits(4)}-{self.digits(4)}"
            if kind == "free":
                return f"0120-{self.digits(3)}-{self.digits(3)}"
            if kind == "ip":
                return f"050-{self.digits(4)}-{self.digits(4)}"
            if kind == "intl":
                return self.rng.choice(
                    [
                        f"+81-90-{self.digits(4)}-{self.digits(4)}",
                        f"+81 3 {self.digits(4)} {self.digits(4)}",
                        f"+81-6-{self.digits(4)}-{self.digits(4)}",
                    ]
                )
            area = self.rng.choice(["03", "06", "045", "052", "011", "092", "0466", "075", "022"])
            local = 10 - len(area)
            mid = 4 if len(area) == 2 else (3 if len(area) == 3 else 2)
            a, b = self.digits(mid), self.digits(local - mid)
            if kind == "paren":
                return f"{area}({a}){b}"
            return f"{area}-{a}-{b}"

        return self.maybe_fullwidth(self.unique(make))

    def postal(self) -> str:
        return self.maybe_fullwidth(f"{self.rng.randint(100, 999)}-{self.digits(4)}")

    def bank_account(self) -> str:
        return self.unique(lambda: str(self.rng.randint(1, 9)) + self.digits(6))

    def bank(self) -> str:
        return self.rng.choice(
            ["みずほ銀行", "三菱UFJ銀行", "三井住友銀行", "りそな銀行", "横浜銀行", "千葉銀行"]
        )

    def branch(self) -> str:
        return (
            self.rng.choice(["渋谷", "新宿", "丸の内", "梅田", "名古屋駅前", "横浜駅前", "札幌", "博多"])
            + "支店"
        )

    def passport(self) -> str:
        prefix = self.rng.choice(["TK", "TR", "TZ", "MZ", "MU", "TH", "RE"])
        return self.unique(lambda: prefix + self.digits(7))

    def licence(self) -> str:
        def make() -> str:
            code = self.rng.choice(["10", "30", "30", "45", "54", "62", "63", "90", "22", "43", "44"])
            first10 = code + f"{self.rng.randint(0, 99):02d}" + self.digits(6)
            return first10 + licence_check(first10) + self.rng.choice("0001")

        return self.unique(make)

    def pension(self) -> str:
        number = self.unique(lambda: str(self.rng.randint(1, 9)) + self.digits(3) + self.digits(6))
        return self.rng.choice([f"{number[:4]}-{number[4:]}", f"{number[:4]}-{number[4:]}", number])

    # ---- hard negatives (numbers that look like the above) ---------------------------------

    def my_number_lookalike(self) -> str:
        """A 4-4-4 number that passes the My Number check digit (used as order/tracking numbers)."""
        first = str(self.rng.randint(1, 9)) + self.digits(10)
        d = first + my_number_check(first)
        return f"{d[:4]}-{d[4:8]}-{d[8:]}"

    def jan(self) -> str:
        first = self.rng.choice(["49", "45"]) + self.digits(10)
        return first + ean13_check(first)

    def isbn(self) -> str:
        """An ISBN-13 of a Japanese publisher, hyphenated as printed (978-4-06-512345-6)."""
        publisher = self.rng.choice(["06", "10", "08", "04", "344", "7741", "297"])
        title = self.digits(8 - len(publisher))
        digits = "9784" + publisher + title
        return f"978-4-{publisher}-{title}-{ean13_check(digits)}"

    def money(self) -> str:
        amount = self.rng.randint(1000, 99_000_000)
        return self.rng.choice([f"￥{amount:,}", f"{amount:,}円", f"金額 {amount:,} 円（税込）"])

    # ---- text values ---------------------------------------------------------------------

    def name(self) -> str:
        sep = self.rng.choice([" ", " ", "　", ""])
        return f"{self.fake.last_name()}{sep}{self.fake.first_name()}"

    def kana_name(self) -> str:
        return f"{self.fake.last_kana_name()} {self.fake.first_kana_name()}"

    def roman_name(self) -> str:
        return f"{self.fake.first_romanized_name()} {self.fake.last_romanized_name()}"

    def address(self) -> str:
        f = self.fake
        town = str(f.town())
        while any(w in town for w in ("タワー", "ヒルズ", "ビル", "ＪＰ")):
            # A few of Faker's towns are building names; in an address the building follows
            # the block number, it does not replace the town.
            town = str(f.town())
        head = f"{f.prefecture()}{f.city()}{town}"
        style = self.rng.random()
        if style < 0.4:
            return (
                head + f"{self.rng.randint(1, 9)}丁目{self.rng.randint(1, 30)}番{self.rng.randint(1, 20)}号"
            )
        if style < 0.85:
            return head + f"{self.rng.randint(1, 9)}-{self.rng.randint(1, 30)}-{self.rng.randint(1, 20)}"
        return head + self.maybe_fullwidth(f"{self.rng.randint(1, 9)}-{self.rng.randint(1, 30)}", 1.0)

    def company(self) -> str:
        return str(self.fake.company())

    def domain(self) -> str:
        word = self.rng.choice(
            [
                "sakura-shoji",
                "tokai-denki",
                "hinode",
                "minato-sys",
                "kita-logi",
                "aozora",
                "fujimi-tec",
                "kaede",
            ]
        )
        return f"{word}.{self.rng.choice(['co.jp', 'co.jp', 'jp', 'com', 'ne.jp'])}"

    def email(self, roman: str | None = None) -> str:
        def make() -> str:
            first, last = (roman or self.roman_name()).lower().split()
            local = self.rng.choice(
                [f"{first}.{last}", f"{first[0]}-{last}", f"{last}{self.rng.randint(1, 99)}"]
            )
            return f"{local}@{self.domain()}"

        return self.unique(make)

    def birth_date(self) -> str:
        y, m, d = self.rng.randint(1950, 2004), self.rng.randint(1, 12), self.rng.randint(1, 28)
        style = self.rng.choice(["kanji", "kanji", "slash", "wareki", "iso"])
        if style == "kanji":
            return f"{y}年{m}月{d}日"
        if style == "slash":
            return f"{y}/{m:02d}/{d:02d}"
        if style == "iso":
            return f"{y}-{m:02d}-{d:02d}"
        if y >= 1989:
            return f"平成{y - 1988}年{m}月{d}日"
        return f"昭和{y - 1925}年{m}月{d}日"

    def english_birth_date(self) -> str:
        y, m, d = self.rng.randint(1950, 2004), self.rng.randint(1, 12), self.rng.randint(1, 28)
        month = datetime(2000, m, 1).strftime("%B")
        return self.rng.choice([f"{month} {d}, {y}", f"{d} {month} {y}", f"{y}-{m:02d}-{d:02d}"])

    def plain_date(self) -> str:
        y, m, d = self.rng.randint(2022, 2026), self.rng.randint(1, 12), self.rng.randint(1, 28)
        return self.rng.choice([f"{y}年{m}月{d}日", f"{y}/{m:02d}/{d:02d}", f"令和{y - 2018}年{m}月{d}日"])

    def marking(self, english: bool = False) -> str:
        if english:
            return self.rng.choice(
                ["Confidential", "CONFIDENTIAL", "Strictly Confidential", "Internal Use Only"]
            )
        return self.rng.choice(["社外秘", "社外秘", "極秘", "部外秘", "取扱注意", "関係者外秘"])

    def _id(
        self, n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    ) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def share_link(self) -> str:
        kind = self.rng.choice(["gdrive", "gdocs", "dropbox", "box", "onedrive", "sharepoint"])
        if kind == "gdrive":
            return f"https://drive.google.com/file/d/1{self._id(32)}/view?usp=sharing"
        if kind == "gdocs":
            return f"https://docs.google.com/spreadsheets/d/1{self._id(43)}/edit?usp=sharing"
        if kind == "dropbox":
            return f"https://www.dropbox.com/scl/fi/{self._id(21).lower()}/meibo.xlsx?rlkey={self._id(25).lower()}&dl=0"
        if kind == "box":
            return f"https://{self.rng.choice(['sakura', 'minato', 'hinode'])}.app.box.com/s/{self._id(32).lower()}"
        if kind == "onedrive":
            return f"https://1drv.ms/x/s!{self._id(30)}"
        return (
            f"https://{self.rng.choice(['contoso', 'hinodejp'])}-my.sharepoint.com/:x:/g/personal/"
            f"t_yamada_contoso_onmicrosoft_com/E{self._id(45)}?e={self._id(6)}"
        )

    def password(self) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        core = [self.rng.choice(alphabet) for _ in range(self.rng.randint(9, 13))]
        core.insert(self.rng.randint(1, len(core) - 1), self.rng.choice("#$%&!@*+"))
        core.insert(self.rng.randint(1, len(core) - 1), self.rng.choice("23456789"))
        return "".join(core)

    def api_key(self) -> tuple[str, str]:
        """(label line prefix, token)."""
        kind = self.rng.choice(["aws", "aws_secret", "github", "slack"])
        if kind == "aws":
            return "aws_access_key_id = ", "AKIA" + self._id(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        if kind == "aws_secret":
            return "aws_secret_access_key = ", self._id(
                40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            )
        if kind == "github":
            return "GITHUB_TOKEN=", "ghp_" + self._id(36)
        return "SLACK_BOT_TOKEN=", f"xoxb-{self.digits(12)}-{self.digits(13)}-{self._id(24)}"


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


class Writer:
    """Builds text line by line; entities written through :meth:`e` become ground truth."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._line: list[str] = []
        self.truth: list[Entity] = []

    def t(self, text: str) -> Writer:
        self._line.append(text)
        return self

    def e(self, entity_type: str, value: str) -> Writer:
        assert entity_type in ENTITY_TYPES, entity_type
        self._line.append(value)
        self.truth.append((entity_type, value))
        return self

    def nl(self, text: str = "") -> Writer:
        self._line.append(text)
        self.lines.append("".join(self._line))
        self._line = []
        return self


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    truth: tuple[Entity, ...] = ()


def ent(entity_type: str, value: str) -> Cell:
    return Cell(value, ((entity_type, value),))


def plain(text: str) -> Cell:
    return Cell(text)


@dataclass(frozen=True, slots=True)
class Doc:
    """One labelled document: free text (``lines``) and/or a table (header + rows)."""

    name: str
    title: str
    lines: tuple[str, ...]
    truth: tuple[Entity, ...]
    header: tuple[str, ...] = ()
    rows: tuple[tuple[Cell, ...], ...] = ()
    marking: Entity | None = None  # a confidential marking to put in the page header, if any

    @property
    def all_truth(self) -> tuple[Entity, ...]:
        cells = tuple(t for row in self.rows for c in row for t in c.truth)
        mark = (self.marking,) if self.marking else ()
        return (*mark, *self.truth, *cells)

    def text_lines(self, sep: str = "\t") -> list[str]:
        out = [self.marking[1]] if self.marking else []
        out.extend(self.lines)
        if self.rows:
            out.append(sep.join(self.header))
            out.extend(sep.join(c.text for c in row) for row in self.rows)
        return out

    @property
    def text(self) -> str:
        return "\n".join(self.text_lines()) + "\n"


def _doc(
    name: str,
    title: str,
    w: Writer,
    header: tuple[str, ...] = (),
    rows: tuple[tuple[Cell, ...], ...] = (),
    marking: Entity | None = None,
) -> Doc:
    if w._line:
        w.nl()
    return Doc(name, title, tuple(w.lines), tuple(w.truth), header, rows, marking)


def signature(g: Gen, w: Writer, english: bool = False) -> None:
    company = g.company()
    w.nl("-" * 30)
    if english:
        roman = g.roman_name()
        w.e("person_name", roman).nl()
        w.nl(f"Sales Department, {company}")
        w.t("Tel: ").e("phone_number", g.phone("intl")).nl()
        w.t("Email: ").e("email_address", g.email(roman)).nl()
        return
    w.nl(f"{company} {g.rng.choice(['営業部', '総務部', '人事部', '経理部', '情報システム部'])}")
    w.e("person_name", g.name()).nl()
    w.t("〒").e("postal_code", g.postal()).t(" ").e("address", g.address()).nl()
    w.nl(g.fake.building_name() + f"{g.rng.randint(2, 12)}F")
    w.t("TEL: ").e("phone_number", g.phone("land"))
    if g.rng.random() < 0.3:
        w.t(f"（内線 {g.rng.randint(100, 9999)}）")
    w.t("  FAX: ").e("phone_number", g.phone("land")).nl()
    if g.rng.random() < 0.5:
        w.t("携帯: ").e("phone_number", g.phone("mobile")).nl()
    w.t("E-mail: ").e("email_address", g.email()).nl()


def customer_list(g: Gen, n: int, name: str, kana: bool = False) -> Doc:
    header = [
        "No",
        "氏名",
        *(["フリガナ"] if kana else []),
        "生年月日",
        "郵便番号",
        "住所",
        "電話番号",
        "メールアドレス",
    ]
    rows = []
    for i in range(1, n + 1):
        cells = [plain(str(i)), ent("person_name", g.name())]
        if kana:
            cells.append(ent("person_name", g.kana_name()))
        cells += [
            ent("date_of_birth", g.birth_date()),
            ent("postal_code", g.postal()),
            ent("address", g.address()),
            ent("phone_number", g.phone(g.rng.choice(["land", "mobile", "mobile"]))),
            ent("email_address", g.email()),
        ]
        rows.append(tuple(cells))
    w = Writer()
    w.nl("顧客名簿（会員登録者一覧）")
    w.nl(f"出力日: {g.plain_date()}  件数: {n}件")
    return _doc(
        name,
        "顧客名簿",
        w,
        header=tuple(header),
        rows=tuple(rows),
        marking=("confidential_marking", "社外秘"),
    )


def hr_notice(g: Gen, name: str) -> Doc:
    w = Writer()
    mark = g.marking()
    w.t("【").e("confidential_marking", mark).t("】人事部より 入社手続きのお知らせ").nl()
    w.nl()
    w.nl(f"{g.plain_date()}付で下記の方が入社されます。社会保険・給与の手続きに使用します。")
    for _ in range(g.rng.randint(2, 3)):
        w.nl()
        w.t("社員番号: ").t(str(g.rng.randint(100000, 999999))).nl()
        w.t("氏名: ").e("person_name", g.name()).t("（").e("person_name", g.kana_name()).t("）").nl()
        w.t("生年月日: ").e("date_of_birth", g.birth_date()).nl()
        w.t("個人番号（マイナンバー）: ").e("my_number", g.my_number()).nl()
        w.t("基礎年金番号: ").e("pension_number", g.pension()).nl()
        w.t("現住所: 〒").e("postal_code", g.postal()).t(" ").e("address", g.address()).nl()
        w.t("給与振込口座: ").t(f"{g.bank()} {g.branch()} 普通預金 口座番号 ").e(
            "bank_account", g.bank_account()
        ).nl()
        w.t("緊急連絡先: ").e("phone_number", g.phone("mobile")).nl()
    w.nl()
    w.nl(
        f"入社日 {g.plain_date()}、配属先 {g.rng.choice(['営業一課', '経理課', '開発部'])}。社長秘書室にも共有済みです。"
    )
    w.t("ご不明な点は人事部（").e("phone_number", g.phone("land")).t("）までお問い合わせください。").nl()
    w.nl("本メールの内容は関係者以外への転送を禁止します。")
    signature(g, w)
    return _doc(name, "入社手続き", w)


def invoice(g: Gen, name: str) -> Doc:
    w = Writer()
    w.nl("請 求 書")
    w.t("請求書番号: INV-").t(
        f"{g.rng.randint(2022, 2026)}{g.rng.randint(1, 12):02d}-{g.rng.randint(1, 9999):04d}"
    ).nl()
    w.nl(f"発行日: {g.plain_date()}")
    w.nl(f"{g.company()} 御中")
    w.nl()
    w.nl(g.company())
    w.t("登録番号: ").e("corporate_number", g.corporate_number(invoice=True)).nl()
    w.t("〒").e("postal_code", g.postal()).t(" ").e("address", g.address()).nl()
    w.t("TEL ").e("phone_number", g.phone("land")).nl()
    w.t("担当: ").e("person_name", g.name()).nl()
    w.nl()
    w.nl("品名  JANコード  数量  単価  金額")
    for _ in range(g.rng.randint(2, 4)):
        product = g.rng.choice(["コピー用紙A4", "トナーカートリッジ", "USBメモリ 32GB", "ボールペン 10本入"])
        w.nl(f"{product}  {g.jan()}  {g.rng.randint(1, 50)}  {g.rng.randint(100, 9999):,}  {g.money()}")
    w.nl(f"書籍「業務改善の手引き」  ISBN{g.isbn()}  1  {g.rng.randint(1000, 4000):,}  {g.money()}")
    w.nl(f"合計金額 {g.money()}")
    w.nl(f"お支払期限: {g.plain_date()}")
    w.t(f"お振込先: {g.bank()} {g.branch()} 普通 ").e("bank_account", g.bank_account()).nl()
    w.nl("振込手数料は貴社にてご負担ください。")
    return _doc(name, "請求書", w)


def contract(g: Gen, name: str) -> Doc:
    w = Writer()
    mark = g.marking()
    w.e("confidential_marking", mark).nl()
    w.nl("秘密保持契約書")
    a, b = g.company(), g.company()
    w.nl(f"{a}（以下「甲」という）と{b}（以下「乙」という）は、次のとおり秘密保持契約を締結する。")
    w.nl("第1条（目的）甲及び乙は、業務提携の検討のために開示される秘密情報を適切に管理する。")
    w.nl(f"第2条（有効期間）本契約の有効期間は、{g.plain_date()}から1年間とする。")
    w.nl()
    for party in (a, b):
        w.t("所在地: ").e("address", g.address()).nl()
        w.nl(f"名称: {party}")
        w.t("法人番号: ").e("corporate_number", g.corporate_number()).nl()
        w.t("代表取締役 ").e("person_name", g.name()).nl()
        w.nl()
    w.nl(f"契約締結日 {g.plain_date()}")
    return _doc(name, "秘密保持契約書", w)


def identity_check(g: Gen, name: str) -> Doc:
    w = Writer()
    w.nl("本人確認書類の写し（口座開設申込）")
    w.t("お名前: ").e("person_name", g.name()).t(" 様").nl()
    w.t("生年月日: ").e("date_of_birth", g.birth_date()).nl()
    w.t("ご住所: ").e("address", g.address()).nl()
    w.t("運転免許証番号: 第").e("drivers_license", g.licence()).t("号").nl()
    w.t("旅券番号（パスポート番号）: ").e("passport_number", g.passport()).nl()
    w.t("マイナンバー: ").e("my_number", g.my_number()).nl()
    w.t("お支払いカード番号: ").e("credit_card", g.credit_card()).t(
        f"（有効期限 {g.rng.randint(1, 12):02d}/{g.rng.randint(27, 31)}）"
    ).nl()
    w.t("ご連絡先: ").e("phone_number", g.phone()).nl()
    w.nl(f"受付番号: {g.rng.randint(10_000_000, 99_999_999)}  受付日 {g.plain_date()}")
    signature(g, w)
    return _doc(name, "本人確認", w)


def it_handover(g: Gen, name: str) -> Doc:
    w = Writer()
    w.nl("情報システム部です。新しいファイルサーバーとクラウドの接続情報をお送りします。")
    w.nl()
    w.nl(f"サーバー: fs01.{g.domain()}")
    w.t("ログインID: admin").nl()
    w.t("パスワード: ").e("credential", g.password()).nl()
    label, token = g.api_key()
    w.t(label).e("credential", token).nl()
    w.nl()
    w.nl("共有フォルダはこちらです（リンクを知っている全員が閲覧できます）:")
    w.e("share_link", g.share_link()).nl()
    w.nl()
    w.nl("操作方法はヘルプをご覧ください: https://support.google.com/drive/answer/2494822?hl=ja")
    w.nl("Dropboxの使い方: https://help.dropbox.com/ja-jp/share/create-and-share-link")
    w.nl("添付ファイルのパスワードは別途お送りします。パスワードを忘れた場合は再発行してください。")
    w.nl("ワンタイムパスワード: ********")
    signature(g, w)
    return _doc(name, "接続情報", w)


def english_mail(g: Gen, name: str) -> Doc:
    w = Writer()
    w.t("[").e("confidential_marking", g.marking(english=True)).t("]").nl()
    w.nl("Hi team,")
    w.nl("Please find below the details of the new customer for the Osaka branch.")
    w.t("Name: ").e("person_name", g.roman_name()).nl()
    w.t("Date of birth: ").e("date_of_birth", g.english_birth_date()).nl()
    w.t("Phone: ").e("phone_number", g.phone("intl")).nl()
    w.t("Email: ").e("email_address", g.email()).nl()
    w.t("Card number: ").e("credit_card", g.credit_card()).nl()
    w.t("Passport No.: ").e("passport_number", g.passport()).nl()
    w.nl(f"Order no. ORD-{g.rng.randint(100000, 999999)}, total {g.money()}, shipped on {g.plain_date()}.")
    w.t("The signed contract is here: ").e("share_link", g.share_link()).nl()
    w.t("Portal login: ").e("email_address", g.email()).t(" / temporary password: ").e(
        "credential", g.password()
    ).nl()
    w.nl(
        "For help with sharing, see https://support.microsoft.com/en-us/office/share-onedrive-files-and-folders"
    )
    signature(g, w, english=True)
    return _doc(name, "customer details", w)


def order_confirmation(g: Gen, name: str) -> Doc:
    """Hard negatives only: numbers, dates, money and words that look like entities and are not."""
    w = Writer()
    w.nl("ご注文ありがとうございます。以下の内容で承りました。")
    w.nl(f"注文番号: {g.my_number_lookalike()}")
    w.nl(f"ご注文日: {g.plain_date()}")
    w.nl(f"お問い合わせ伝票番号: {g.my_number_lookalike()}")
    w.nl(f"商品: ワイヤレスマウス  JAN {g.jan()}  数量 {g.rng.randint(1, 5)}")
    w.nl(f"商品: A4ファイル 10冊  JANコード: {g.jan()}")
    w.nl(f"お支払金額: {g.money()}")
    w.nl(f"お届け予定日: {g.plain_date()} 14:00-16:00")
    w.nl(f"会員ID: {g.rng.randint(10_000_000, 99_999_999)}  ポイント残高 {g.rng.randint(100, 9999):,} pt")
    w.nl("配送状況の確認: https://www.example-shop.jp/help/tracking")
    w.nl("よくある質問: https://support.google.com/accounts/answer/185833")
    w.nl(f"担当窓口: 社長秘書室 / 営業秘書課（内線 {g.rng.randint(1000, 9999)}）")
    w.nl("パスワードの再設定はマイページから行えます。")
    w.nl(f"型番 {g.rng.choice(['KX', 'PN', 'SR'])}-{g.rng.randint(100, 999)}-{g.rng.randint(1000, 9999)}")
    w.nl(f"品番: {g.rng.randint(100, 999)}-{g.digits(4)}  色: ブラック")
    return _doc(name, "注文確認", w)


def minutes(g: Gen, name: str) -> Doc:
    """Meeting minutes: a mix of one or two entities in otherwise plain business prose."""
    w = Writer()
    w.t("【").e("confidential_marking", g.marking()).t("】第").t(str(g.rng.randint(1, 40))).t(
        "回 経営会議 議事録"
    ).nl()
    w.nl(f"日時: {g.plain_date()} 10:00-11:30  場所: 本社 第二会議室")
    w.t("出席者: ").e("person_name", g.name()).t("、").e("person_name", g.name()).t("、").e(
        "person_name", g.name()
    ).nl()
    w.nl(
        f"1. 第{g.rng.randint(1, 4)}四半期の売上は {g.money()} で前年同期比 {g.rng.randint(90, 130)}% となった。"
    )
    w.nl(f"2. {g.company()}との業務提携について、秘密保持契約の締結を進める。")
    w.nl("3. 次回は資料を共有フォルダに置くこと。")
    w.t("   共有先: ").e("share_link", g.share_link()).nl()
    w.nl(f"次回開催: {g.plain_date()}")
    return _doc(name, "議事録", w)


def employee_roster(g: Gen, n: int, name: str) -> Doc:
    header = ("社員番号", "氏名", "生年月日", "個人番号", "基礎年金番号", "運転免許証番号", "振込口座")
    rows = []
    for _ in range(n):
        rows.append(
            (
                plain(str(g.rng.randint(100000, 999999))),
                ent("person_name", g.name()),
                ent("date_of_birth", g.birth_date()),
                ent("my_number", g.my_number()),
                ent("pension_number", g.pension()),
                ent("drivers_license", g.licence()),
                ent("bank_account", g.bank_account()),
            )
        )
    w = Writer()
    w.nl("従業員台帳（年末調整用）")
    return _doc(
        name, "従業員台帳", w, header=header, rows=tuple(rows), marking=("confidential_marking", "極秘")
    )


def card_payments(g: Gen, n: int, name: str) -> Doc:
    header = ("取引ID", "会員名", "カード番号", "金額", "決済日")
    rows = []
    for _ in range(n):
        rows.append(
            (
                plain(f"TX{g.rng.randint(10**9, 10**10 - 1)}"),
                ent("person_name", g.name()),
                ent("credit_card", g.credit_card()),
                plain(g.money()),
                plain(g.plain_date()),
            )
        )
    w = Writer()
    w.nl("カード決済明細")
    return _doc(name, "カード決済明細", w, header=header, rows=tuple(rows))


def corporate_list(g: Gen, n: int, name: str) -> Doc:
    header = ("取引先名", "法人番号", "適格請求書発行事業者登録番号", "代表電話", "所在地")
    rows = []
    for _ in range(n):
        rows.append(
            (
                plain(g.company()),
                ent("corporate_number", g.corporate_number()),
                ent("corporate_number", g.corporate_number(invoice=True)),
                ent("phone_number", g.phone("land")),
                ent("address", g.address()),
            )
        )
    w = Writer()
    w.nl("取引先マスタ")
    return _doc(name, "取引先マスタ", w, header=header, rows=tuple(rows))


def signature_only(g: Gen, name: str) -> Doc:
    w = Writer()
    w.nl("お疲れ様です。")
    w.nl("先ほどの件、承知しました。明日の打ち合わせでご相談させてください。")
    w.nl("よろしくお願いいたします。")
    signature(g, w)
    return _doc(name, "Re: 打ち合わせ", w)


def cp50221_notice(g: Gen, name: str) -> Doc:
    """Text with the Microsoft extension characters ①, ㈱ and 髙 (CP50221 / cp932 only)."""
    w = Writer()
    first = g.fake.first_name()
    w.nl(f"㈱{g.fake.last_name()}商事 御中")
    w.nl("下記の書類をご確認ください。")
    w.nl("①請求書 ②納品書 ③検収書")
    w.t("ご担当: ").e("person_name", f"髙橋 {first}").t(" 様").nl()
    w.t("ご連絡先: ").e("phone_number", g.phone("land")).nl()
    w.t("〒").e("postal_code", g.postal()).t(" ").e("address", g.address()).nl()
    return _doc(name, "書類送付のご案内", w)


def make_docs(g: Gen) -> list[Doc]:
    """The corpus documents (order fixed; everything derives from the seed)."""
    docs: list[Doc] = []
    makers: list[Callable[[str], Doc]] = [
        lambda n: hr_notice(g, n),
        lambda n: invoice(g, n),
        lambda n: contract(g, n),
        lambda n: identity_check(g, n),
        lambda n: it_handover(g, n),
        lambda n: english_mail(g, n),
        lambda n: order_confirmation(g, n),
        lambda n: minutes(g, n),
        lambda n: signature_only(g, n),
    ]
    for round_ in range(4):
        for i, make in enumerate(makers):
            docs.append(make(f"doc{round_}{i}"))
    docs.append(customer_list(g, 12, "customers_a", kana=True))
    docs.append(customer_list(g, 12, "customers_b"))
    docs.append(customer_list(g, 10, "customers_c", kana=True))
    docs.append(employee_roster(g, 8, "roster_a"))
    docs.append(employee_roster(g, 8, "roster_b"))
    docs.append(card_payments(g, 10, "cards_a"))
    docs.append(corporate_list(g, 10, "partners_a"))
    return docs


# --------------------------------------------------------------------------------------------
# Rendering: files
# --------------------------------------------------------------------------------------------


def render_txt(doc: Doc, encoding: str = "utf-8") -> bytes:
    return doc.text.replace("\n", "\r\n").encode(encoding)


def render_delimited(doc: Doc, delimiter: str, encoding: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    for line in ([doc.marking[1]] if doc.marking else []) + list(doc.lines):
        writer.writerow([line])
    if doc.rows:
        writer.writerow(doc.header)
        for row in doc.rows:
            writer.writerow([c.text for c in row])
    return buf.getvalue().encode(encoding)


def render_html(doc: Doc) -> bytes:
    body = []
    if doc.marking:
        body.append(f'<div class="label">{escape(doc.marking[1])}</div>')
    for line in doc.lines:
        if line.startswith("https://"):
            body.append(f'<p><a href="{escape(line)}">{escape(line)}</a></p>')
        else:
            body.append(f"<p>{escape(line)}</p>" if line else "<br>")
    if doc.rows:
        body.append("<table>")
        body.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in doc.header) + "</tr>")
        for row in doc.rows:
            body.append("<tr>" + "".join(f"<td>{escape(c.text)}</td>" for c in row) + "</tr>")
        body.append("</table>")
    page = (
        '<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8">'
        f"<title>{escape(doc.title)}</title><style>td {{ padding: 2px 8px; }}</style></head>\n"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    return page.encode("utf-8")


def render_json(doc: Doc) -> bytes:
    data: dict[str, object] = {"title": doc.title}
    if doc.marking:
        data["classification"] = doc.marking[1]
    if doc.lines:
        data["body"] = list(doc.lines)
    if doc.rows:
        data["records"] = [{h: c.text for h, c in zip(doc.header, row, strict=True)} for row in doc.rows]
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def render_xml(doc: Doc) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<document title={quoteattr(doc.title)}>"]
    if doc.marking:
        out.append(f"  <classification>{xml_escape(doc.marking[1])}</classification>")
    for line in doc.lines:
        out.append(f"  <line>{xml_escape(line)}</line>")
    if doc.rows:
        out.append("  <records>")
        for row in doc.rows:
            out.append("    <record>")
            for h, c in zip(doc.header, row, strict=True):
                out.append(f"      <field name={quoteattr(h)}>{xml_escape(c.text)}</field>")
            out.append("    </record>")
        out.append("  </records>")
    out.append("</document>")
    return ("\n".join(out) + "\n").encode("utf-8")


@lru_cache(maxsize=1)
def _pdf_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
    return "HeiseiKakuGo-W5"


def render_pdf(doc: Doc) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    font = _pdf_font()
    size = landscape(A4) if doc.rows else A4
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=size, invariant=True)
    c.setTitle(doc.title)
    font_size = 7.0 if doc.rows else 10.0
    y = size[1] - 50
    for line in doc.text_lines(sep="   "):
        if y < 50:
            c.showPage()
            y = size[1] - 50
        c.setFont(font, font_size)
        c.drawString(40, y, line)
        y -= font_size * 1.6
    c.showPage()
    c.save()
    return buf.getvalue()


_FIXED_TIME = datetime(2025, 4, 1, 9, 0, 0)


def _stable_zip(data: bytes) -> bytes:
    """Rewrite an OOXML package with fixed member timestamps, so the bytes depend on the seed only."""
    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2025-04-01T09:00:00Z", content)
            members.append((info.filename, content))
    return zip_bytes(members)


def render_docx(doc: Doc) -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.author = "sekimori-corpus"
    d.core_properties.created = d.core_properties.modified = _FIXED_TIME
    if doc.marking:
        d.sections[0].header.paragraphs[0].text = doc.marking[1]
    for line in doc.lines:
        d.add_paragraph(line)
    if doc.rows:
        table = d.add_table(rows=1 + len(doc.rows), cols=len(doc.header))
        for j, h in enumerate(doc.header):
            table.cell(0, j).text = h
        for i, row in enumerate(doc.rows, start=1):
            for j, cell in enumerate(row):
                table.cell(i, j).text = cell.text
    buf = io.BytesIO()
    d.save(buf)
    return _stable_zip(buf.getvalue())


def render_xlsx(doc: Doc) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "".join("_" if ch in "[]:*?/\\" else ch for ch in doc.title)[:31]
    if doc.marking:
        ws.append([doc.marking[1]])
    for line in doc.lines:
        ws.append([line])
    if doc.rows:
        ws.append(list(doc.header))
        for row in doc.rows:
            ws.append([c.text for c in row])
    wb.properties.creator = "sekimori-corpus"
    wb.properties.created = wb.properties.modified = _FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    return _stable_zip(buf.getvalue())


def render_pptx(doc: Doc) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    prs = Presentation()
    lines = doc.text_lines(sep="  ")
    for start in range(0, max(1, len(lines)), 14):
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = doc.title
        box = slide.shapes.add_textbox(Inches(0.3), Inches(1.4), Inches(9.4), Inches(5.5))
        frame = box.text_frame
        frame.word_wrap = True
        chunk = lines[start : start + 14]
        frame.text = chunk[0] if chunk else ""
        for line in chunk[1:]:
            para = frame.add_paragraph()
            para.text = line
            para.font.size = Pt(10)
    prs.core_properties.created = prs.core_properties.modified = _FIXED_TIME
    buf = io.BytesIO()
    prs.save(buf)
    return _stable_zip(buf.getvalue())


def zip_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2025, 4, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


#: File renderers by extension.
RENDERERS: dict[str, Callable[[Doc], bytes]] = {
    "txt": lambda d: render_txt(d, "cp932"),
    "csv": lambda d: render_delimited(d, ",", "cp932"),
    "tsv": lambda d: render_delimited(d, "\t", "utf-16"),
    "html": render_html,
    "json": render_json,
    "xml": render_xml,
    "pdf": render_pdf,
    "docx": render_docx,
    "xlsx": render_xlsx,
    "pptx": render_pptx,
}

# --------------------------------------------------------------------------------------------
# Rendering: mail
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _sjis_table() -> dict[str, bytes]:
    """Character -> Shift_JIS double-byte code, preferring codes inside the JIS X 0208 rows and
    the NEC rows (13, 89-92) that CP50221 can express, over the IBM extension rows."""
    table: dict[str, bytes] = {}
    for lead in [*range(0x81, 0xA0), *range(0xE0, 0xEF)]:
        for trail in [*range(0x40, 0x7F), *range(0x80, 0xFD)]:
            code = bytes((lead, trail))
            try:
                ch = code.decode("cp932")
            except UnicodeDecodeError:
                continue
            table.setdefault(ch, code)
    return table


def _sjis_to_jis(code: bytes) -> bytes:
    s1, s2 = code[0], code[1]
    s1 = s1 - 0x40 if s1 >= 0xE0 else s1
    row = (s1 - 0x81) * 2 + (1 if s2 < 0x9F else 2)
    if s2 < 0x7F:
        j2 = s2 - 0x1F
    elif s2 < 0x9F:
        j2 = s2 - 0x20
    else:
        j2 = s2 - 0x7E
    return bytes((row + 0x20, j2))


def encode_cp50221(text: str) -> bytes:
    """ISO-2022-JP as Microsoft writes it (CP50221): JIS X 0208 plus the NEC rows 13 and 89-92,
    switched with ``ESC $ B`` / ``ESC ( B``. Python has no such codec; this is the Shift_JIS
    (cp932) code of each character moved into JIS X 0208 code space."""
    table = _sjis_table()
    out = bytearray()
    double = False
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 0x80:
            if double:
                out += b"\x1b(B"
                double = False
            out += ch.encode("ascii")
            continue
        code = table.get(ch)
        if code is None:
            raise UnicodeEncodeError("cp50221", ch, 0, 1, "not in CP50221")
        if not double:
            out += b"\x1b$B"
            double = True
        out += _sjis_to_jis(code)
    if double:
        out += b"\x1b(B"
    return bytes(out)


_EUC_FIXUPS = str.maketrans({"\uff0d": "\u2212", "\uff5e": "\u301c"})


def encode_text(text: str, charset: str) -> bytes:
    if charset.lower() == "iso-2022-jp":
        return b"\n".join(encode_cp50221(line) for line in text.split("\n"))
    if charset.lower() == "euc-jp":
        # EUC-JP systems write the JIS characters where cp932 has its own (minus, wave dash).
        return text.translate(_EUC_FIXUPS).encode("euc_jp")
    codec = {"shift_jis": "cp932"}.get(charset.lower(), charset)
    return text.encode(codec)


def encoded_word(text: str, charset: str) -> str:
    raw = encode_text(text, charset)
    return f"=?{charset.upper()}?B?{base64.b64encode(raw).decode('ascii')}?="


def _wrap76(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


@dataclass(slots=True)
class MimePart:
    """A leaf or multipart MIME entity built byte for byte (so any charset can be declared)."""

    headers: list[tuple[str, str]]
    body: bytes = b""
    children: list[MimePart] = field(default_factory=list)
    boundary: str = ""

    def to_bytes(self) -> bytes:
        head = b"".join(f"{k}: {v}\r\n".encode("ascii") for k, v in self.headers)
        if not self.children:
            return head + b"\r\n" + self.body
        parts = [head, b"\r\nThis is a multi-part message in MIME format.\r\n"]
        for child in self.children:
            parts.append(f"\r\n--{self.boundary}\r\n".encode("ascii"))
            parts.append(child.to_bytes())
        parts.append(f"\r\n--{self.boundary}--\r\n".encode("ascii"))
        return b"".join(parts)


def text_part(
    text: str, charset: str | None, cte: str, subtype: str = "plain", declared: str | None = None
) -> MimePart:
    """``declared`` is the charset named in the header when it differs from the real one."""
    raw = encode_text(text.replace("\n", "\r\n"), charset or "utf-8")
    label = declared if declared is not None else charset
    ctype = f"text/{subtype}" + (f'; charset="{label}"' if label else "")
    if cte == "base64":
        body = _wrap76(raw)
    elif cte == "quoted-printable":
        body = quopri.encodestring(raw.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    else:
        body = raw
    return MimePart([("Content-Type", ctype), ("Content-Transfer-Encoding", cte)], body)


def attachment_part(filename: str, data: bytes, ctype: str, rfc2231: bool = False) -> MimePart:
    """A base64 attachment. A non-ASCII name is written as most Japanese mailers do (an RFC 2047
    encoded-word inside the quotes), or with ``rfc2231`` as the standard says (RFC 2231 s 4)."""
    if filename.isascii():
        name = disp = f'"{filename}"'
        name_param, disp_param = "name=", "filename="
    elif rfc2231:
        name = disp = "UTF-8''" + quote(filename, safe="")
        name_param, disp_param = "name*=", "filename*="
    else:
        name = disp = f'"{encoded_word(filename, "utf-8")}"'
        name_param, disp_param = "name=", "filename="
    return MimePart(
        [
            ("Content-Type", f"{ctype}; {name_param}{name}"),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", f"attachment; {disp_param}{disp}"),
        ],
        _wrap76(data),
    )


CONTENT_TYPES = {
    "txt": "text/plain",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "html": "text/html",
    "json": "application/json",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "zip": "application/zip",
}


def mail(
    g: Gen,
    subject: str,
    body: MimePart,
    attachments: Iterable[MimePart] = (),
    subject_charset: str = "utf-8",
    when: datetime | None = None,
) -> bytes:
    sender = g.email()
    to = g.email()
    when = when or datetime(2025, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))) + timedelta(
        minutes=g.rng.randint(0, 100_000)
    )
    headers = [
        ("From", f"{encoded_word(g.name(), subject_charset)} <{sender}>"),
        ("To", to),
        ("Subject", encoded_word(subject, subject_charset) if not subject.isascii() else subject),
        ("Date", format_datetime(when)),
        ("Message-ID", f"<{g._id(16)}@{sender.split('@')[1]}>"),
        ("MIME-Version", "1.0"),
    ]
    atts = list(attachments)
    if not atts:
        return MimePart(headers + body.headers, body.body, body.children, body.boundary).to_bytes()
    boundary = f"----=_Part_{g._id(20)}"
    top = MimePart(
        [*headers, ("Content-Type", f'multipart/mixed; boundary="{boundary}"')],
        children=[body, *atts],
        boundary=boundary,
    )
    return top.to_bytes()


def alternative(g: Gen, doc: Doc, charset: str = "utf-8") -> MimePart:
    boundary = f"----=_Alt_{g._id(20)}"
    html = render_html(doc).decode("utf-8").replace('charset="utf-8"', f'charset="{charset}"')
    return MimePart(
        [("Content-Type", f'multipart/alternative; boundary="{boundary}"')],
        children=[
            text_part(doc.text, charset, "base64"),
            text_part(html, charset, "quoted-printable", subtype="html"),
        ],
        boundary=boundary,
    )


# --------------------------------------------------------------------------------------------
# Items: what the tests scan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One rendered file or mail with its ground truth."""

    name: str
    data: bytes
    truth: tuple[Entity, ...]
    description: str
    attachment: str | None = None  # file name of a mail's attachment


def _subject(doc: Doc) -> tuple[str, tuple[Entity, ...]]:
    """The subject of a mail carrying ``doc``: marked like the document, if it is marked."""
    mark = doc.marking or next((t for t in doc.truth if t[0] == "confidential_marking"), None)
    if mark is not None:
        return f"【{mark[1]}】{doc.title}", (mark,)
    return doc.title, ()


def _attachment(doc: Doc, ext: str) -> tuple[MimePart, tuple[Entity, ...]]:
    data = RENDERERS[ext](doc)
    return attachment_part(f"{doc.name}.{ext}", data, CONTENT_TYPES[ext]), doc.all_truth


#: (charset for the body, transfer encoding, declared charset or None to declare the real one)
MAIL_VARIANTS: tuple[tuple[str | None, str, str | None], ...] = (
    ("iso-2022-jp", "7bit", None),
    ("shift_jis", "base64", None),
    ("shift_jis", "8bit", None),
    ("euc-jp", "8bit", None),
    ("utf-8", "base64", None),
    ("utf-8", "quoted-printable", None),
    ("utf-8", "8bit", None),
    ("utf-8", "8bit", "iso-8859-1"),  # a wrong declared charset
    ("shift_jis", "8bit", ""),  # no charset declared at all
)


def build_items(seed: int = 20260401) -> list[Item]:
    """Every rendered mail and file of the corpus, deterministic for a given seed."""
    g = Gen(seed)
    docs = make_docs(g)
    text_docs = [d for d in docs if not d.rows]
    table_docs = [d for d in docs if d.rows]
    items: list[Item] = []

    # Plain files: every document in one or two formats, rotating through every kind.
    exts = list(RENDERERS)
    for i, doc in enumerate(docs):
        chosen = [exts[i % len(exts)]]
        if doc.rows:
            chosen.append(
                exts[(i * 3 + 5) % len(exts)] if exts[(i * 3 + 5) % len(exts)] != chosen[0] else "xlsx"
            )
        for ext in chosen:
            items.append(Item(f"{doc.name}.{ext}", RENDERERS[ext](doc), doc.all_truth, f"file {ext}"))
    # A zip of three files, and a zip nested in a zip.
    inner = [table_docs[0], text_docs[1], text_docs[3]]
    members = [
        (f"{d.name}.{e}", RENDERERS[e](d)) for d, e in zip(inner, ("xlsx", "txt", "docx"), strict=True)
    ]
    items.append(
        Item("bundle.zip", zip_bytes(members), tuple(t for d in inner for t in d.all_truth), "file zip")
    )
    nested_docs = [table_docs[1], text_docs[5]]
    nested = zip_bytes([(f"{nested_docs[0].name}.csv", RENDERERS["csv"](nested_docs[0]))])
    outer = zip_bytes(
        [("inner/archive.zip", nested), (f"{nested_docs[1].name}.pdf", RENDERERS["pdf"](nested_docs[1]))]
    )
    items.append(
        Item("nested.zip", outer, tuple(t for d in nested_docs for t in d.all_truth), "file nested zip")
    )

    # Mails: every text document as a body, rotating charsets and encodings, each carrying an
    # attachment of a rotating kind.
    att_kinds = [*exts, "zip", "nested-zip", "rfc822"]
    for i, doc in enumerate(text_docs):
        charset, cte, declared = MAIL_VARIANTS[i % len(MAIL_VARIANTS)]
        subject, subject_truth = _subject(doc)
        body = text_part(doc.text, charset, cte, declared=declared)
        truth: list[Entity] = [*subject_truth, *doc.all_truth]
        att_doc = docs[(i * 7 + 3) % len(docs)]
        kind = att_kinds[i % len(att_kinds)]
        attachments: list[MimePart] = []
        att_name = {"zip": "資料一式.zip", "nested-zip": "アーカイブ.zip", "rfc822": "forward.eml"}.get(
            kind, f"{att_doc.name}.{kind}"
        )
        if kind in RENDERERS:
            part, t = _attachment(att_doc, kind)
            attachments.append(part)
            truth.extend(t)
        elif kind == "zip":
            data = zip_bytes([(f"{att_doc.name}.xlsx", RENDERERS["xlsx"](att_doc))])
            attachments.append(attachment_part(att_name, data, "application/zip"))
            truth.extend(att_doc.all_truth)
        elif kind == "nested-zip":
            data = zip_bytes(
                [("level1/level2.zip", zip_bytes([(f"{att_doc.name}.docx", RENDERERS["docx"](att_doc))]))]
            )
            attachments.append(attachment_part(att_name, data, "application/zip", rfc2231=True))
            truth.extend(att_doc.all_truth)
        else:
            inner_subject, inner_truth = _subject(att_doc)
            inner_mail = mail(
                g,
                inner_subject,
                text_part(att_doc.text, "iso-2022-jp", "7bit"),
                subject_charset="iso-2022-jp",
            )
            attachments.append(
                MimePart(
                    [
                        ("Content-Type", "message/rfc822"),
                        ("Content-Disposition", f'attachment; filename="{att_name}"'),
                    ],
                    inner_mail,
                )
            )
            truth.extend([*inner_truth, *att_doc.all_truth])
        # Mailers write the subject's encoded-words in the body's charset.
        subject_charset = charset if charset is not None and declared is None else "utf-8"
        raw = mail(g, subject, body, attachments, subject_charset=subject_charset)
        label = (
            f"mail {charset} {cte}"
            + (f" declared={declared!r}" if declared is not None else "")
            + f" + {kind}"
        )
        items.append(Item(f"mail_{i:02d}.eml", raw, tuple(truth), label, att_name))

    # CP50221 extension characters in ISO-2022-JP (and the same text as cp932 declared Shift_JIS).
    for j, (charset, cte) in enumerate((("iso-2022-jp", "7bit"), ("shift_jis", "base64"))):
        doc = cp50221_notice(g, f"cp50221_{j}")
        raw = mail(g, doc.title, text_part(doc.text, charset, cte), subject_charset="iso-2022-jp")
        items.append(Item(f"mail_cp50221_{j}.eml", raw, doc.all_truth, f"mail {charset} with ① ㈱ 髙"))

    # multipart/alternative (text + HTML of the same document): labelled once.
    for j, doc in enumerate([d for d in text_docs if _no_repeats(d)][:4]):
        subject, subject_truth = _subject(doc)
        raw = mail(g, subject, alternative(g, doc, "utf-8" if j % 2 else "iso-2022-jp"))
        items.append(
            Item(f"mail_alt_{j}.eml", raw, (*subject_truth, *doc.all_truth), "mail multipart/alternative")
        )
    return items


def _no_repeats(doc: Doc) -> bool:
    keys = [(t, canonical(t, v)) for t, v in doc.all_truth]
    return len(keys) == len(set(keys))


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_positives: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (item, value)
    misses: list[tuple[str, str]] = field(default_factory=list, repr=False)  # (item, value)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score_item(
    item: str, truth: Iterable[Entity], found: Iterable[Entity], scores: dict[str, TypeScore]
) -> None:
    """Add one item's true/false positives and misses to ``scores`` (see the matching rule)."""
    expected = Counter((t, canonical(t, v)) for t, v in truth)
    originals: dict[tuple[str, str], str] = {}
    for t, v in truth:
        originals.setdefault((t, canonical(t, v)), v)
    for t, v in found:
        key = (t, canonical(t, v))
        s = scores.setdefault(t, TypeScore())
        if expected[key] > 0:
            expected[key] -= 1
            s.tp += 1
        else:
            s.fp += 1
            s.false_positives.append((item, v))
    for (t, c), n in expected.items():
        if n > 0:
            s = scores.setdefault(t, TypeScore())
            s.fn += n
            s.misses.extend([(item, originals[(t, c)])] * n)


def table(scores: dict[str, TypeScore]) -> str:
    lines = [f"{'type':<22}{'truth':>7}{'found':>7}{'tp':>6}{'fp':>6}{'fn':>6}{'prec':>8}{'recall':>8}"]
    for t in ENTITY_TYPES:
        s = scores.get(t, TypeScore())
        lines.append(
            f"{t:<22}{s.tp + s.fn:>7}{s.tp + s.fp:>7}{s.tp:>6}{s.fp:>6}{s.fn:>6}{s.precision:>8.3f}{s.recall:>8.3f}"
        )
    return "\n".join(lines)


def examples(scores: dict[str, TypeScore], limit: int = 8) -> str:
    out = []
    for t in ENTITY_TYPES:
        s = scores.get(t)
        if s is None:
            continue
        if s.misses:
            out.append(f"{t} missed: " + "; ".join(f"{v!r} in {i}" for i, v in s.misses[:limit]))
        if s.false_positives:
            out.append(
                f"{t} false positives: " + "; ".join(f"{v!r} in {i}" for i, v in s.false_positives[:limit])
            )
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Fixtures for the record-count checks
# --------------------------------------------------------------------------------------------


def record_fixtures(seed: int = 20260402) -> dict[str, bytes]:
    """Files for the ``records`` checks.

    - ``customers_300.xlsx`` / ``customers_300.csv``: one customer list of 300 rows;
    - ``signature.eml``: a short reply whose only personal data is the sender's signature;
    - ``alternative.eml`` / ``plain.eml``: the same document as multipart/alternative (text and
      HTML) and as text/plain only, with identical headers.
    """
    g = Gen(seed)
    big = customer_list(g, 300, "customers_300")
    sig = signature_only(g, "signature")
    doc = next(d for d in (hr_notice(g, f"alt{k}") for k in range(20)) if _no_repeats(d))
    when = datetime(2025, 6, 2, 10, 30, tzinfo=timezone(timedelta(hours=9)))
    subject, _ = _subject(doc)
    alt_body = alternative(g, doc, "utf-8")
    plain_body = text_part(doc.text, "utf-8", "base64")
    return {
        "customers_300.xlsx": render_xlsx(big),
        "customers_300.csv": render_delimited(big, ",", "cp932"),
        "signature.eml": mail(
            g, "Re: 打ち合わせの件", text_part(sig.text, "iso-2022-jp", "7bit"), subject_charset="iso-2022-jp"
        ),
        "alternative.eml": mail(Gen(seed + 1), subject, alt_body, when=when),
        "plain.eml": mail(Gen(seed + 1), subject, plain_body, when=when),
    }


# --------------------------------------------------------------------------------------------
# Command line: write the corpus out, or score the classifiers over it (for tuning)
# --------------------------------------------------------------------------------------------


def evaluate(items: Sequence[Item]) -> dict[str, TypeScore]:
    """Scan every item (through :func:`classifiers.scan_message` / ``scan_bytes``) and score it."""
    from classifiers import scan_bytes, scan_message

    scores: dict[str, TypeScore] = {t: TypeScore() for t in ENTITY_TYPES}
    for item in items:
        result = scan_message(item.data) if item.name.endswith(".eml") else scan_bytes(item.data, item.name)
        found = [(f.type, f.value) for p in result.parts if p.kind != "header" for f in p.findings]
        score_item(item.name, item.truth, found, scores)
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.classifiers.corpus [--write DIR] [--examples N]``: print the per-type
    precision/recall table with examples of misses and false positives; with ``--write``, also
    write every item (and a ``truth.jsonl``) to DIR, e.g. to run ``sekimori scan`` over it."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tests.classifiers.corpus")
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--write", metavar="DIR", help="write the rendered items and their truth here")
    parser.add_argument("--examples", type=int, default=10, help="examples per type and kind of error")
    args = parser.parse_args(argv)
    items = build_items(args.seed)
    if args.write:
        out = Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "truth.jsonl").open("w", encoding="utf-8") as fh:
            for item in items:
                (out / item.name).write_bytes(item.data)
                record = {"name": item.name, "description": item.description, "truth": item.truth}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    scores = evaluate(items)
    print(table(scores))
    print()
    print(examples(scores, limit=args.examples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
