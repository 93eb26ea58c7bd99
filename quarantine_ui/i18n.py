"""The message catalogue: every user-visible string, Japanese first, English beside it.

Kept as two Python dicts rather than gettext ``.po`` files: the UI has a few hundred short
strings, no translator tooling, and no compile step is then needed; a test checks that both
languages have the same keys and the same ``{placeholders}``, and that every key a template asks
for exists. Messages are ``str.format`` templates; Jinja2 autoescaping escapes their output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from classifiers.detectors import display_name
from gateway import bilingual
from gateway.bilingual import LANGUAGES
from gateway.bilingual import Translator as Translator  # re-exported: pages type their t() with it
from quarantine_ui.i18n_mail import AUDIT_ACTIONS, MAIL_MESSAGES
from quarantine_ui.i18n_uploads import UPLOAD_MESSAGES

_ACCOUNT_EVENTS = frozenset(AUDIT_ACTIONS)

_BASE: Mapping[str, Mapping[str, str]] = {
    "ja": {
        "app.name": "関守 Sekimori",
        "app.tagline": "送信メールの情報漏えい対策",
        "nav.home": "ホーム",
        "nav.logout": "ログアウト",
        "nav.switch_language": "English",
        "nav.skip": "本文へ移動",
        "login.title": "ログイン",
        "login.address": "メールアドレス",
        "login.password": "パスワード",
        "login.submit": "ログイン",
        "login.error.bad_credentials": "メールアドレスまたはパスワードが違います。",
        "login.error.locked": "失敗が続いたため、このアカウントは一時的にロックされています。{minutes} 分後にもう一度お試しください。",
        "login.error.throttled": "この端末からの試行が多すぎます。{minutes} 分後にもう一度お試しください。",
        "login.error.form_expired": "フォームの有効期限が切れました。もう一度入力してください。",
        "login.error.sso_only": "このアカウントにはパスワードが設定されていません。管理者にお問い合わせください。",
        "login.logged_out": "ログアウトしました。",
        "login.session_expired": "セッションの有効期限が切れました。もう一度ログインしてください。",
        "mfa.title": "確認コードの入力",
        "mfa.instructions": "認証アプリに表示されている 6 桁の確認コードを入力してください。",
        "mfa.code": "確認コード",
        "mfa.submit": "確認",
        "mfa.error.wrong_code": "確認コードが違います。",
        "mfa.cancel": "別のアカウントでログイン",
        "enrol.title": "二要素認証の設定",
        "enrol.required": "この役割では二要素認証が必須です。設定を完了するとログインできます。",
        "enrol.step1_qr": "認証アプリ（Google Authenticator、Microsoft Authenticator など）で、次の QR コードを読み取ってください。",
        "enrol.qr": "認証アプリに登録する QR コード",
        "enrol.step1": "QR コードを読み取れない場合は、アプリで「セットアップキーを入力」を選び、次の秘密鍵を入力してください。",
        "enrol.secret": "秘密鍵",
        "enrol.uri": "otpauth URI（URI を読み込める認証アプリ用）",
        "enrol.shown_once": "この秘密鍵はこの画面でのみ表示されます。画面を再読み込みすると新しい秘密鍵が発行されます。",
        "enrol.step2": "アプリに表示された 6 桁の確認コードを入力して設定を完了してください。",
        "enrol.submit": "設定を完了",
        "enrol.done": "二要素認証を設定しました。",
        "enrol.already": "二要素認証は設定済みです。再設定はセキュリティ管理者に依頼してください。",
        "home.title": "ホーム",
        "home.welcome": "{name} さん、ようこそ。",
        "home.address": "メールアドレス",
        "home.roles": "役割",
        "home.mfa": "二要素認証",
        "home.mfa.on": "設定済み",
        "home.mfa.off": "未設定",
        "home.mfa.enrol": "二要素認証を設定する",
        "home.signed_in_via": "ログイン方法",
        "home.via.password": "パスワード",
        "home.via.sso": "シングルサインオン",
        "home.via.totp": "パスワードと確認コード",
        "role.sender": "送信者",
        "role.approver": "承認者",
        "role.security_admin": "セキュリティ管理者",
        "role.auditor": "監査担当者",
        "role.sender.about": "自分が送信したメールのうち、保留・承認待ち・隔離中のものを確認し、取り消しや即時送信ができます。",
        "role.approver.about": "自分宛ての承認依頼を確認し、承認または却下します。",
        "role.security_admin.about": "すべてのキューの確認、隔離メールの審査、ポリシーの編集と有効化を行います。",
        "role.auditor.about": "監査ログを閲覧・出力し、改ざんがないことを検証します（閲覧のみ）。",
        "link.refused": "このリンクは使用できません",
        "link.cancel.title": "保留中のメールの送信を取り消す",
        "link.send_now.title": "保留中のメールを今すぐ送信する",
        "link.cancel.explain": "このメールの送信を取り消します。取り消したメールは送信されません。",
        "link.send_now.explain": "保留期間の終了を待たずに、このメールを今すぐ送信します。",
        "link.cancel.submit": "送信を取り消す",
        "link.send_now.submit": "今すぐ送信する",
        "link.cancel.done_title": "送信を取り消しました",
        "link.send_now.done_title": "送信を開始しました",
        "link.cancel.done": "このメールの送信を取り消しました。宛先には送信されません。",
        "link.send_now.done": "このメールの送信を開始しました。",
        "link.subject": "件名",
        "link.recipients": "宛先",
        "link.release_at": "送信予定",
        "link.no_subject": "（件名なし）",
        "link.error.used": "このリンクはすでに使用されています。",
        "link.error.expired": "このリンクは有効期限が切れています。",
        "link.error.invalid": "このリンクは無効です。",
        "link.error.unknown": "対象のメールが見つかりません。",
        "link.error.not_held": "このメールはもう保留中ではありません（送信済みまたは取り消し済みです）。",
        "error.title": "エラー",
        "error.400": "リクエストの形式が正しくありません。",
        "error.401": "ログインが必要です。",
        "error.403": "この操作は許可されていません。",
        "error.403.csrf": "フォームの有効期限が切れたか、不正な送信です。ページを読み込み直してからもう一度お試しください。",
        "error.404": "ページが見つかりません。",
        "error.405": "この方法ではアクセスできません。",
        "error.413": "送信されたデータが大きすぎます。",
        "error.415": "JSON で送信してください。",
        "error.500": "サーバーでエラーが発生しました。",
        "error.back": "ホームへ戻る",
    },
    "en": {
        "app.name": "Sekimori",
        "app.tagline": "Data-loss prevention for outgoing mail",
        "nav.home": "Home",
        "nav.logout": "Log out",
        "nav.switch_language": "日本語",
        "nav.skip": "Skip to content",
        "login.title": "Log in",
        "login.address": "Mail address",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.error.bad_credentials": "Wrong mail address or password.",
        "login.error.locked": "This account is locked for a while after repeated failures. Try again in {minutes} minutes.",
        "login.error.throttled": "Too many attempts from this device. Try again in {minutes} minutes.",
        "login.error.form_expired": "The form had expired. Please enter your details again.",
        "login.error.sso_only": "This account has no password. Please ask your administrator.",
        "login.logged_out": "You have logged out.",
        "login.session_expired": "Your session has expired. Please log in again.",
        "mfa.title": "Enter your verification code",
        "mfa.instructions": "Enter the 6-digit code shown by your authenticator app.",
        "mfa.code": "Verification code",
        "mfa.submit": "Verify",
        "mfa.error.wrong_code": "Wrong verification code.",
        "mfa.cancel": "Log in with another account",
        "enrol.title": "Set up two-factor authentication",
        "enrol.required": "Your role requires two-factor authentication. Finish the setup to log in.",
        "enrol.step1_qr": "Scan this QR code with your authenticator app (Google Authenticator, Microsoft Authenticator, …).",
        "enrol.qr": "QR code to add to your authenticator app",
        "enrol.step1": "If you cannot scan it, choose “enter a setup key” in the app and type this secret.",
        "enrol.secret": "Secret",
        "enrol.uri": "otpauth URI (for apps that accept a URI)",
        "enrol.shown_once": "This secret is shown only on this page. Reloading the page issues a new secret.",
        "enrol.step2": "Enter the 6-digit code your app shows to finish the setup.",
        "enrol.submit": "Finish setup",
        "enrol.done": "Two-factor authentication is set up.",
        "enrol.already": "Two-factor authentication is already set up. Ask a security admin to reset it.",
        "home.title": "Home",
        "home.welcome": "Welcome, {name}.",
        "home.address": "Mail address",
        "home.roles": "Roles",
        "home.mfa": "Two-factor authentication",
        "home.mfa.on": "Set up",
        "home.mfa.off": "Not set up",
        "home.mfa.enrol": "Set up two-factor authentication",
        "home.signed_in_via": "Signed in with",
        "home.via.password": "Password",
        "home.via.sso": "Single sign-on",
        "home.via.totp": "Password and one-time code",
        "role.sender": "Sender",
        "role.approver": "Approver",
        "role.security_admin": "Security admin",
        "role.auditor": "Auditor",
        "role.sender.about": "See your own held, pending and quarantined mail; cancel it or send it now.",
        "role.approver.about": "Review the approval requests routed to you; approve or reject them.",
        "role.security_admin.about": "Review every queue and quarantined mail; edit and activate the policy.",
        "role.auditor.about": "Read and export the audit log and verify that it has not been tampered with (read-only).",
        "link.refused": "This link cannot be used",
        "link.cancel.title": "Cancel sending a held message",
        "link.send_now.title": "Send a held message now",
        "link.cancel.explain": "The message will be cancelled; a cancelled message is never sent.",
        "link.send_now.explain": "The message will be sent now instead of at the end of the hold.",
        "link.cancel.submit": "Cancel sending",
        "link.send_now.submit": "Send now",
        "link.cancel.done_title": "Sending cancelled",
        "link.send_now.done_title": "Sending started",
        "link.cancel.done": "The message was cancelled. It will not be sent.",
        "link.send_now.done": "The message is being sent.",
        "link.subject": "Subject",
        "link.recipients": "Recipients",
        "link.release_at": "Scheduled for",
        "link.no_subject": "(no subject)",
        "link.error.used": "This link has already been used.",
        "link.error.expired": "This link has expired.",
        "link.error.invalid": "This link is not valid.",
        "link.error.unknown": "The message was not found.",
        "link.error.not_held": "This message is no longer held (it was already sent or cancelled).",
        "error.title": "Error",
        "error.400": "The request is malformed.",
        "error.401": "You need to log in.",
        "error.403": "This is not allowed.",
        "error.403.csrf": "The form has expired or the request was forged. Reload the page and try again.",
        "error.404": "Page not found.",
        "error.405": "This page cannot be used that way.",
        "error.413": "Too much data was sent.",
        "error.415": "Please send JSON.",
        "error.500": "Something went wrong on the server.",
        "error.back": "Back to the home page",
    },
}

MESSAGES: Mapping[str, Mapping[str, str]] = {
    lang: {**_BASE[lang], **MAIL_MESSAGES[lang], **UPLOAD_MESSAGES[lang]} for lang in _BASE
}


def _derived(key: str, lang: str) -> str | None:
    """Entries that come from elsewhere: ``entity.<type>`` from the type's detector module."""
    if key.startswith("entity."):
        return display_name(key.removeprefix("entity."), lang)
    return None


