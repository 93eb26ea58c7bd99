"""The catalogue entries of uploads (cloud services, sharing, approvals that let an upload pass
again, coaching), Japanese first, English beside it; merged into :data:`quarantine_ui.i18n.MESSAGES`."""

from __future__ import annotations

from gateway.store import State
from gateway.uploads import SERVICES, SHARING

#: What happens next, said to the person who uploaded, for each state of an upload.
NEXT_STEP: dict[State, tuple[str, str]] = {
    State.RECEIVED: ("確認中です。", "Being checked."),
    State.PASSED: (
        "このアップロードは許可され、アップロード先に届きました。",
        "This upload was allowed and reached its destination.",
    ),
    State.REFUSED: (
        "このアップロードは規則により拒否されました。業務上必要な場合は、参照番号を添えて情報セキュリティ担当にご相談ください。",
        "This upload was refused by a rule. If it is needed for your work, contact the security team with its reference.",
    ),
    State.HELD: (
        "このアップロードは警告により止められています。業務上必要な場合は、下の欄に理由を入力して「理由を記録して続ける」を押し、{until} までに同じファイルをもう一度アップロードしてください。",
        "This upload was stopped with a warning. If it is needed for your work, give your reason below, press “Record my reason and continue”, and upload the same file again by {until}.",
    ),
    State.PENDING_APPROVAL: (
        "承認待ちです。承認されると、同じファイルを同じアップロード先にもう一度アップロードできます（承認期限: {until}）。",
        "Waiting for approval. Once approved, you may upload the same file to the same destination again (deadline: {until}).",
    ),
    State.QUARANTINED: (
        "情報セキュリティ担当が確認しています。許可されると、同じファイルをもう一度アップロードできます。",
        "The security team is reviewing it. Once it is allowed, you may upload the same file again.",
    ),
    State.APPROVED: (
        "承認されました。{until} までに、同じファイルを同じアップロード先にもう一度アップロードしてください（あと {left} 回）。",
        "Approved. Upload the same file to the same destination again by {until} ({left} left).",
    ),
    State.REJECTED: (
        "承認されませんでした。このファイルはアップロードできません。",
        "Not approved. This file cannot be uploaded.",
    ),
    State.DELETED: ("情報セキュリティ担当が削除しました。", "Deleted by the security team."),
    State.EXPIRED: (
        "承認の有効期限が切れたか、許可された回数を使い切りました。必要な場合は、もう一度アップロードして承認を依頼してください。",
        "The approval has run out (its time or its uses). If needed, upload the file again to ask for approval.",
    ),
}

#: Services and sharing scopes come from :mod:`gateway.uploads` (the notices use them too).

#: An upload's state where it is said differently from a message's (``state.upload.<state>``).
STATE_NAMES: dict[State, tuple[str, str]] = {
    State.HELD: ("警告で停止中", "Stopped with a warning"),
    State.REFUSED: ("アップロード拒否", "Upload refused"),
    State.PASSED: ("アップロード済み", "Uploaded"),
    State.APPROVED: ("承認済み（再アップロード可）", "Approved (may upload again)"),
}

