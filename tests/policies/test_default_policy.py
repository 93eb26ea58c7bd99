"""The shipped policy over realistic messages, Japanese and English, one group of tests per rule.

Messages are real RFC 5322 bytes. My Number goes through the real classifiers end to end; for
entity types whose detectors are built in parallel, the findings those detectors will report are
added to the real scan result (a unit test may fake the outside world).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, replace
from datetime import timedelta

import docx
import pytest
import pyzipper

from classifiers import scan_bytes, scan_message
from classifiers.model import Finding, PartResult, ScanResult
from gateway.commands.policy import envelope_from_message
from policies import Action, Decision, Policy, default_policy_path, evaluate, load_policy
from tests.policies.helpers import NOW, eml, finding, part, picture, upload


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(default_policy_path())


@dataclass(frozen=True)
class Known:
    domains: frozenset[str]

    def has_written_to(self, sender: str, domain: str) -> bool:
        return domain in self.domains


# Partners the sales staff already write to: keeps tag-first-contact out of unrelated tests.
HISTORY = Known(
    frozenset({"partner.example.com", "example.com", "example.net", "example.org", "torihikisaki.example.jp"})
)


def decide(
    policy: Policy, raw: bytes, result: ScanResult | None = None, *, history: Known | None = HISTORY
) -> Decision:
    return evaluate(policy, envelope_from_message(raw), result or scan_message(raw), now=NOW, history=history)


def plus(result: ScanResult, *parts: PartResult, records: int | None = None) -> ScanResult:
    """The real scan result of a message with the parts a detector under construction will add."""
    return ScanResult(
        parts=(*result.parts, *parts),
        records=result.records if records is None else records,
        size=result.size,
        errors=result.errors,
    )


def in_body(result: ScanResult, *findings: Finding) -> ScanResult:
    body = next(p for p in result.parts if p.kind == "body")
    new = replace(body, findings=(*body.findings, *findings))
    return replace(result, parts=tuple(new if p is body else p for p in result.parts))


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _docx(text: str) -> bytes:
    doc = docx.Document()
    doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("inner/readme.txt", "添付資料です")
    return out.getvalue()


def _password_zip() -> bytes:
    """A password-protected (AES) ZIP, as PPAP senders make them."""
    out = io.BytesIO()
    with pyzipper.AESZipFile(out, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(b"pass1234")
        z.writestr("見積書.txt", "お見積り金額 100万円")
    return out.getvalue()


# -- 1. 送信保留: all external mail waits 5 minutes ---------------------------------------------


def test_external_mail_is_held_for_a_grace_period_ja(policy: Policy) -> None:
    raw = eml(
        to="佐藤 一郎 様 <ichiro.sato@partner.example.com>",
        subject="お打ち合わせの日程について",
        body="佐藤様\n\nいつもお世話になっております。来週のお打ち合わせですが、火曜日 14 時はいかがでしょうか。\n\n山田",
    )
    d = decide(policy, raw)
    assert d.action is Action.HOLD
    assert d.rule_ids == ("hold-external-grace",)
    assert d.release_at == NOW + timedelta(minutes=5)
    assert d.transforms == ()


def test_external_mail_is_held_for_a_grace_period_en(policy: Policy) -> None:
    raw = eml(
        to="John Smith <john.smith@example.com>",
        subject="Meeting next week",
        body="Hi John,\n\nDoes Tuesday 2pm work?\n\nTaro",
    )
    d = decide(policy, raw)
    assert (d.action, d.rule_ids) == (Action.HOLD, ("hold-external-grace",))


def test_internal_mail_is_delivered(policy: Policy) -> None:
    raw = eml(
        to="佐藤 花子 <hanako.sato@example.co.jp>",
        cc="x@osaka.example.co.jp",
        subject="週報",
        body="今週の週報です。",
    )
    d = decide(policy, raw)
    assert (d.action, d.matches) == (Action.DELIVER, ())


# -- 2. BCC強制変換 ------------------------------------------------------------------------------


def test_announcement_to_many_external_addresses_goes_bcc_ja(policy: Policy) -> None:
    to = ", ".join(f"お客様{i} <customer{i}@example.com>" for i in range(12))
    raw = eml(
        to=to,
        subject="【ご案内】新製品セミナー開催のお知らせ",
        body="各位\n\n新製品セミナーを開催いたします。",
    )
    d = decide(policy, raw)
    assert d.action is Action.HOLD  # still held for the grace period
    assert d.transforms == ("bcc",)
    (bcc,) = [m for m in d.matches if m.rule_id == "bcc-many-external"]
    assert bcc.evidence[0].count == 12


def test_mail_to_three_companies_goes_bcc_en(policy: Policy) -> None:
    raw = eml(
        to="a@example.com, b@example.org",
        cc="c@example.net",
        subject="Joint project kickoff",
        body="Dear all,\n\nPlease find the agenda below.",
    )
    d = decide(policy, raw)
    assert "bcc" in d.transforms
    (bcc,) = [m for m in d.matches if m.rule_id == "bcc-many-external"]
    assert bcc.evidence[0].values == ("example.com", "example.net", "example.org")


def test_two_companies_and_internal_colleagues_stay_visible(policy: Policy) -> None:
    raw = eml(
        to="a@example.com, b@example.com, c@example.org",
        cc="hanako.sato@example.co.jp, ken.takahashi@example.co.jp",
        subject="議事録",
        body="本日の議事録を送ります。",
    )
    assert decide(policy, raw).transforms == ()


# -- 3. マイナンバー: end to end through the real classifiers ------------------------------------


def test_my_number_to_outside_is_blocked_ja(policy: Policy) -> None:
    raw = eml(
        to="税理士事務所 <office@torihikisaki.example.jp>",
        subject="源泉徴収票の件",
        body="お世話になっております。\n従業員の個人番号 1234 5678 9018 をお知らせします。",
    )
    d = decide(policy, raw)
    assert d.action is Action.BLOCK
    assert d.notify_security is True
    (block,) = d.winning_rules
    assert block.rule_id == "block-my-number-external"
    (ev,) = [e for e in block.evidence if e.entity_type == "my_number"]
    assert ev.values == ("**** **** 9018",)
    assert ev.locations == ("body",)
    assert "1234 5678 9018" not in str(d.to_dict())


def test_my_number_to_outside_is_blocked_en(policy: Policy) -> None:
    raw = eml(
        to="payroll@example.com",
        subject="Employee record",
        body="Her My Number is 1234-5678-9018, please file it.",
    )
    assert decide(policy, raw).action is Action.BLOCK


def test_my_number_inside_the_company_passes(policy: Policy) -> None:
    raw = eml(
        to="伊藤 健二 <kenji.ito@example.co.jp>",
        subject="年末調整",
        body="個人番号 1234 5678 9018 を提出します。",
    )
    assert decide(policy, raw).action is Action.DELIVER


def test_my_number_in_an_upload_is_blocked(policy: Policy) -> None:
    data = "氏名,個人番号\n山田 太郎,1234 5678 9018\n".encode()
    d = evaluate(policy, upload(service="box", host="upload.box.com"), scan_bytes(data, "社員.csv"), now=NOW)
    assert d.action is Action.BLOCK
    assert d.winning_rules[0].rule_id == "block-my-number-external"


def test_order_number_passing_the_checksum_alone_is_not_blocked(policy: Policy) -> None:
    raw = eml(to="shop@example.com", subject="ご注文", body="注文番号 123456789018 の件で連絡しました。")
    d = decide(policy, raw)
    assert d.action is not Action.BLOCK


# -- 4. クレジットカード番号 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "value"),
    [
        (
            "カード情報",
            "カード番号: 4111-1111-1111-1111 有効期限 12/28 でお願いします。",
            "4111-1111-1111-1111",
        ),
        ("Card details", "Card number 4111 1111 1111 1111, exp 12/28.", "4111 1111 1111 1111"),
    ],
    ids=["ja", "en"],
)
def test_card_number_to_outside_is_blocked(policy: Policy, subject: str, body: str, value: str) -> None:
    raw = eml(to="booking@example.com", subject=subject, body=body)
    d = decide(policy, raw, in_body(scan_message(raw), finding("credit_card", value, score=1.0)))
    assert d.action is Action.BLOCK
    assert d.winning_rules[0].rule_id == "block-card-external"
    assert d.winning_rules[0].evidence[-1].values[0].endswith("1111")
    assert value not in str(d.to_dict())


def test_one_card_like_number_without_context_is_only_held(policy: Policy) -> None:
    raw = eml(to="booking@example.com", subject="Ref", body="Reference 4111111111111111")
    d = decide(policy, raw, in_body(scan_message(raw), finding("credit_card", "4111111111111111", score=0.6)))
    assert d.action is Action.HOLD


# -- 5. 上長承認: personal data of many people ----------------------------------------------------


def _customer_list(n: int) -> tuple[PartResult, bytes]:
    rows = "\n".join(f"顧客{i},090-0000-{i:04d}" for i in range(n))
    attachment = part(
        *(
            finding("phone_number", f"090-0000-{i:04d}", location=f"顧客リスト.csv!B{i + 2}")
            for i in range(n)
        ),
        kind="attachment",
        filename="顧客リスト.csv",
        records=n,
    )
    return attachment, rows.encode()


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("顧客リスト送付", "ご依頼の顧客リストを添付します。"),
        ("Customer list", "Please find the customer list attached."),
    ],
    ids=["ja", "en"],
)
def test_customer_list_needs_the_managers_approval(policy: Policy, subject: str, body: str) -> None:
    attachment, rows = _customer_list(60)
    raw = eml(
        to="agency@example.com",
        subject=subject,
        body=body,
        attachments=(("顧客リスト.csv", rows, "text/csv"),),
    )
    d = decide(policy, raw, plus(scan_message(raw), attachment, records=60))
    assert d.action is Action.APPROVAL
    assert d.approvers == ("hanako.sato@example.co.jp",)  # 山田's manager in the example directory
    assert d.approval_deadline == NOW + timedelta(hours=24)
    assert d.on_timeout == "escalate"
    assert d.escalate_to == ("ken.takahashi@example.co.jp", "yui.watanabe@example.co.jp")
    (match,) = d.winning_rules
    assert match.evidence[-1].count == 60


def test_a_few_contacts_need_no_approval(policy: Policy) -> None:
    attachment, _ = _customer_list(3)
    raw = eml(to="agency@example.com", subject="担当者一覧", body="担当者の連絡先です。")
    assert decide(policy, raw, plus(scan_message(raw), attachment, records=3)).action is Action.HOLD


def test_bulk_export_upload_needs_approval_and_unknown_sender_goes_to_security(policy: Policy) -> None:
    attachment, _ = _customer_list(80)
    result = ScanResult(parts=(replace(attachment, kind="file"),), records=80)
    d = evaluate(policy, upload(service="google_drive"), result, now=NOW)
    assert (d.action, d.approvers[0]) == (Action.APPROVAL, "hanako.sato@example.co.jp")
    stranger = upload(sender="contractor@example.co.jp", service="google_drive")
    d2 = evaluate(policy, stranger, result, now=NOW)
    assert d2.action is Action.APPROVAL  # fallback approvers: the security group
    assert d2.approvers == ("ken.takahashi@example.co.jp", "yui.watanabe@example.co.jp")


# -- 6. 社外秘・極秘 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "marking"),
    [
        ("2026年度 事業計画 (社外秘)", "社外秘"),
        ("極秘: 合併交渉", "極秘"),
        ("Q3 forecast - CONFIDENTIAL", "CONFIDENTIAL"),
    ],
    ids=["社外秘", "極秘", "en"],
)
def test_marked_documents_leaving_go_to_security_review(policy: Policy, subject: str, marking: str) -> None:
    raw = eml(to="advisor@example.com", subject=subject, body=f"資料を添付します。\n{marking}")
    d = decide(policy, raw, in_body(scan_message(raw), finding("confidential_marking", marking)))
    assert d.action is Action.QUARANTINE
    assert d.winning_rules[0].rule_id == "quarantine-confidential"
    assert d.notify_security is True


def test_sensitivity_labelled_attachment_goes_to_review(policy: Policy) -> None:
    raw = eml(
        to="advisor@example.com",
        subject="資料",
        body="資料を添付します。",
        attachments=(("plan.docx", _docx("2026年度 事業計画"), DOCX),),
    )
    label = part(
        finding("confidential_marking", "Highly Confidential", location="plan.docx!metadata"),
        kind="metadata",
        location="plan.docx!metadata",
    )
    assert decide(policy, raw, plus(scan_message(raw), label)).action is Action.QUARANTINE


@pytest.mark.parametrize(
    ("body", "value", "score", "kind"),
    [
        ("This e-mail may contain confidential information.", "confidential", 0.4, "body"),
        ("", "General", 0.2, "metadata"),
    ],
    ids=["disclaimer", "public-label"],
)
def test_disclaimers_and_public_labels_are_not_reviewed(
    policy: Policy, body: str, value: str, score: float, kind: str
) -> None:
    raw = eml(to="advisor@example.com", subject="Minutes", body=body or "Minutes attached.")
    weak = part(finding("confidential_marking", value, score=score), kind=kind)
    assert decide(policy, raw, plus(scan_message(raw), weak)).action is Action.HOLD


def test_marked_document_inside_the_company_passes(policy: Policy) -> None:
    raw = eml(to="hanako.sato@example.co.jp", subject="事業計画 (社外秘)", body="社外秘")
    assert (
        decide(policy, raw, in_body(scan_message(raw), finding("confidential_marking", "社外秘"))).action
        is Action.DELIVER
    )


# -- 7. 共有リンク・PPAP --------------------------------------------------------------------------


def test_share_link_is_held_with_a_notice_ja(policy: Policy) -> None:
    link = "https://example.box.com/s/abcdef123456"
    raw = eml(
        to="sato@partner.example.com",
        subject="資料共有",
        body=f"資料はこちらからダウンロードしてください。\n{link}",
    )
    d = decide(policy, raw, in_body(scan_message(raw), finding("share_link", link, score=0.9)))
    assert d.action is Action.HOLD
    assert d.release_at == NOW + timedelta(minutes=30)  # the longer of the two holds
    (match,) = [m for m in d.matches if m.rule_id == "hold-share-link-or-encrypted"]
    assert "公開範囲" in match.description_ja and "expires" in match.description_en
    (ev,) = [e for e in match.evidence if e.entity_type == "share_link"]
    assert ev.values == ("https://example.box.com/…",)


def test_password_zip_is_held_with_a_notice_en(policy: Policy) -> None:
    raw = eml(
        to="john@example.com",
        subject="Files",
        body="Password follows in a separate mail.",
        attachments=(("files.zip", _password_zip(), "application/zip"),),
    )
    zipped = part(kind="attachment", filename="files.zip", content_type="application/zip", encrypted=True)
    d = decide(policy, raw, plus(scan_message(raw), zipped))
    assert d.action is Action.HOLD
    assert "hold-share-link-or-encrypted" in d.rule_ids
    assert "quarantine-not-inspected" not in d.rule_ids
    assert d.release_at == NOW + timedelta(minutes=30)
    # When it leaves, outside recipients get the encrypted file as a download link, however small.
    assert "link_attachments" in d.transforms
    assert d.link is not None and d.link.recipients == ("john@example.com",)
    assert d.link.selects("files.zip", "application/zip", 300, True)
    assert not d.link.selects("memo.txt", "text/plain", 300, False)


# -- 2a. 添付ファイルのダウンロードリンク化 -------------------------------------------------------------


def test_large_attachment_to_outside_becomes_a_link_inside_keeps_it(policy: Policy) -> None:
    drawing = picture(1_280_000)
    raw = eml(
        to="佐藤 一郎 様 <ichiro.sato@partner.example.com>",
        cc="hanako.sato@example.co.jp",
        subject="図面の送付",
        body="図面をお送りします。",
        attachments=(("図面.png", drawing, "image/png"), ("memo.txt", b"short", "text/plain")),
    )
    d = decide(policy, raw)
    assert d.action is Action.HOLD
    assert "link-large-attachments" in d.rule_ids
    assert d.transforms == ("link_attachments",)
    assert d.link is not None
    assert d.link.recipients == ("ichiro.sato@partner.example.com",)
    assert (d.link.expiry, d.link.max_downloads) == (None, None)  # the gateway's defaults
    assert d.link.selects("図面.png", "image/png", len(drawing), False)
    assert not d.link.selects("memo.txt", "text/plain", 5, False)


def test_small_attachments_and_internal_mail_keep_their_attachments(policy: Policy) -> None:
    small = eml(
        to="john@example.com",
        subject="Agenda",
        body="Attached.",
        attachments=(("agenda.txt", b"10:00 start", "text/plain"),),
    )
    assert decide(policy, small).link is None
    big_inside = eml(
        to="hanako.sato@example.co.jp",
        subject="図面",
        body="社内共有です。",
        attachments=(("図面.png", picture(1_200_000), "image/png"),),
    )
    assert (decide(policy, big_inside).action, decide(policy, big_inside).link) == (Action.DELIVER, None)


# -- 8. 検査できなかったもの -------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["depth", "ratio", "time", "corrupt"])
def test_not_fully_inspected_attachment_goes_to_review(policy: Policy, reason: str) -> None:
    raw = eml(
        to="john@example.com",
        subject="archive / アーカイブ",
        body="添付をご確認ください。",
        attachments=(("nested.zip", _zip(), "application/zip"),),
    )
    cut = part(kind="attachment", filename="nested.zip", content_type="application/zip", truncated=(reason,))
    d = decide(policy, raw, plus(scan_message(raw), cut))
    assert d.action is Action.QUARANTINE
    assert d.winning_rules[0].rule_id == "quarantine-not-inspected"
    assert reason in d.winning_rules[0].evidence[-1].detail


def test_extraction_error_goes_to_review(policy: Policy) -> None:
    raw = eml(to="john@example.com", subject="x", body="x")
    result = replace(scan_message(raw), errors=("extract: ValueError: broken",))
    assert decide(policy, raw, result).action is Action.QUARANTINE


# -- 9. 種類を偽装したファイル ------------------------------------------------------------------------


def test_a_csv_disguised_as_a_picture_is_read_and_goes_to_review(policy: Policy) -> None:
    listing = "GIF89a\n氏名,部署\n山田 太郎,営業部\n".encode()
    raw = eml(to="john@example.com", subject="一覧", body="添付します。",
              attachments=(("list.csv", listing, "text/csv"),))  # fmt: skip
    result = scan_message(raw)
    assert ("list.csv", "content image/gif; name .csv; declared text/csv") in result.type_mismatches
    d = decide(policy, raw, result)
    assert d.action is Action.QUARANTINE
    assert "quarantine-disguised-file" in d.rule_ids


def test_the_disguise_does_not_hide_a_my_number(policy: Policy) -> None:
    listing = "GIF89a\n氏名,マイナンバー\n山田 太郎,1234 5678 9018\n".encode()
    raw = eml(to="john@example.com", subject="一覧", body="添付します。",
              attachments=(("list.csv", listing, "text/csv"),))  # fmt: skip
    d = decide(policy, raw)
    assert d.action is Action.BLOCK
    assert {"block-my-number-external", "quarantine-disguised-file"} <= set(d.rule_ids)


def test_a_csv_sent_as_an_excel_type_is_no_disguise(policy: Policy) -> None:
    raw = eml(to="john@example.com", subject="一覧", body="添付します。",
              attachments=(("list.csv", "氏名,部署\n山田 太郎,営業部\n".encode(), "application/vnd.ms-excel"),))  # fmt: skip
    assert "quarantine-disguised-file" not in decide(policy, raw).rule_ids


# -- 10. 初めての送信先 --------------------------------------------------------------------------------


def test_first_mail_to_a_domain_is_tagged(policy: Policy) -> None:
    raw = eml(to="info@newcustomer.example", subject="はじめまして", body="初めてご連絡いたします。")
    d = decide(policy, raw)
    assert d.action is Action.HOLD
    assert d.transforms == ("tag",)
    assert d.tag_headers == (("X-Sekimori-First-Contact", "yes"),)
    known = decide(
        policy, eml(to="sato@partner.example.com", subject="Re: 見積", body="ありがとうございます。")
    )
    assert known.transforms == ()


# -- 10. 公開共有 ------------------------------------------------------------------------------------


NOTHING = ScanResult(parts=(), records=0)


@pytest.mark.parametrize("service", ["google_drive", "box", "microsoft_graph", "dropbox"])
def test_public_sharing_needs_approval(policy: Policy, service: str) -> None:
    d = evaluate(
        policy, upload(service=service, sharing_scope="anyone", sharing_target="file"), NOTHING, now=NOW
    )
    assert d.action is Action.APPROVAL
    assert (d.approvers, d.on_timeout) == (("hanako.sato@example.co.jp",), "reject")
    assert (d.pass_valid_for, d.pass_uses) == (timedelta(hours=24), 1)


@pytest.mark.parametrize("scope", ["organization", "specific"])
def test_sharing_inside_or_with_named_colleagues_is_allowed(policy: Policy, scope: str) -> None:
    env = upload(service="box", sharing_scope=scope, recipients=("jiro@example.co.jp",), link_expires=False)
    assert evaluate(policy, env, NOTHING, now=NOW, history=Known(frozenset())).action is Action.DELIVER


def test_a_public_link_to_a_folder_is_refused(policy: Policy) -> None:
    d = evaluate(
        policy, upload(service="box", sharing_scope="anyone", sharing_target="folder"), NOTHING, now=NOW
    )
    assert (d.action, d.notify_security) == (Action.BLOCK, True)
    assert [m.rule_id for m in d.winning_rules] == ["block-public-folder-link"]


def test_an_invitation_to_a_first_time_domain_is_coached(policy: Policy) -> None:
    env = upload(
        service="microsoft_graph",
        sharing_scope="specific",
        recipients=("tanaka@new-partner.example",),
        link_expires=True,
    )
    d = evaluate(policy, env, NOTHING, now=NOW, history=Known(frozenset()))
    assert (d.action, [m.rule_id for m in d.winning_rules]) == (Action.WARN, ["warn-invite-new-domain"])
    assert d.release_at == NOW + timedelta(hours=1)
    known = evaluate(policy, env, NOTHING, now=NOW, history=Known(frozenset({"new-partner.example"})))
    assert known.action is Action.DELIVER


def test_an_external_link_without_an_expiry_date_is_coached(policy: Policy) -> None:
    history = Known(frozenset({"partner.example"}))
    env = upload(service="microsoft_graph", sharing_scope="specific", recipients=("a@partner.example",))
    for expires, action in ((False, Action.WARN), (True, Action.DELIVER), (None, Action.DELIVER)):
        d = evaluate(policy, replace(env, link_expires=expires), NOTHING, now=NOW, history=history)
        assert d.action is action, expires
    # A public link without one also needs approval, which outranks the warning.
    public = upload(service="box", sharing_scope="anyone", sharing_target="file", link_expires=False)
    d = evaluate(policy, public, NOTHING, now=NOW)
    assert d.action is Action.APPROVAL
    assert {m.rule_id for m in d.matches} == {"approval-public-sharing", "warn-external-link-without-expiry"}


def test_personal_data_into_a_slack_connect_channel_is_coached(policy: Policy) -> None:
    """A file posted to a channel shared with another company (the gate judges it with scope
    specific) is stopped for the user to check when it carries personal data; the same file in
    an ordinary channel, or a file without personal data, passes."""
    memo = scan_bytes(
        "打ち合わせ参加者\n山田 太郎 様 090-1234-5678\n佐藤 花子 様 03-1234-5678\n".encode(),
        "参加者.txt",
        declared_type="text/plain",
    )
    assert {f.type for p in memo.parts for f in p.findings} >= {"person_name", "phone_number"}
    shared = upload(service="slack", sharing_scope="specific", sharing_target="file")
    d = evaluate(policy, shared, memo, now=NOW)
    assert (d.action, [m.rule_id for m in d.winning_rules]) == (
        Action.WARN,
        ["warn-slack-connect-personal-data"],
    )
    assert d.release_at == NOW + timedelta(hours=1)
    assert evaluate(policy, upload(service="slack"), memo, now=NOW).action is Action.DELIVER
    plain = scan_bytes(
        "来週の議題: 新製品の価格表について\n".encode(), "議題.txt", declared_type="text/plain"
    )
    assert evaluate(policy, shared, plain, now=NOW).action is Action.DELIVER
    # A My Number in it is still refused: the stricter rule wins.
    mine = plus(memo, part(finding("my_number", "1234 5678 9018", score=0.9)))
    assert evaluate(policy, shared, mine, now=NOW).action is Action.BLOCK


def test_the_readme_example_sender_is_in_the_example_directory_with_a_manager() -> None:
    """The README's send.py writes as someone the shipped policy's directory knows, so its
    approval example reaches a manager (who may approve)."""
    import csv
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    sender = re.search(r'msg\["From"\], msg\["To"\], msg\["Subject"\] = "([^"]+)"', readme)
    assert sender is not None
    with open(root / "policies" / "examples" / "directory.csv", encoding="utf-8") as f:
        people = {row["address"]: row for row in csv.DictReader(f)}
    me = people[sender.group(1)]
    manager = people[me["manager"]]
    assert "approver" in manager["roles"].split(";")
    assert me["manager"] in readme  # the README names who approves