def translator(lang: str) -> Translator:
    """A function ``t(key, **values)`` for ``lang`` (falls back to Japanese, then to the key)."""
    return bilingual.translator(MESSAGES, lang, derived=_derived)


#: The part of an audit actor before the colon (``sender:taro@…``), as people name it.
ACTOR_ROLES: Mapping[str, tuple[str, str]] = {
    "sender": ("送信者", "sender"),
    "approver": ("承認者", "approver"),
    "admin": ("セキュリティ管理者", "security admin"),
    "operator": ("運用担当者", "operator"),
    "policy": ("ポリシー", "policy"),
    "notify": ("通知", "notifications"),
    "scheduler": ("スケジューラー", "scheduler"),
    "smtp": ("SMTP 中継", "SMTP relay"),
    "delivery": ("配送", "delivery"),
    "proxy": ("アップロード検査", "upload gate"),
    "ui": ("Web 画面", "web UI"),
    "retention": ("保存期間の管理", "retention"),
    "recipient": ("ダウンロードリンクの受信者", "link recipient"),
}


def actor_text(actor: str, lang: str) -> str:
    """``sender:taro@…`` → ``送信者 taro@…``; an actor without a known role is shown as it is.

    >>> actor_text("approver:boss@example.co.jp", "ja"), actor_text("policy", "en")
    ('承認者 boss@example.co.jp', 'policy')
    """
    role, sep, who = actor.partition(":")
    pair = ACTOR_ROLES.get(role)
    if pair is None:
        return actor
    name = pair[0] if lang == "ja" else pair[1]
    return f"{name} {who}" if sep and who else name