_PAIRS: dict[str, tuple[str, str]] = {
    "kind.mail": ("メール", "Mail"),
    "kind.upload": ("アップロード", "Upload"),
    "upload.kind": ("アップロード", "Upload"),
    "upload.user": ("利用者", "User"),
    "upload.file": ("ファイル名", "File name"),
    "upload.destination": ("アップロード先", "Destination"),
    "upload.invitees": ("招待する相手", "People invited"),
    "upload.host": ("接続先ホスト", "Host"),
    "upload.tenant": ("テナント", "tenant"),
    "upload.parts": ("検査したファイル", "Files inspected"),
    "upload.pass": ("再アップロードの許可", "Permission to upload again"),
    "upload.pass_detail": (
        "{uses} 回中 {used} 回使用（許可した人: {by}）",
        "{used} of {uses} used (granted by {by})",
    ),
    "upload.retry_until": (
        "{until} まで再アップロードできます（あと {left} 回）",
        "May be uploaded again until {until} ({left} left)",
    ),
    "upload.proceed_explain": (
        "警告の内容を確認したうえで業務上必要な場合は、理由を記録すると同じファイルをもう一度アップロードできます。理由は情報セキュリティ担当に共有され、監査ログに残ります。",
        "If, having read the warning, the upload is needed for your work, record why; you may then upload the same file again. Your reason is shared with the security team and kept in the audit log.",
    ),
    "upload.proceed_label": ("アップロードが必要な理由", "Why this upload is needed"),
    "upload.proceed": ("理由を記録して続ける", "Record my reason and continue"),
    "upload.release": ("アップロードを許可する", "Allow the upload"),
    "upload.file_title": ("アップロードされたファイル", "The uploaded file"),
    "upload.file_hint": (
        "内容は画面には表示しません。ダウンロードすると監査ログに記録されます。",
        "The content is not shown in the page. Each download is recorded in the audit log.",
    ),
    "upload.download": ("ファイルをダウンロード", "Download the file"),
    "mail.to_or_destination": ("宛先・アップロード先", "Recipients or destination"),
    "messages.with_uploads": (
        "メールのほか、クラウドサービスへのアップロードのうち、止められたものと承認されたものも表示しています。",
        "Besides your mail, this shows your uploads to cloud services that were stopped or approved.",
    ),
    "messages.filter.approved": (
        "承認済みのアップロード",
        "Approved uploads",
    ),
    "approvals.upload_explain": (
        "クラウドサービスへのアップロードの承認依頼です。承認すると、利用者は同じファイルを同じアップロード先に、期限内に限りもう一度アップロードできます。別のファイルや別のアップロード先には使えません。",
        "An upload to a cloud service. If you approve, the user may upload the same file to the same destination again for a limited time; no other file or destination gets through.",
    ),
    "approvals.more_findings": ("ほか {n} 件", "{n} more"),
    "dashboard.uploads_per_service": ("日別・サービス別のアップロード数", "Uploads per service per day"),
    "dashboard.sharing_stopped": (
        "止めた共有設定の変更（サービス・共有範囲別）",
        "Sharing changes stopped (by service and scope)",
    ),
    "search.title": ("検索", "Search"),
    "search.label": (
        "キーワード（送信者・利用者、件名・ファイル名、アップロード先、ID）",
        "Words (sender or user, subject or file name, destination, id)",
    ),
    "search.kind": ("種類", "Kind"),
    "search.state": ("状態", "State"),
    "search.any": ("すべて", "Any"),
    "search.submit": ("検索", "Search"),
    "search.results": ("検索結果", "Results"),
    "search.none": ("該当するものはありません。", "Nothing matches."),
    "notice.proceeded": (
        "理由を記録しました。同じファイルをもう一度アップロードしてください。",
        "Your reason is recorded. Upload the same file again.",
    ),
    "notice.approved_upload": (
        "承認しました。利用者は同じファイルをもう一度アップロードできます。",
        "Approved. The user may upload the same file again.",
    ),
    "notice.released_upload": (
        "許可しました。利用者は同じファイルをもう一度アップロードできます。",
        "Allowed. The user may upload the same file again.",
    ),
    "notice.rejected_upload": ("却下しました。", "Rejected."),
    "link.proceed.title": ("理由を記録してアップロードを続ける", "Continue an upload, with a reason"),
    "link.proceed.explain": (
        "警告されたアップロードを続けます。業務上必要な理由を入力してください。理由は情報セキュリティ担当に共有され、監査ログに残ります。記録したら、同じファイルをもう一度アップロードしてください。",
        "This continues an upload you were warned about. Say why it is needed for your work; your reason is shared with the security team and kept in the audit log. Then upload the same file again.",
    ),
    "link.proceed.submit": ("理由を記録して続ける", "Record my reason and continue"),
    "link.proceed.done": (
        "理由を記録しました。同じファイルをもう一度アップロードしてください。",
        "Your reason is recorded. Upload the same file again.",
    ),
    "link.approve.explain_upload": (
        "このアップロードを承認します。利用者は同じファイルを同じアップロード先に、期限内に限りもう一度アップロードできます。",
        "The user may then upload the same file to the same destination again, for a limited time.",
    ),
    "link.reject.explain_upload": (
        "このアップロードを却下します。ファイルはアップロードされません。",
        "The upload is rejected; the file will not be uploaded.",
    ),
    "link.approve.done_upload": (
        "承認しました。利用者は同じファイルをもう一度アップロードできます。",
        "Approved. The user may upload the same file again.",
    ),
    "link.reject.done_upload": ("却下しました。", "Rejected."),
    "link.error.reason_required": ("理由を入力してください。", "Please give a reason."),
}


def _table(index: int) -> dict[str, str]:
    out = {k: v[index] for k, v in _PAIRS.items()}
    out.update({f"upload.next.{s.value}": v[index] for s, v in NEXT_STEP.items()})
    out.update({f"state.upload.{s.value}": v[index] for s, v in STATE_NAMES.items()})
    out.update({f"service.{k}": v[index] for k, v in SERVICES.items()})
    out.update({f"sharing.{k}": v[index] for k, v in SHARING.items()})
    return out


UPLOAD_MESSAGES: dict[str, dict[str, str]] = {"ja": _table(0), "en": _table(1)}
