"""``evaluate``: the pure function from (policy, envelope, scan result, now) to a decision.

Every rule is tried; each one that holds becomes a :class:`RuleMatch` with its evidence. The
most severe action wins; ``tag`` and ``bcc`` matches also ride along as transforms, whatever wins.
No I/O and no clock: the only time is ``now``, the only outside knowledge the history view.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from classifiers.model import ScanResult
from policies.conditions import EvalContext
from policies.model import (
    Action,
    AttachmentSelect,
    Decision,
    Directory,
    Envelope,
    Evidence,
    HistoryView,
    LinkPlan,
    Policy,
    Rule,
    RuleMatch,
    domain_of,
    is_in_domains,
)

#: Used when a ``hold`` action does not say how long.
DEFAULT_GRACE = timedelta(minutes=5)
#: Used when an ``approval`` action does not say how long the approvers have.
DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=24)
#: How long an approved upload passes again, when the rule does not say.
DEFAULT_APPROVAL_VALIDITY = timedelta(hours=24)
#: How long a warned user has to go on, and then to upload again, when the rule does not say.
DEFAULT_WARN_VALIDITY = timedelta(hours=1)
#: The header a ``tag`` action adds when it does not name its own.
DEFAULT_TAG_HEADER = "X-Sekimori-Tag"


_SEVERITY = {a: a.severity for a in Action}


def resolve_people(
    entries: tuple[str, ...] | list[str], sender: str, directory: Directory
) -> tuple[str, ...]:
    """Addresses for approver entries: ``manager``, ``group:<name>`` or an address; never the sender."""
    out: list[str] = []
    for entry in entries:
        if entry == "manager":
            manager = directory.manager_of(sender)
            if manager is not None:
                out.append(manager.address)
        elif entry.startswith("group:"):
            out.extend(directory.members(entry[6:]))
        else:
            out.append(entry)
    return tuple(a for a in dict.fromkeys(out) if a != sender)


def _match(rule: Rule, evidence: list[Evidence], ctx: EvalContext) -> RuleMatch:
    action = rule.action
    if action is Action.APPROVAL and not _approvers(rule, ctx):
        # Nobody can approve (the sender is not in the directory, or has no manager): a request
        # nobody can grant would wait for nothing, so the message goes to security review.
        action = Action.QUARANTINE
        evidence = [
            *evidence,
            Evidence(None, 0, (), (), "no_approver"),
        ]
    return RuleMatch(
        rule_id=rule.id,
        title_ja=rule.title_ja,
        title_en=rule.title_en,
        description_ja=rule.description_ja,
        description_en=rule.description_en,
        action=action,
        evidence=tuple(evidence),
    )


def _approvers(rule: Rule, ctx: EvalContext) -> tuple[str, ...]:
    spec = rule.spec
    found = resolve_people(spec.approvers or (), ctx.sender, ctx.directory)
    if not found and spec.fallback_approvers:
        found = resolve_people(spec.fallback_approvers, ctx.sender, ctx.directory)
    return found


def evaluate(
    policy: Policy,
    envelope: Envelope,
    scan: ScanResult,
    *,
    now: datetime,
    history: HistoryView | None = None,
) -> Decision:
    """Decide what happens to one message or upload.

    >>> from datetime import datetime, UTC
    >>> from classifiers import scan_message
    >>> from policies import load_policy, default_policy_path
    >>> policy = load_policy(default_policy_path())
    >>> env = Envelope("mail", "taro.yamada@example.co.jp", ("hanako@example.com",))
    >>> d = evaluate(policy, env, scan_message(b"Subject: hi\\r\\n\\r\\nhello\\r\\n"), now=datetime(2026, 1, 1, tzinfo=UTC))
    >>> d.action, d.release_at.isoformat()
    (<Action.HOLD: 'hold'>, '2026-01-01T00:05:00+00:00')
    """
    ctx = EvalContext(
        envelope,
        scan,
        internal_domains=policy.internal_domains,
        directory=policy.directory,
        history=history,
    )
    matched: list[tuple[Rule, RuleMatch]] = []
    action = Action.DELIVER
    severity = 0
    has_tag = has_bcc = notify = False
    linking: list[Rule] = []
    present = ctx.by_type
    for rule in policy.rules_for(envelope.direction):
        needs = rule.needs
        if needs is not None and needs.isdisjoint(present):
            continue  # it cannot hold: none of the findings it asks for is there
        evidence = rule.predicate(ctx)
        if evidence is None:
            continue
        m = _match(rule, evidence, ctx)
        matched.append((rule, m))
        s = _SEVERITY[m.action]
        if s > severity:
            action, severity = m.action, s
        has_tag = has_tag or m.action is Action.TAG
        has_bcc = has_bcc or m.action is Action.BCC
        if m.action is Action.LINK_ATTACHMENTS:
            linking.append(rule)
        notify = notify or rule.spec.notify_security
    link = _link_plan(linking, envelope, policy) if linking else None
    transforms: tuple[str, ...] = ()
    if has_tag:
        transforms += ("tag",)
    if has_bcc:
        transforms += ("bcc",)
    if link is not None:
        transforms += ("link_attachments",)

    release_at: datetime | None = None
    approvers: tuple[str, ...] = ()
    deadline: datetime | None = None
    on_timeout: Literal["reject", "escalate"] | None = None
    escalate_to: tuple[str, ...] = ()
    pass_valid_for: timedelta | None = None
    pass_uses: int | None = None
    winners = (
        [r for r, m in matched if m.action is action]
        if action in (Action.HOLD, Action.WARN, Action.APPROVAL)
        else []
    )
    if action in (Action.WARN, Action.APPROVAL) and envelope.direction == "upload":
        # The strictest of the winning rules: the shortest validity, the fewest uses.
        default = DEFAULT_WARN_VALIDITY if action is Action.WARN else DEFAULT_APPROVAL_VALIDITY
        pass_valid_for = min([r.spec.valid_for or default for r in winners])
        pass_uses = min([r.spec.uses or 1 for r in winners])
    if action is Action.HOLD:
        release_at = now + max([r.spec.grace or DEFAULT_GRACE for r in winners])
    elif action is Action.WARN:
        release_at = now + (pass_valid_for or DEFAULT_WARN_VALIDITY)
    elif action is Action.APPROVAL:
        approvers = tuple(dict.fromkeys([a for r in winners for a in _approvers(r, ctx)]))
        deadline = now + min([r.spec.timeout or DEFAULT_APPROVAL_TIMEOUT for r in winners])
        # The strictest outcome wins here too: one rule asking to reject on timeout is enough.
        rejects = any((r.spec.on_timeout or "reject") == "reject" for r in winners)
        on_timeout = "reject" if rejects else "escalate"
        if on_timeout == "escalate":
            escalate_to = tuple(
                dict.fromkeys(
                    [
                        a
                        for r in winners
                        for a in resolve_people(r.spec.escalate_to or (), ctx.sender, ctx.directory)
                    ]
                )
            )
            if not escalate_to:  # nobody to escalate to (e.g. an empty group): reject on timeout
                on_timeout = "reject"
    headers: tuple[tuple[str, str], ...] = ()
    if has_tag:
        found: list[tuple[str, str]] = []
        for rule, m in matched:
            if m.action is Action.TAG:
                found.extend((rule.spec.headers or {DEFAULT_TAG_HEADER: rule.id}).items())
        headers = tuple(dict.fromkeys(found))
    return Decision(
        action=action,
        transforms=transforms,
        matches=tuple([m for _, m in matched]),
        release_at=release_at,
        approvers=approvers,
        approval_deadline=deadline,
        on_timeout=on_timeout,
        escalate_to=escalate_to,
        tag_headers=headers,
        notify_security=notify,
        link=link,
        pass_valid_for=pass_valid_for,
        pass_uses=pass_uses,
    )


def _link_plan(rules: list[Rule], envelope: Envelope, policy: Policy) -> LinkPlan | None:
    """The attachments, recipients and limits of the matched ``link_attachments`` rules: any
    rule's choice of attachments counts, the shortest expiry and the smallest download limit
    win. Only outside envelope recipients get links; with none there is nothing to do."""
    if not rules or envelope.direction != "mail":
        return None
    outside = tuple(
        dict.fromkeys(
            r for r in envelope.recipients if not is_in_domains(domain_of(r), policy.internal_domains)
        )
    )
    if not outside:
        return None
    select: list[AttachmentSelect] = []
    for rule in rules:
        chosen = rule.spec.attachments
        select.append(
            AttachmentSelect()
            if chosen is None
            else AttachmentSelect(
                min_size=chosen.min_size,
                name=tuple(chosen.name or ()),
                type=tuple(chosen.type or ()),
                encrypted=bool(chosen.encrypted),
            )
        )
    expiries = [r.spec.expiry for r in rules if r.spec.expiry is not None]
    limits = [r.spec.max_downloads for r in rules if r.spec.max_downloads is not None]
    return LinkPlan(
        recipients=outside,
        select=tuple(dict.fromkeys(select)),
        expiry=min(expiries) if expiries else None,
        max_downloads=min(limits) if limits else None,
    )
