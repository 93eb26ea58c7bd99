"""A real gateway store (SQLite + spool in tmp) with messages in it, for the UI's mail tests.

Messages are put in the way the relay does it: the raw message is accepted into the store,
classified by the real classifiers, decided by a real ``Decision`` and moved on with
``Store.transition``; only the choice of rule is the test's.
"""

from __future__ import annotations

import asyncio
import email.message
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvloop

from classifiers import scan_bytes, scan_message
from gateway.links.facts import FileFacts, LinkFacts
from gateway.pipeline import scan_summary
from gateway.store import Amendment, ItemKind, MessageRecord, State, UploadFacts
from gateway.store.sqlite import SQLiteStore
from policies import Action, Decision, Evidence, RuleMatch
from tests.quarantine_ui.conftest import START, Env, FakeClock, make_env

POLICY = """\
version: 1
organisation:
  internal_domains: [example.jp]
rules:
  - id: hold-external
    title: {ja: 社外宛て送信保留, en: Grace period for external mail}
    description: {ja: 社外宛てのメールは送信前に保留されます, en: External mail is held before it leaves}
    when: {recipients: external}
    action: {type: hold, grace: 15m}
"""

_ACTION_STATE = {
    "hold": State.HELD,
    "approval": State.PENDING_APPROVAL,
    "quarantine": State.QUARANTINED,
    "block": State.REFUSED,
}


_UPLOAD_STATE = {
    "deliver": State.PASSED,
    "warn": State.HELD,
    "approval": State.PENDING_APPROVAL,
    "quarantine": State.QUARANTINED,
    "block": State.REFUSED,
}
UPLOAD_FACTS = UploadFacts(
    service="box",
    host="upload.box.com",
    filename="顧客一覧.csv",
    content_type="text/csv",
    tenant="4711",
    destination="営業部/共有",
)


