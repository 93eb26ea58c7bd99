"""The data a policy evaluation takes and gives: envelope, directory, decision.

Plain frozen dataclasses; :class:`Decision` serialises to JSON with ``to_dict``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from policies.schema import ACTION_NAMES, ActionSpec, PolicySpec

if TYPE_CHECKING:
    from policies.conditions import EvalContext


class Action(enum.StrEnum):
    """What happens to a message or upload, from least to most severe.

    >>> Action.HOLD.severity > Action.BCC.severity
    True
    >>> max([Action.TAG, Action.BLOCK, Action.HOLD], key=lambda a: a.severity)
    <Action.BLOCK: 'block'>
    """

    DELIVER = "deliver"
    TAG = "tag"
    BCC = "bcc"
    LINK_ATTACHMENTS = "link_attachments"
    #: Uploads only (user coaching): refused, with the offer to go on with a reason.
    WARN = "warn"
    HOLD = "hold"
    APPROVAL = "approval"
    QUARANTINE = "quarantine"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return ACTION_NAMES.index(self.value)


#: Actions that do not decide the fate of the message but change it on the way out.
TRANSFORMS: tuple[Action, ...] = (Action.TAG, Action.BCC, Action.LINK_ATTACHMENTS)


def matches_any(value: str | None, patterns: Iterable[str]) -> bool:
    """Whether ``value`` (compared in lower case) matches one of the shell-style ``patterns``
    (lower case already); the one matching of attachment names and content types.

    >>> matches_any("見積書.PDF", ["*.pdf"]), matches_any(None, ["*"])
    (True, False)
    """
    return value is not None and any(fnmatchcase(value.lower(), p) for p in patterns)


@dataclass(frozen=True)
class AttachmentSelect:
    """One ``link_attachments`` rule's choice of attachments: every given field must hold.

    >>> sel = AttachmentSelect(min_size=1_000_000)
    >>> sel.holds("a.pdf", "application/pdf", 2_000_000, False), sel.holds("b.txt", "text/plain", 10, False)
    (True, False)
    >>> AttachmentSelect(encrypted=True).holds("x.zip", "application/zip", 10, True)
    True
    """

    min_size: int | None = None
    name: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    encrypted: bool = False

    def holds(self, name: str | None, content_type: str | None, size: int, encrypted: bool) -> bool:
        return (
            (self.min_size is None or size >= self.min_size)
            and (not self.name or matches_any(name, self.name))
            and (not self.type or matches_any(content_type, self.type))
            and (not self.encrypted or encrypted)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_size": self.min_size,
            "name": list(self.name),
            "type": list(self.type),
            "encrypted": self.encrypted,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AttachmentSelect:
        size = d.get("min_size")
        return cls(
            min_size=None if size is None else int(size),
            name=tuple(str(n) for n in d.get("name") or ()),
            type=tuple(str(t) for t in d.get("type") or ()),
            encrypted=bool(d.get("encrypted")),
        )


@dataclass(frozen=True)
class LinkPlan:
    """What ``link_attachments`` decided: the attachments that any of ``select`` holds for are
    taken out of the copies for ``recipients`` (the outside envelope recipients) and replaced by
    download links; ``expiry`` and ``max_downloads`` are the rules' (the shortest and the
    smallest), ``None`` where the gateway's defaults apply.

    >>> plan = LinkPlan(("a@x.com",), (AttachmentSelect(min_size=10),), timedelta(days=3), None)
    >>> LinkPlan.from_dict(plan.to_dict()) == plan
    True
    """

    recipients: tuple[str, ...]
    select: tuple[AttachmentSelect, ...]
    expiry: timedelta | None = None
    max_downloads: int | None = None

    def selects(self, name: str | None, content_type: str | None, size: int, encrypted: bool) -> bool:
        return any(s.holds(name, content_type, size, encrypted) for s in self.select)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipients": list(self.recipients),
            "select": [s.to_dict() for s in self.select],
            "expiry": None if self.expiry is None else self.expiry.total_seconds(),
            "max_downloads": self.max_downloads,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LinkPlan:
        expiry = d.get("expiry")
        limit = d.get("max_downloads")
        return cls(
            recipients=tuple(str(r) for r in d.get("recipients") or ()),
            select=tuple(AttachmentSelect.from_dict(x) for x in d.get("select") or ()),
            expiry=None if expiry is None else timedelta(seconds=float(expiry)),
            max_downloads=None if limit is None else int(limit),
        )


def normalize_domain(domain: str) -> str:
    """A domain as policies and the store compare it: lower case, without the trailing dot of
    a fully qualified name (RFC 1034 s3.1: ``example.jp.`` and ``example.jp`` are one domain).

    >>> normalize_domain(" Example.JP. ")
    'example.jp'
    """
    return domain.strip().strip(">").strip().rstrip(".").lower()


def domain_of(address: str) -> str:
    """The normalised domain of an address ('' if there is none). The one definition: the
    store records correspondents with it and the policy compares with it.

    >>> domain_of("Taro@Example.CO.JP"), domain_of("x@Example.jp."), domain_of("nobody")
    ('example.co.jp', 'example.jp', '')
    """
    return normalize_domain(address.rpartition("@")[2]) if "@" in address else ""


@dataclass(frozen=True)
class Envelope:
    """Who sends what to whom. ``recipients`` are the SMTP ``RCPT TO`` addresses; ``to``/``cc``
    the header addresses (used to count visible external addresses for BCC conversion)."""

    direction: Literal["mail", "upload"]
    sender: str
    recipients: tuple[str, ...]
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    size: int = 0
    service: str | None = None
    host: str | None = None
    tenant: str | None = None
    sharing_scope: str | None = None
    #: A sharing change's ``file`` or ``folder``, and whether its link ends on a date (``None``:
    #: not said, or not a sharing change).
    sharing_target: str | None = None
    link_expires: bool | None = None
    attachment_names: tuple[str, ...] = ()


class HistoryView(Protocol):
    """Read-only view of who wrote to which domains before (kept by the store)."""

    def has_written_to(self, sender: str, domain: str) -> bool: ...


# Evidence, RuleMatch and Decision are made for every message and read only after: they are
# not frozen because a frozen dataclass's __init__ sets each field through object.__setattr__,
# which was a tenth of the policy's cost per message (bench_policy). Treat them as read-only.
@dataclass(slots=True)
class Evidence:
    """Why a condition held: counts, types, redacted values and where they were found."""

    entity_type: str | None
    count: int
    values: tuple[str, ...]
    locations: tuple[str, ...]
    #: Which condition said so (a key of :data:`policies.explain.DETAILS`), with its parameters.
    code: str
    params: tuple[tuple[str, Any], ...] = ()

    def text(self, lang: str) -> str:
        """The sentence people read, in ``ja`` or ``en``."""
        from policies.explain import detail

        return detail(self.code, dict(self.params), lang)

    @property
    def detail(self) -> str:
        return self.text("en")

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "count": self.count,
            "values": list(self.values),
            "locations": list(self.locations),
            "code": self.code,
            "params": dict(self.params),
            "detail": self.text("en"),
            "detail_ja": self.text("ja"),
        }


@dataclass(slots=True)
class RuleMatch:
    rule_id: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    action: Action
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title_ja": self.title_ja,
            "title_en": self.title_en,
            "description_ja": self.description_ja,
            "description_en": self.description_en,
            "action": self.action.value,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(slots=True)
class Decision:
    """The outcome: the most severe matched action, plus the transforms that ride along.

    ``transforms`` is a subset of ``("tag", "bcc", "link_attachments")`` in that order.
    ``release_at`` is set for ``hold`` (and for ``warn``: until when the user may go on);
    ``approvers``, ``approval_deadline``, ``on_timeout`` and ``escalate_to`` for ``approval``;
    ``link`` when ``link_attachments`` applies (it is applied when the message leaves, whatever
    decided that). For an upload that is warned or needs approval, ``pass_valid_for`` and
    ``pass_uses`` say how long, and how many times, the same upload passes once the user went on
    or an approver approved.
    """

    action: Action
    transforms: tuple[str, ...]
    matches: tuple[RuleMatch, ...]
    release_at: datetime | None = None
    approvers: tuple[str, ...] = ()
    approval_deadline: datetime | None = None
    on_timeout: Literal["reject", "escalate"] | None = None
    escalate_to: tuple[str, ...] = ()
    tag_headers: tuple[tuple[str, str], ...] = ()
    notify_security: bool = False
    link: LinkPlan | None = None
    pass_valid_for: timedelta | None = None
    pass_uses: int | None = None

    @property
    def winning_rules(self) -> tuple[RuleMatch, ...]:
        """The matched rules whose action is the decision's action (empty for a plain deliver)."""
        return tuple(m for m in self.matches if m.action == self.action)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(m.rule_id for m in self.matches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "transforms": list(self.transforms),
            "rules": list(self.rule_ids),
            "winning_rules": [m.rule_id for m in self.winning_rules],
            "matches": [m.to_dict() for m in self.matches],
            "release_at": self.release_at.isoformat() if self.release_at else None,
            "approvers": list(self.approvers),
            "approval_deadline": self.approval_deadline.isoformat() if self.approval_deadline else None,
            "on_timeout": self.on_timeout,
            "escalate_to": list(self.escalate_to),
            "tag_headers": [list(h) for h in self.tag_headers],
            "notify_security": self.notify_security,
            "link": None if self.link is None else self.link.to_dict(),
            "pass": None
            if self.pass_valid_for is None
            else {"valid_for": int(self.pass_valid_for.total_seconds()), "uses": self.pass_uses or 1},
        }


