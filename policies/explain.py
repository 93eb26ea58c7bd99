"""What people read about a decision, in Japanese and English, from one table.

Each piece of evidence a condition produces carries a ``code`` (which condition said so) and its
``params``; :data:`DETAILS` holds the sentence for each code in both languages, so the UI pages,
the notices and the exports say the same thing. Locations (``body``, ``list.xlsx!顧客!C12``,
``notes.txt!R12``) and the names of truncation reasons are rendered here too.

>>> detail("records", {"n": 50}, "ja"), detail("records", {"n": 50}, "en")
('50 人分の個人情報', 'personal data of 50 people')
>>> detail("entity", {"type": "my_number", "n": 2, "score": 0.5}, "ja")
'マイナンバー 2 件'
>>> line({"code": "external_recipients", "count": 2, "values": ["a.example", "b.example"]}, "ja")
'社外の宛先（2 件）：a.example、b.example'
>>> line({"code": "entity", "params": {"type": "phone_number", "n": 3}, "values": ["090-****-5678"],
...       "locations": ["顧客.csv!R2"]}, "en")
'3 × Phone number: 090-****-5678 (in 顧客.csv › row 2)'
>>> location("body", "ja"), location("顧客.csv!R12", "ja"), location("list.xlsx!顧客!C12", "en")
('本文', '顧客.csv › 12 行目', 'list.xlsx › 顧客 › cell C12')
>>> location("attachment:fwd.eml/body[2]", "ja")
'添付メール fwd.eml › 本文 (2)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import regex

from classifiers.detectors import display_name

#: code -> (Japanese, English); ``str.format`` templates over the evidence's params.
DETAILS: Mapping[str, tuple[str, str]] = {
    "external_recipients": ("社外の宛先", "external recipients"),
    "external_visible": ("To・Cc に表示される社外のアドレス", "external addresses in To and Cc"),
    "external_domains": ("社外の宛先ドメインの数", "distinct external recipient domains"),
    "domain_listed": ("指定された社外ドメインへの宛先", "external recipient domains in the list"),
    "domain_unlisted": ("指定以外の社外ドメインへの宛先", "external recipient domains not in the list"),
    "new_domain": (
        "この送信者がこれまで送信したことのないドメイン",
        "domains this sender never wrote to before",
    ),
    "entity": ("{type} {n} 件", "{n} × {type}"),
    "records": ("{n} 人分の個人情報", "personal data of {n} people"),
    "confidential": ("機密表示", "confidential marking"),
    "encrypted": ("暗号化されていて検査できない部分", "encrypted parts (not inspected)"),
    "truncated": ("検査しきれなかった部分（{reasons}）", "not fully inspected: {reasons}"),
    "not_fully_inspected": ("すべては検査できませんでした（{reasons}）", "not fully inspected: {reasons}"),
    "type_mismatch": (
        "ファイル名または申告された形式が内容と一致しません",
        "file name or declared type disagrees with the content",
    ),
    "attachments": ("添付ファイル", "attachments"),
    "size": ("メールのサイズ {n} バイト", "message size {n} bytes"),
    "service": ("アップロード先のサービス", "service"),
    "sharing_scope": ("共有範囲", "sharing scope"),
    "host": ("送信先のホスト", "destination host"),
    "tenant": ("送信先のテナント", "destination tenant"),
    "no_approver": (
        "この送信者の承認者が見つからないため、情報セキュリティ担当の確認に回しました",
        "no approver found for this sender: sent to security review",
    ),
}

#: Why a part was not fully inspected (``classifiers.limits.TRUNCATION_REASONS`` and the rest).
REASONS: Mapping[str, tuple[str, str]] = {
    "text_bytes": ("テキスト量の上限", "text_bytes"),
    "member_bytes": ("ファイルサイズの上限", "member_bytes"),
    "depth": ("入れ子の深さの上限", "depth"),
    "ratio": ("圧縮率の上限（圧縮爆弾の疑い）", "ratio"),
    "parts": ("パート数の上限", "parts"),
    "time": ("検査時間の上限", "time"),
    "pdf_pages": ("PDF ページ数の上限", "pdf_pages"),
    "pdf_stream_bytes": ("PDF の展開サイズの上限", "pdf_stream_bytes"),
    "pdf_operators": ("PDF ページの描画命令数の上限", "pdf_operators"),
    "memory": ("検査に使えるメモリの上限", "memory"),
    "corrupt": ("壊れたファイル", "corrupt"),
    "unsupported": ("未対応の形式", "unsupported"),
    "encrypted": ("暗号化", "encrypted"),
    "error": ("検査エラー", "error"),
}

#: Names of the parts of a message and of a document, as locations spell them.
_PLACES: Mapping[str, tuple[str, str]] = {
    "subject": ("件名", "subject"),
    "body": ("本文", "body"),
    "message": ("メール全体", "whole message"),
    "to": ("宛先 (To)", "To"),
    "cc": ("宛先 (Cc)", "Cc"),
    "header": ("ヘッダー", "header"),
    "footer": ("フッター", "footer"),
    "footnotes": ("脚注", "footnotes"),
    "endnotes": ("文末脚注", "endnotes"),
    "comments": ("コメント", "comments"),
    "notes": ("ノート", "notes"),
    "properties": ("文書プロパティ", "document properties"),
}
_INDEXED = regex.compile(r"^(body)\[(\d+)\]$")
_ROW = regex.compile(r"^R(\d+)$")
_PAGE = regex.compile(r"^p(\d+)$")
_SLIDE = regex.compile(r"^slide(\d+)$")
_CELL = regex.compile(r"^[A-Z]{1,3}\d+$")
_SEGMENT = {
    "row": ("{n} 行目", "row {n}"),
    "page": ("{n} ページ", "page {n}"),
    "slide": ("スライド {n}", "slide {n}"),
    "cell": ("セル {n}", "cell {n}"),
    "attached": ("添付メール {n}", "attached message {n}"),
    "indexed": ("{name} ({n})", "{name} ({n})"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "ja" else pair[1]


def reason(code: str, lang: str) -> str:
    """The name of a truncation reason (an unknown one as it is)."""
    pair = REASONS.get(code)
    return _pick(pair, lang) if pair else code


def _param(name: str, value: Any, lang: str) -> Any:
    if name == "type" and isinstance(value, str):
        return display_name(value, lang)
    if name == "reasons" and isinstance(value, list | tuple):
        return ("、" if lang == "ja" else ", ").join(reason(str(r), lang) for r in dict.fromkeys(value))
    if name == "score" and isinstance(value, float):
        return f"{value:g}"
    return value


def detail(code: str, params: Mapping[str, Any], lang: str) -> str:
    """The sentence for a piece of evidence; an unknown code is shown as it is."""
    pair = DETAILS.get(code)
    if pair is None:
        return code
    values = {k: _param(k, v, lang) for k, v in params.items()}
    try:
        return _pick(pair, lang).format(**values)
    except (KeyError, IndexError, ValueError):
        return _pick(pair, lang)


def evidence_text(evidence: Mapping[str, Any], lang: str) -> str:
    """The sentence for one stored piece of evidence (a ``Evidence.to_dict()``); records stored
    before evidence had codes carry only their English ``detail``."""
    code = evidence.get("code")
    if isinstance(code, str) and code in DETAILS:
        params = evidence.get("params")
        return detail(code, params if isinstance(params, Mapping) else {}, lang)
    text = evidence.get("detail_ja" if lang == "ja" else "detail") or evidence.get("detail")
    return text if isinstance(text, str) else ""


#: Evidence whose sentence does not say how many; the count follows it.
COUNTED = frozenset(
    {
        "external_recipients",
        "external_visible",
        "external_domains",
        "domain_listed",
        "domain_unlisted",
        "new_domain",
        "encrypted",
        "truncated",
        "not_fully_inspected",
        "type_mismatch",
        "attachments",
    }
)


def count_text(evidence: Mapping[str, Any], lang: str) -> str:
    """``（2 件）`` / `` (2)`` after a sentence that does not say how many, else empty."""
    count = evidence.get("count")
    if evidence.get("code") not in COUNTED or not isinstance(count, int) or count <= 0:
        return ""
    return f"（{count} 件）" if lang == "ja" else f" ({count})"


def line(evidence: Mapping[str, Any], lang: str, *, max_values: int = 5, max_locations: int = 3) -> str:
    """One line for a piece of evidence: sentence, count, values, where (notices, exports)."""
    out = evidence_text(evidence, lang) + count_text(evidence, lang)
    values = [str(v) for v in evidence.get("values") or ()][:max_values]
    if values:
        out += "：" + "、".join(values) if lang == "ja" else ": " + ", ".join(values)
    places = [location(str(loc), lang) for loc in evidence.get("locations") or ()][:max_locations]
    if places:
        out += f"（場所：{'、'.join(places)}）" if lang == "ja" else f" (in {', '.join(places)})"
    return out


#: Why a finding is a person's or an organisation's (``classifiers.holders``), in Japanese.
_HOLDER_REASONS: tuple[tuple[regex.Pattern[str], str], ...] = tuple(
    (regex.compile(pattern), ja)
    for pattern, ja in (
        (r"^free-dial number$", "フリーダイヤルの番号"),
        (r"^role mailbox (.*)$", "代表・部署のアドレス（{0}）"),
        (r"^column (.*)$", "列「{0}」"),
        (r"^row names a person$", "同じ行に個人名がある"),
        (r"^row of an organisation list$", "企業・団体の一覧の行"),
        (r"^row names an organisation$", "同じ行に企業・団体名がある"),
        (r"^table row$", "表の行"),
        (r"^labelled as an organisation's$", "企業・団体のものと記載されている"),
        (r"^with a person's name$", "個人名とともに記載されている"),
        (r"^in an organisation's contact block \((.*)\)$", "企業・団体の連絡先欄（{0}）"),
        (r"^under an organisation's name \((.*)\)$", "企業・団体名の下（{0}）"),
        (r"^no organisation named$", "企業・団体名の記載がない"),
    )
)


def holder_reason(text: str, lang: str) -> str:
    """Why a finding was judged a person's or an organisation's, in ``lang``.

    >>> holder_reason("column 会社名", "ja"), holder_reason("table row", "en")
    ('列「会社名」', 'table row')
    """
    if lang != "ja":
        return text
    for pattern, ja in _HOLDER_REASONS:
        m = pattern.match(text)
        if m:
            return ja.format(*m.groups())
    return text


def _segment(seg: str, first: bool, last: bool, lang: str) -> str:
    if seg in _PLACES:
        return _pick(_PLACES[seg], lang)
    m = _INDEXED.match(seg)
    if m:
        return _pick(_SEGMENT["indexed"], lang).format(name=_pick(_PLACES[m.group(1)], lang), n=m.group(2))
    if not first:
        for pattern, key in ((_PAGE, "page"), (_SLIDE, "slide")):
            m = pattern.match(seg)
            if m:
                return _pick(_SEGMENT[key], lang).format(n=m.group(1))
        if _CELL.match(seg) and last:
            return _pick(_SEGMENT["cell"], lang).format(n=seg)
    return seg


def location(loc: str, lang: str) -> str:
    """Where something was found, for people: ``body`` → 本文, ``a.csv!R3`` → ``a.csv › 3 行目``,
    ``b.xlsx!Sheet1!C12`` → ``b.xlsx › Sheet1 › セル C12``, ``attachment:x.eml/body`` →
    ``添付メール x.eml › 本文``. File and sheet names are kept as written."""
    out: list[str] = []
    rest = loc
    while rest.startswith("attachment:"):
        inner = rest.removeprefix("attachment:")
        name, sep, tail = inner.partition("/")
        out.append(_pick(_SEGMENT["attached"], lang).format(n=name))
        rest = tail if sep else ""
    if rest:
        segments = rest.split("!")
        for i, seg in enumerate(segments):
            last = i == len(segments) - 1
            row = _ROW.match(seg)
            if i == 1 and last and row and len(segments) == 2:
                out.append(_pick(_SEGMENT["row"], lang).format(n=row.group(1)))
            else:
                out.append(_segment(seg, i == 0, last, lang))
    return " › ".join(out)


__all__ = [
    "COUNTED",
    "DETAILS",
    "REASONS",
    "count_text",
    "detail",
    "evidence_text",
    "line",
    "location",
    "reason",
]