#: Audit reasons as the gateway records them (English, the record stays as written), and how a
#: Japanese page shows them; ``{0}``… are the pattern's groups, a ``{N:state}`` group a state.
_REASONS: tuple[tuple[str, str], ...] = (
    (r"message spooled", "受信して保存しました"),
    (r"policy: (\w+) \(rules (.*)\)", "ポリシーの判定: {0:action}（ルール {1}）"),
    (r"Blocked by policy ([^:]*): (.*)", "ポリシー {0} により送信を停止しました: {1}"),
    (r"Bcc conversion: (\d+) external address\(es\)", "社外の宛先 {0} 件を BCC に変更しました"),
    (r"already inspected as (.*)", "検査済み（{0}）のため再検査しません"),
    (r"own notification", "関守からの通知"),
    (r"internal error; client told to retry \(451\)", "内部エラーのため、再送を依頼しました（451）"),
    (r"approval deadline passed: escalated", "承認期限が過ぎたため、情報セキュリティ担当の確認に回しました"),
    (r"approval deadline passed: rejected", "承認期限が過ぎたため、送信しませんでした"),
    (r"hold released: release time reached", "保留期間が終わったため送信します"),
    (r"retry \(attempt (\d+)\)", "再送（{0} 回目）"),
    (r"picked up for delivery", "配送を開始しました"),
    (r"picked up to decide", "判定を再開しました"),
    (r"upstream accepted (\d+) recipient\(s\)", "上位サーバーが {0} 件の宛先を受け付けました"),
    (r"upstream: (.*)", "上位サーバーの応答: {0}"),
    (r"every recipient failed permanently", "すべての宛先で配送に失敗しました"),
    (r"cancelled by the sender", "送信者が取り消しました"),
    (r"sender: send now", "送信者が今すぐ送信しました"),
    (r"sender: approval requested", "送信者が承認を申請しました"),
    (r"sender: release requested", "送信者が解除を申請しました"),
    (r"approved", "承認されました"),
    (r"rejected", "却下されました"),
    (r"released by the security team from (\w+)", "情報セキュリティ担当が解除しました（{0:state}から）"),
    (r"deleted by the security team", "情報セキュリティ担当が削除しました"),
    (r"body removed \(retention\)", "保存期間を過ぎたため本文を削除しました"),
    (r"retention: finished more than (.*) ago", "保存期間（{0}）を過ぎたため本文を削除しました"),
    (r"user went on after the warning", "利用者が警告を確認して続行しました"),
    (
        r"attachment of (\S+) kept for download links",
        "{0} の添付ファイルをダウンロードリンク用に保管しました",
    ),
    (r"download link for (\S+)", "{0} 宛てのダウンロードリンクを作成しました"),
    (
        r"attachments as download links for (\d+) outside recipient\(s\)",
        "社外の宛先 {0} 件に、添付ファイルをダウンロードリンクにして送ります",
    ),
    (r"(\S+) entered the right code", "{0} が正しい確認コードを入力しました"),
    (r"wrong code \((\d+) in a row\)", "確認コードの誤り（{0} 回連続）"),
    (r"link locked after (\d+) wrong codes", "確認コードの誤りが {0} 回続いたため、リンクをロックしました"),
    (
        r"(.*) downloaded by (\S+) \((\d+) of (\d+)\)",
        "{1} が「{0}」をダウンロードしました（{3} 回中 {2} 回目）",
    ),
    (r"link expired", "リンクの有効期限が切れました"),
    (r"downloads used up", "ダウンロード回数の上限に達しました"),
    (r"link extended", "リンクの有効期限を延長しました"),
    (r"link shortened", "リンクの有効期限を短縮しました"),
    (r"link revoked", "リンクを取り消しました"),
    (r"a link to it is still open", "開けるリンクが残っているため保管を続けます"),
    (r"no open link needs it", "開けるリンクがなくなったため削除しました"),
    (r"kept until its last open link closes", "開けるリンクの期限まで保管期間を短くしました"),
    (r"(notification|dsn): (.*)", "{0:kind}: {1:reason}"),
    (r"sender told of refusal", "送信者に送信停止を通知"),
    (r"sender told of hold", "送信者に保留を通知"),
    (r"sender told of Bcc conversion", "送信者に BCC への変更を通知"),
    (r"sender told approval is needed", "送信者に承認待ちを通知"),
    (r"sender told of quarantine", "送信者に確認待ちを通知"),
    (r"sender told of approval", "送信者に承認を通知"),
    (r"sender told of release", "送信者に送信の許可を通知"),
    (r"sender told of rejection", "送信者に却下を通知"),
    (r"sender told of deletion", "送信者に削除を通知"),
    (r"sender told of cancellation", "送信者に取り消しを通知"),
    (r"sender told of the first download", "送信者に初回のダウンロードを通知"),
    (r"security team told", "情報セキュリティ担当に通知"),
    (r"approver (\S+) asked", "承認者 {0} に承認を依頼"),
    (r"DSN to sender", "送信者に配送失敗を通知"),
    (r"one-time code sent to (\S+)", "{0} に確認コードを送信"),
    (r"policy version (\d+) activated(?:: (.*))?", "ポリシーのバージョン {0} を有効にしました{1:colon}"),
    (r"approval used \((\d+) of (\d+)\)(: used up)?", "承認の利用（{1} 回中 {0} 回目）{2:used_up}"),
    (r"initial policy", "最初のポリシー（UI で変更する前のもの）"),
    (r"rollback to version (\d+)", "バージョン {0} に戻す"),
    (r"(\w+): (\S+)(?: \((.*)\))?", "{0:account}: {1}{2:paren}"),
)
_REASON_PATTERNS = tuple((re.compile(rf"^{p}$"), ja) for p, ja in _REASONS)
_KINDS = {"notification": "通知", "dsn": "配送失敗の通知"}


