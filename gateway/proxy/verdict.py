"""The answer a refused upload gets: 403 with a page in Japanese, then English.

Browsers that navigate (``Accept: text/html`` preferred) get HTML; API clients, sync apps and
the scripts of web apps get JSON with the same content. Both name each refused file, the rules
that matched with their explanation, the reference (the store item's id) and how to ask for
approval; a file that could not be fully inspected says so and why.

>>> accepts_html("text/html,application/xhtml+xml,*/*;q=0.8"), accepts_html("application/json, */*")
(True, False)
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.proxy.adapter import ItemVerdict, Verdict
from gateway.store import State
from gateway.tokens import link_url, sign_link

#: What each refusal means for the user, and what they can do.
_NEXT_STEP: dict[State, tuple[str, str]] = {
    State.REFUSED: (
        "この内容はアップロードできません。業務上どうしても必要な場合は、下の参照番号を添えて情報セキュリティ室に相談してください。",
        "This content cannot be uploaded. If it is really needed, contact the security team with the reference below.",
    ),
    State.PENDING_APPROVAL: (
        "承認が必要です。承認の依頼を記録しました。承認されたら、同じファイルをもう一度アップロードしてください。",
        "This upload needs approval; the request has been recorded. Upload the same file again once it is approved.",
    ),
    State.QUARANTINED: (
        "情報セキュリティ室の確認が必要です。確認の依頼を記録しました。許可されたら、同じファイルをもう一度アップロードしてください。",
        "The security team must review this upload; the request has been recorded. Upload the same file again once it is released.",
    ),
    State.HELD: (
        "アップロードを保留しました。内容と送り先をもう一度確認してください。業務上必要な場合は、"
        "Sekimori の画面で理由を入力して続行を選ぶと、同じファイルをもう一度アップロードできます。",
        "This upload was held. Check its content and destination again. If it is needed for your "
        "work, give the reason and choose to go on in Sekimori; then upload the same file again.",
    ),
}


@dataclass(frozen=True)
class Contact:
    """Where users turn for approval: the Sekimori web UI and the security team's mailbox; and
    what signs the "go on with a reason" links of warned uploads (the gateway's ``secret``)."""

    ui_url: str = ""
    security: str | None = None
    secret: bytes = b""
    #: How long such a link stays valid after the time the user has to go on.
    link_validity: float = 7 * 86400

    def proceed_url(self, v: ItemVerdict, user: str) -> str:
        """The signed, single-use link with which ``user`` goes on with a reason after the
        warning of ``v`` (``""`` without a UI, a secret or a user)."""
        rec = v.record
        if not (self.ui_url and self.secret and user and rec is not None and rec.state is State.HELD):
            return ""
        until = (rec.release_at or rec.updated_at) + timedelta(seconds=self.link_validity)
        return link_url(self.ui_url, sign_link(self.secret, rec.id, "proceed", f"sender:{user}", until))

    def how_to(self, ref: str) -> tuple[str, str]:
        ja = f"参照番号 {ref}"
        en = f"Reference {ref}"
        if self.ui_url:
            ja += f"。Sekimori の画面 ({self.ui_url}) で状況を確認できます"
            en += f". See its status in Sekimori ({self.ui_url})"
        if self.security:
            ja += f"。問い合わせ先: {self.security}"
            en += f". Contact: {self.security}"
        return ja + "。", en + "."


def accepts_html(accept: str) -> bool:
    """Whether the client prefers HTML to JSON (a browser navigating, not a script)."""
    best_html = best_json = 0.0
    for item in accept.split(","):
        kind, _, params = item.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = kind.strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
        elif kind == "application/json" or kind.endswith("+json"):
            best_json = max(best_json, q)
    return best_html > 0 and best_html >= best_json


JST = ZoneInfo("Asia/Tokyo")


def _jst(at: datetime | None) -> str:
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M") if at is not None else ""


def next_step(v: ItemVerdict, contact: Contact, user: str) -> tuple[str, str]:
    """What the user can do now, in Japanese and English: for an upload waiting for approval,
    whom it was asked of and that the same upload will pass once approved; for a warned one,
    that they may go on with a reason (the link is given separately)."""
    ja, en = _NEXT_STEP[v.state]
    rec = v.record
    sharing = v.item.facts.sharing_scope is not None
    same_ja = (
        "同じ共有設定をもう一度行う"
        if sharing
        else "同じファイルを同じアップロード先にもう一度アップロードする"
    )
    same_en = (
        "make the same sharing change again"
        if sharing
        else "upload the same file to the same destination again"
    )
    if v.state is State.PENDING_APPROVAL and rec is not None:
        who = "、".join(rec.approvers) or "承認者"
        who_en = ", ".join(rec.approvers) or "the approvers"
        until = _jst(rec.expires_at)
        ja = f"{who} に承認を依頼しました。承認されたら、{same_ja}と通ります（承認期限: {until}）。"
        en = f"Approval has been requested from {who_en}. Once it is approved, {same_en} and it will pass (deadline: {until} JST)."
    elif v.state is State.HELD and rec is not None:
        until = _jst(rec.release_at)
        ja = (
            f"内容と送り先をもう一度確認してください。業務上必要な場合は、{until} までに理由を記録して続行を選び、"
            f"{same_ja}と通ります。"
        )
        en = (
            f"Check the content and the destination again. If it is needed for your work, give your reason and "
            f"choose to go on by {until} JST; then {same_en} and it will pass."
        )
    return ja, en


def _rules(v: ItemVerdict) -> list[dict[str, Any]]:
    decision = v.inspection.decision
    winning = decision.winning_rules or decision.matches
    return [
        {
            "id": m.rule_id,
            "title": {"ja": m.title_ja, "en": m.title_en},
            "description": {"ja": m.description_ja, "en": m.description_en},
        }
        for m in winning
    ]


def _not_inspected(v: ItemVerdict) -> list[str]:
    scan = v.inspection.scan
    return [
        *scan.errors,
        *(f"{where}: {why}" for where, why in scan.truncated),
        *(f"{e}: encrypted" for e in scan.encrypted),
    ]


def _approval(v: ItemVerdict) -> dict[str, Any] | None:
    rec = v.record
    if v.state is not State.PENDING_APPROVAL or rec is None:
        return None
    return {
        "requested_from": list(rec.approvers),
        "deadline": rec.expires_at.isoformat() if rec.expires_at else None,
    }


def as_json(verdict: Verdict, contact: Contact) -> dict[str, Any]:
    ref = verdict.reference
    how_ja, how_en = contact.how_to(ref)
    return {
        "error": "upload_refused",
        "reference": ref,
        "message": {
            "ja": "関守 (Sekimori) がこのアップロードを止めました。",
            "en": "Sekimori stopped this upload.",
        },
        "items": [
            {
                "file": v.item.facts.filename,
                "service": v.item.facts.service,
                "state": v.state.value,
                "reference": v.ref,
                "fully_inspected": v.fully_inspected,
                "not_inspected": _not_inspected(v),
                "rules": _rules(v),
                "next": dict(zip(("ja", "en"), next_step(v, contact, verdict.user), strict=True)),
                "approval": _approval(v),
                "proceed_url": contact.proceed_url(v, verdict.user) or None,
            }
            for v in verdict.refused
        ],
        "approval": {"ja": how_ja, "en": how_en, "url": contact.ui_url},
    }


def _item_html(v: ItemVerdict, lang: str, contact: Contact, user: str) -> str:
    e = html.escape
    rules = "".join(
        f"<li><strong>{e(r['title'][lang])}</strong> ({e(r['id'])})<br>{e(r['description'][lang])}</li>"
        for r in _rules(v)
    )
    step = next_step(v, contact, user)[0 if lang == "ja" else 1]
    link = contact.proceed_url(v, user)
    go_on = ""
    if link:
        label = "理由を入力して続ける" if lang == "ja" else "Give a reason and go on"
        go_on = f'<p><a class=go href="{e(link)}">{label}</a></p>'

    missing = _not_inspected(v)
    note = ""
    if missing:
        label = "検査できなかった部分" if lang == "ja" else "Not inspected"
        note = f"<p class=note>{label}: {e('; '.join(missing))}</p>"
    name = v.item.facts.filename or ("(名前なし)" if lang == "ja" else "(no name)")
    return f"<section><h3>{e(name)}</h3><ul>{rules}</ul><p>{e(step)}</p>{go_on}{note}</section>"


def as_html(verdict: Verdict, contact: Contact) -> str:
    e = html.escape
    how_ja, how_en = contact.how_to(verdict.reference)
    ja = "".join(_item_html(v, "ja", contact, verdict.user) for v in verdict.refused)
    en = "".join(_item_html(v, "en", contact, verdict.user) for v in verdict.refused)
    return (
        "<!doctype html><html lang=ja><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        "<title>アップロードを止めました / Upload stopped — 関守 Sekimori</title>"
        "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em;line-height:1.6}"
        "h1{font-size:1.4em}section{border-left:4px solid #b00;padding-left:1em;margin:1em 0}"
        ".ref{font-family:monospace;font-size:1.1em}.note{color:#555}hr{margin:2em 0}"
        ".go{display:inline-block;padding:.4em 1em;background:#1a5fb4;color:#fff;border-radius:4px;"
        "text-decoration:none}</style></head><body>"
        "<h1>アップロードを止めました</h1>"
        f"<p>関守 (Sekimori) の情報漏えい対策ルールにより、このアップロードは行われていません。</p>{ja}"
        f"<p class=ref>{e(how_ja)}</p>"
        "<hr lang=en><div lang=en><h1>Upload stopped</h1>"
        f"<p>Sekimori's data-protection rules stopped this upload; nothing was uploaded.</p>{en}"
        f"<p class=ref>{e(how_en)}</p></div></body></html>"
    )


def refusal(verdict: Verdict, accept: str, contact: Contact) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the answer to a refused upload."""
    headers = [
        ("Cache-Control", "no-store"),
        ("X-Sekimori-Verdict", "refused"),
        ("X-Sekimori-Reference", verdict.reference),
    ]
    if accepts_html(accept):
        headers.append(("Content-Type", "text/html; charset=utf-8"))
        return 403, headers, as_html(verdict, contact).encode("utf-8")
    headers.append(("Content-Type", "application/json; charset=utf-8"))
    return 403, headers, json.dumps(as_json(verdict, contact), ensure_ascii=False).encode("utf-8")


def pass_headers(verdict: Verdict) -> Sequence[tuple[str, str]]:
    """Headers added to the answer of an upload that passed: its reference, and whether it was
    fully inspected (an upload the policy let through uninspected never looks inspected)."""
    inspected = "complete" if verdict.fully_inspected else "incomplete"
    return (
        ("X-Sekimori-Verdict", "passed"),
        ("X-Sekimori-Inspection", inspected),
        ("X-Sekimori-Reference", verdict.reference),
    )


__all__ = ["Contact", "accepts_html", "as_html", "as_json", "next_step", "pass_headers", "refusal"]