@dataclass(frozen=True)
class Person:
    address: str
    name: str = ""
    department: str = ""
    manager: str | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class Directory:
    """The people of the organisation, looked up by address (case-insensitive)."""

    def __init__(self, people: Iterable[Person] = ()) -> None:
        self._people: dict[str, Person] = {p.address.lower(): p for p in people}
        groups: dict[str, list[str]] = {}
        for p in self._people.values():
            for g in p.groups:
                groups.setdefault(g, []).append(p.address)
        self._groups = {g: tuple(sorted(v)) for g, v in groups.items()}
        self._departments = frozenset(p.department for p in self._people.values() if p.department)

    def __len__(self) -> int:
        return len(self._people)

    def __iter__(self) -> Iterator[Person]:
        return iter(self._people.values())

    def person(self, address: str) -> Person | None:
        return self._people.get(address.strip().lower())

    def manager_of(self, address: str) -> Person | None:
        """The sender's manager (``None`` if the sender or their manager is not listed)."""
        p = self.person(address)
        return self.person(p.manager) if p is not None and p.manager else None

    def members(self, group: str) -> tuple[str, ...]:
        return self._groups.get(group.lower(), ())

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self._groups)

    @property
    def departments(self) -> frozenset[str]:
        return self._departments


#: A compiled condition: the evidence list when it holds, ``None`` when it does not.
Predicate = Callable[["EvalContext"], "list[Evidence] | None"]