def reason_text(reason: str, lang: str) -> str:
    """An audit reason for a page in ``lang``: English as recorded; in Japanese when its pattern
    is known (the recorded text stays on hover), else as recorded.

    >>> reason_text("policy: hold (rules hold-external)", "ja")
    'ポリシーの判定: 保留（ルール hold-external）'
    >>> reason_text("notification: sender told of hold", "ja")
    '通知: 送信者に保留を通知'
    >>> reason_text("cancelled by the sender (notification link)", "ja")
    '送信者が取り消しました（通知のリンクから）'
    """
    if lang != "ja" or not reason:
        return reason
    suffix = ""
    if reason.endswith(" (notification link)"):
        reason, suffix = reason.removesuffix(" (notification link)"), "（通知のリンクから）"
    for pattern, ja in _REASON_PATTERNS:
        m = pattern.match(reason)
        if m is None:
            continue
        if ja.startswith("{0:account}") and m.group(1) not in _ACCOUNT_EVENTS:
            continue
        return _fill(ja, m.groups()) + suffix
    return reason + suffix


_ACCOUNT_DETAILS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"^{p}$"), ja)
    for p, ja in (
        (r"password", "パスワード"),
        (r"password\+totp", "パスワードと確認コード"),
        (r"bad password or user", "アドレスまたはパスワードの誤り"),
        (r"disabled", "無効なアカウント"),
        (r"wrong code", "確認コードの誤り"),
        (r"replayed code", "使用済みの確認コード"),
        (r"no secret", "二要素認証が未設定"),
        (r"mfa pending", "確認コード待ち"),
        (r"(\d+) failures", "{0} 回失敗"),
        (r"roles (.*) -> (.*)", "役割 {0} → {1}"),
        (r"name", "表示名の変更"),
    )
)


