"""Helpers for the number detector tests: written forms as people type them, span checks."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from types import ModuleType

from classifiers.engine import default_engine
from classifiers.model import Finding

_FULL = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ－",
)


def fullwidth(text: str) -> str:
    return text.translate(_FULL)


def group(digits: str, sizes: Sequence[int], sep: str) -> str:
    """``digits`` cut into groups of ``sizes`` joined by ``sep``."""
    assert sum(sizes) == len(digits)
    out, i = [], 0
    for n in sizes:
        out.append(digits[i : i + n])
        i += n
    return sep.join(out)


#: How people write one grouped number: (separator, full-width?)
STYLES: tuple[tuple[str, bool], ...] = (
    ("-", False),
    (" ", False),
    ("", False),
    (".", False),
    ("ー", True),  # 全角数字 + 長音符
    ("－", True),  # 全角数字 + 全角ハイフン
    ("-", True),
    ("　", True),  # full-width space
    ("ー", False),
    ("‐", False),
)


def written_forms(digits: str, sizes: Sequence[int], count: int) -> Iterator[str]:
    """``count`` written forms of ``digits``, cycling through :data:`STYLES`."""
    for i in range(count):
        sep, wide = STYLES[i % len(STYLES)]
        text = group(digits, sizes, sep)
        yield fullwidth(text) if wide else text


def rng(name: str) -> random.Random:
    return random.Random(f"sekimori-{name}")


def only(findings: Sequence[Finding], entity_type: str) -> list[Finding]:
    return [f for f in findings if f.type == entity_type]


def assert_exact(text: str, findings: Sequence[Finding], entity_type: str, written: str) -> Finding:
    """Exactly one finding of the type, whose value is ``written`` at its place in ``text``."""
    hits = only(findings, entity_type)
    assert len(hits) == 1, (text, hits)
    f = hits[0]
    assert f.value == written, (text, f)
    assert text[f.span[0] : f.span[1]] == written
    assert text.index(written) == f.span[0]
    return f


def scan_engine(text: str) -> list[Finding]:
    return default_engine().scan_text(text)


def detector_scan(module: ModuleType, text: str) -> list[Finding]:
    found: list[Finding] = list(module.scan(text))
    return found


#: Texts that no number detector may report (hard negatives shared by all of them).
HARD_NEGATIVES: tuple[str, ...] = (
    "注文番号 123456789012 を承りました",
    "ご注文番号：1234-5678-9018",
    "ORD-123456789012",
    "ORD-4111111111111111",
    "お問い合わせ伝票番号 1234-5678-9012",
    "お問い合わせ伝票番号 ９９９９ー１２３４ー５６７８",
    "JAN 4901234567894",
    "JANコード: 4512345678906",
    "お支払い ¥1,234,567,890 (税込)",
    "合計 123,456円",
    "会議は 10:30-12:00 です",
    "version 1.2.3 / v10.4.15.2",
    "サーバ 192.168.100.200 と 10.0.0.1",
    "社長秘書の田中です",
    "生年月日 1985-04-12",
    "2024年4月12日 2024/04/12",
)