def make_raw(
    sender: str,
    to: list[str],
    subject: str = "見積書の送付",
    body: str = "いつもお世話になっております。\n",
    html: str | None = None,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    if html is None:
        msg.set_content(body)
    else:
        msg.set_content(html, subtype="html")
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


@dataclass
class MailEnv:
    env: Env
    store: SQLiteStore
    policy_path: Path
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def put(
        self,
        sender: str,
        to: list[str],
        action: str = "hold",
        *,
        raw: bytes | None = None,
        subject: str = "見積書の送付",
        approvers: tuple[str, ...] = (),
        release_in: float = 900,
        on_timeout: str | None = None,
    ) -> MessageRecord:
        data = raw if raw is not None else make_raw(sender, to, subject)
        rec: MessageRecord = self.run(
            self._put(sender, to, action, data, subject, approvers, release_in, on_timeout)
        )
        return rec

    async def _put(
        self,
        sender: str,
        to: list[str],
        action: str,
        raw: bytes,
        subject: str,
        approvers: tuple[str, ...],
        release_in: float,
        on_timeout: str | None,
    ) -> MessageRecord:
        rec = await self.store.accept(raw, sender=sender, recipients=to, subject=subject)
        scan = scan_message(raw)
        now = datetime.fromtimestamp(self.env.clock(), UTC)
        evidence = tuple(
            Evidence(
                f.type, 1, (str(f.to_dict(redact=True)["value"]),), (f.location,), "entity",
                (("type", f.type), ("n", 1)),
            )
            for f in scan.findings
        )  # fmt: skip
        match = RuleMatch(
            f"t-{action}",
            f"テスト規則 {action}",
            f"test rule {action}",
            f"{action} の説明",
            f"explains {action}",
            Action(action),
            evidence or (Evidence(None, len(to), (), (), "external_recipients"),),
        )
        decision = Decision(
            Action(action),
            (),
            (match,),
            release_at=now + timedelta(seconds=release_in) if action == "hold" else None,
            approvers=approvers,
            approval_deadline=now + timedelta(hours=1) if action == "approval" else None,
            on_timeout="escalate"
            if on_timeout == "escalate"
            else ("reject" if action == "approval" else None),
            escalate_to=("ciso@example.jp",) if on_timeout == "escalate" else (),
        )
        changes: dict[str, Any] = {"decision": decision.to_dict(), "scan": scan_summary(scan)}
        if action == "hold":
            changes["release_at"] = decision.release_at
        if action == "approval":
            changes["approvers"] = approvers
            changes["expires_at"] = decision.approval_deadline
        return await self.store.transition(
            rec.id, _ACTION_STATE[action], actor="policy", reason=f"policy: {action}", **changes
        )

    def put_upload(
        self,
        user: str,
        action: str = "approval",
        *,
        data: bytes = "氏名,電話\n山田太郎,03-1234-5678\n".encode(),
        facts: UploadFacts = UPLOAD_FACTS,
        approvers: tuple[str, ...] = (),
        uses: int = 1,
        valid_for: float = 86400,
    ) -> MessageRecord:
        """An upload recorded the way the proxy does it: spooled, classified by the real
        classifiers, decided (a real ``Decision`` of ``action`` with pass terms) and moved on."""
        rec: MessageRecord = self.run(self._put_upload(user, action, data, facts, approvers, uses, valid_for))
        return rec

    async def _put_upload(
        self,
        user: str,
        action: str,
        data: bytes,
        facts: UploadFacts,
        approvers: tuple[str, ...],
        uses: int,
        valid_for: float,
    ) -> MessageRecord:
        rec = await self.store.accept(
            data,
            kind=ItemKind.UPLOAD,
            sender=user,
            recipients=(),
            subject=facts.filename,
            meta={"upload": facts.to_meta()},
            actor="proxy",
        )
        scan = scan_bytes(data, facts.filename)
        now = datetime.fromtimestamp(self.env.clock(), UTC)
        evidence = tuple(
            Evidence(f.type, 1, (str(f.to_dict(redact=True)["value"]),), (f.location,), f.type)
            for f in scan.findings
        )
        match = RuleMatch(
            f"u-{action}",
            f"アップロード規則 {action}",
            f"upload rule {action}",
            f"{action} の説明 (アップロード)",
            f"explains {action} (upload)",
            Action(action),
            evidence or (Evidence(None, 0, (), (), "upload"),),
        )
        coached = action in ("approval", "warn")
        decision = Decision(
            Action(action),
            (),
            (match,),
            release_at=now + timedelta(hours=1) if action == "warn" else None,
            approvers=approvers,
            approval_deadline=now + timedelta(hours=24) if action == "approval" else None,
            on_timeout="reject" if action == "approval" else None,
            pass_valid_for=timedelta(seconds=valid_for) if coached else None,
            pass_uses=uses if coached else None,
        )
        changes: dict[str, Any] = {"decision": decision.to_dict(), "scan": scan_summary(scan)}
        if action == "warn":
            changes["release_at"] = decision.release_at
        if action == "approval":
            changes["approvers"] = approvers
            changes["expires_at"] = decision.approval_deadline
        return await self.store.transition(
            rec.id, _UPLOAD_STATE[action], actor="policy", reason=f"policy: {action}", **changes
        )

    def get(self, msg_id: str) -> MessageRecord:
        rec: MessageRecord | None = self.run(self.store.get(msg_id))
        assert rec is not None
        return rec

    def events(self, msg_id: str | None = None) -> list[Any]:
        return list(self.run(self.store.audit_events(msg_id=msg_id)))


@dataclass
class Told:
    """Stands in for the relay's notifier (gateway.notify.Notifier) in TestClient tests; the
    browser tests use the real one."""

    #: (message id, outcome, by, comment) of each notice asked for.
    told: list[tuple[str, str, str, str]]

    async def decided(
        self, rec: MessageRecord, outcome: str, *, by: str, comment: str = "", expired: bool = False
    ) -> None:
        self.told.append((rec.id, outcome, by, comment))

    @property
    def rejected_ids(self) -> list[tuple[str, str]]:
        return [(msg_id, comment) for msg_id, outcome, _, comment in self.told if outcome == "rejected"]


def open_mail_env(tmp_path: Path, **overrides: object) -> Iterator[MailEnv]:
    loop = uvloop.new_event_loop()
    clock = FakeClock(START)
    store = loop.run_until_complete(
        SQLiteStore.open(tmp_path / "gw", clock=lambda: datetime.fromtimestamp(clock(), UTC))
    )
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(POLICY, encoding="utf-8")
    env = make_env(tmp_path, store, policy_path=policy_path, clock=clock, **overrides)
    try:
        yield MailEnv(env, store, policy_path, loop)
    finally:
        env.ui.db.close()
        loop.run_until_complete(store.close())
        loop.close()


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailEnv]:
    yield from open_mail_env(tmp_path, notifier=Told([]))


def delivered_with_link(
    mail: MailEnv, sender: str, to: str = "kyaku@partner.example"
) -> tuple[MessageRecord, MessageRecord]:
    """A delivered message and the link made for its outside recipient, as delivery makes them."""
    held = mail.put(sender, [to], subject="図面の送付")
    for step in (State.DELIVERING, State.DELIVERED):
        rec = mail.run(mail.store.transition(held.id, step, actor="delivery", reason="sent"))
    now = datetime.fromtimestamp(mail.env.clock(), UTC)
    facts = LinkFacts(
        mail=rec.id,
        recipient=to,
        files=(FileFacts("F1", rec.id, "図面.pdf", "application/pdf", 1_234_567, "ab" * 32),),
        max_downloads=5,
        downloads=1,
    )

    async def make() -> tuple[MessageRecord, MessageRecord]:
        link = await mail.store.create(
            ItemKind.LINK,
            None,
            sender=sender,
            recipients=(to,),
            subject=rec.subject,
            meta={"link": facts.to_dict()},
            expires_at=now + timedelta(days=7),
            actor="delivery",
            reason=f"download link for {to}",
        )

        def record(current: MessageRecord, at: datetime) -> Amendment:
            meta = {**current.meta, "links": {"files": ["F1"], "to": {to: link.id}}}
            return Amendment("links", "links made", {"meta": meta})

        after, _ = await mail.store.amend(rec.id, record, actor="delivery")
        return after, link

    made: tuple[MessageRecord, MessageRecord] = mail.run(make())
    return made