def _roles_ja(roles: str) -> str:
    return "・".join(_BASE["ja"].get(f"role.{r}", r) for r in roles.split(",") if r) or "なし"


def _account_detail(detail: str) -> str:
    for pattern, ja in _ACCOUNT_DETAILS:
        m = pattern.match(detail)
        if m:
            groups = m.groups()
            if pattern.pattern.startswith("^roles"):
                groups = tuple(_roles_ja(g) for g in groups)
            return ja.format(*groups)
    return detail


def _fill(template: str, groups: tuple[str | None, ...]) -> str:
    def one(match: re.Match[str]) -> str:
        value = groups[int(match.group(1))] or ""
        kind = match.group(2)
        if kind == "action":
            return MAIL_MESSAGES["ja"].get(f"action.{value}", value)
        if kind == "state":
            return MAIL_MESSAGES["ja"].get(f"state.{value}", value)
        if kind == "kind":
            return _KINDS.get(value, value)
        if kind == "reason":
            return reason_text(value, "ja")
        if kind == "colon":
            return f"（{value}）" if value else ""
        if kind == "paren":
            return f"（{_account_detail(value)}）" if value else ""
        if kind == "used_up":
            return "。上限に達しました" if value else ""
        if kind == "account":
            return MAIL_MESSAGES["ja"].get(f"audit.action.{value}", value)
        return value

    return re.sub(r"\{(\d)(?::(\w+))?\}", one, template)


def pick_language(query: str | None, cookie: str | None, default: str) -> str:
    """``?lang=`` wins over the cookie, which wins over the configured default.

    >>> pick_language("en", "ja", "ja"), pick_language(None, "en", "ja"), pick_language("xx", None, "ja")
    ('en', 'en', 'ja')
    """
    for value in (query, cookie):
        if value in LANGUAGES:
            return value
    return default
