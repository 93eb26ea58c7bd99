"""What the download pages say, Japanese and English (``str.format`` templates; the page
escapes their output), as pairs for :mod:`gateway.bilingual`. A test checks that both languages
have the same keys and placeholders. The download listener's own table: nothing of the UI's."""

from __future__ import annotations

from gateway.bilingual import LANGUAGES, Pairs, Translator, columns
from gateway.bilingual import translator as _translator

TEXTS: Pairs = {
    "title": ("ファイルのダウンロード", "File download"),
    "switch": ("English", "日本語"),
    "intro": ("{sender} さんから、次のファイルが届いています。", "{sender} has sent you these files."),
    "sender": ("送信者", "From"),
    "expires": ("有効期限", "Available until"),
    "left": ("残りのダウンロード回数", "Downloads left"),
    "left.value": ("{n} 回", "{n}"),
    "file.name": ("ファイル名", "File"),
    "file.size": ("サイズ", "Size"),
    "file.encrypted": (
        "暗号化されているため、内容は検査されていません。",
        "Encrypted: its content was not inspected.",
    ),
    "file.not_inspected": (
        "一部を読み取れなかったため、内容は検査しきれていません。",
        "Part of it could not be read: its content was not fully inspected.",
    ),
    "file.members": ("中身（名前とサイズのみ確認）", "Contents (names and sizes only)"),
    "code.explain": (
        "ダウンロードするには、このリンクの宛先（{address}）にメールでお送りする確認コードを入力してください。",
        "To download, enter the code we send by mail to the address this link was sent to ({address}).",
    ),
    "code.request": ("確認コードをメールで受け取る", "Email me a code"),
    "code.sent": (
        "{address} に確認コードをお送りしました。{minutes} 分以内に入力してください。",
        "A code has been sent to {address}. Please enter it within {minutes} minutes.",
    ),
    "code.label": ("確認コード（6 桁）", "Code (6 digits)"),
    "code.submit": ("確認する", "Continue"),
    "code.have": (
        "確認コードをお持ちの方は、こちらに入力してください。",
        "If you already have a code, enter it here.",
    ),
    "code.wrong": ("確認コードが違います。", "That code is not right."),
    "code.void": (
        "このコードは使えなくなりました。新しい確認コードを受け取ってください。",
        "This code can no longer be used. Please ask for a new one.",
    ),
    "code.none": ("先に確認コードを受け取ってください。", "Please ask for a code first."),
    "code.locked": (
        "確認コードの誤りが続いたため、このリンクは {until} まで使えません。",
        "Too many wrong codes: this link is locked until {until}.",
    ),
    "code.too_many": (
        "確認コードの送信が続いています。しばらくしてからもう一度お試しください。",
        "A code was asked for very recently. Please try again in a little while.",
    ),
    "granted": (
        "確認できました。{minutes} 分以内にファイルをダウンロードしてください。",
        "Thank you. You can download the files for the next {minutes} minutes.",
    ),
    "granted.again": (
        "時間が過ぎた場合は、もう一度確認コードを受け取ってください。",
        "After that, please ask for a new code.",
    ),
    "download": ("ダウンロード", "Download"),
    "download.expired": (
        "ダウンロードの受付時間が過ぎました。もう一度確認コードを受け取ってください。",
        "The time to download has passed. Please ask for a new code.",
    ),
    "gone.expired": ("このリンクは有効期限が切れています。", "This link has expired."),
    "gone.revoked": ("このリンクは送信者により取り消されました。", "The sender has withdrawn this link."),
    "gone.exhausted": (
        "このリンクはダウンロード回数の上限に達しました。",
        "All the downloads of this link have been used.",
    ),
    "gone.contact": (
        "ファイルが必要な場合は、送信者にご連絡ください。",
        "If you still need the files, please contact the sender.",
    ),
    "not_found": (
        "このリンクは見つかりません。アドレスに誤りがないかご確認ください。",
        "This link was not found. Please check the address.",
    ),
    "error.title": ("エラー", "Error"),
    "error.bad_request": ("リクエストを処理できませんでした。", "The request could not be processed."),
    "footer": (
        "このページは、送信者の会社の情報漏えい対策システム（関守）が提供しています。",
        "This page is provided by the sender's data protection gateway (Sekimori).",
    ),
}

TABLES = columns(TEXTS)


def translator(lang: str) -> Translator:
    """``t(key, **params)`` in ``lang`` (Japanese unless ``en``)."""
    return _translator(TABLES, lang)


__all__ = ["LANGUAGES", "TABLES", "TEXTS", "Translator", "translator"]