@dataclass(frozen=True)
class Rule:
    """A rule ready to evaluate: its spec and its compiled condition."""

    id: str
    title_ja: str
    title_en: str
    description_ja: str
    description_en: str
    action: Action
    spec: ActionSpec
    predicate: Predicate
    #: The only direction its condition can hold for (``mail`` or ``upload``), or None.
    direction: str | None = None
    #: Entity types of which its condition needs a finding, or None
    #: (:func:`policies.schema.needed_findings`).
    needs: frozenset[str] | None = None


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy."""

    path: Path | None
    spec: PolicySpec
    rules: tuple[Rule, ...]
    internal_domains: frozenset[str]
    directory: Directory = field(default_factory=Directory)
    _by_direction: Mapping[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_direction = {
            d: tuple(r for r in self.rules if r.direction in (None, d)) for d in ("mail", "upload")
        }
        object.__setattr__(self, "_by_direction", by_direction)

    def rules_for(self, direction: str) -> tuple[Rule, ...]:
        """The rules, in order, whose condition can hold for an item of ``direction``: a rule
        for uploads alone is not tried on mail, and the other way round."""
        found: tuple[Rule, ...] | None = self._by_direction.get(direction)
        return self.rules if found is None else found

    def is_internal(self, address: str) -> bool:
        """Whether an address belongs to the organisation (its domains and their subdomains).

        >>> from policies import load_policy, default_policy_path
        >>> p = load_policy(default_policy_path())
        >>> p.is_internal("taro@example.co.jp"), p.is_internal("x@mail.example.co.jp")
        (True, True)
        >>> p.is_internal("x@example.com"), p.is_internal("x@notexample.co.jp")
        (False, False)
        """
        return is_in_domains(domain_of(address), self.internal_domains)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def is_in_domains(domain: str, domains: frozenset[str] | Mapping[str, Any]) -> bool:
    """``domain`` is one of ``domains`` or a subdomain of one."""
    if not domain:
        return False
    if domain in domains:
        return True
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(1, len(parts) - 1))


__all__ = [
    "Action",
    "AttachmentSelect",
    "Decision",
    "Directory",
    "Envelope",
    "Evidence",
    "HistoryView",
    "LinkPlan",
    "Person",
    "Policy",
    "Predicate",
    "Rule",
    "RuleMatch",
    "domain_of",
    "is_in_domains",
    "matches_any",
    "normalize_domain",
]
