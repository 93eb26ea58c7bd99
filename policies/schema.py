"""The policy language as pydantic models: what a policy file may say, validated at load.

Every validation failure raises a ``PydanticCustomError`` whose type is one of the codes of
:mod:`policies.errors`, so the loader can turn it into a translated :class:`PolicyError`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from classifiers.detectors import entity_types

#: Actions in order of severity (lowest first).
#: ``warn`` is for uploads only (user coaching): the upload is refused with the offer to go on
#: with a reason (see :func:`upload_only`).
ACTION_NAMES: Final[tuple[str, ...]] = (
    "deliver",
    "tag",
    "bcc",
    "link_attachments",
    "warn",
    "hold",
    "approval",
    "quarantine",
    "block",
)

#: How long a download link may stay open (``link_attachments``' ``expiry``), in days.
LINK_EXPIRY_DAYS: Final[tuple[int, int]] = (1, 93)
#: The download limit a ``link_attachments`` action may set.
MAX_DOWNLOADS_LIMIT: Final[int] = 100

#: Part kinds a content condition can be limited to (``classifiers.model.PartKind``).
LOCATIONS: Final[tuple[str, ...]] = ("subject", "header", "body", "attachment", "metadata", "file")

#: The fields each action accepts besides ``type`` and ``notify_security``.
ACTION_FIELDS: Final[dict[str, frozenset[str]]] = {
    "deliver": frozenset(),
    "tag": frozenset({"headers"}),
    "bcc": frozenset(),
    "link_attachments": frozenset({"attachments", "expiry", "max_downloads"}),
    "warn": frozenset({"valid_for", "uses"}),
    "hold": frozenset({"grace"}),
    "approval": frozenset(
        {"approvers", "fallback_approvers", "timeout", "on_timeout", "escalate_to", "valid_for", "uses"}
    ),
    "quarantine": frozenset(),
    "block": frozenset(),
}

_DURATION = re.compile(r"(\d+)\s*([smhd])", re.IGNORECASE)
_DURATION_FULL = re.compile(r"\s*(?:\d+\s*[smhd]\s*)+", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_ADDRESS = re.compile(r"[^@\s]+@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def parse_duration(value: Any) -> Any:
    """``30s``, ``5m``, ``24h``, ``2d``, ``1h30m`` or a number of seconds.

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    if isinstance(value, str) and _DURATION_FULL.fullmatch(value):
        seconds = sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in _DURATION.findall(value))
        return timedelta(seconds=seconds)
    raise PydanticCustomError("bad_duration", "not a duration: {value}", {"value": str(value)})


def parse_size(value: Any) -> Any:
    """A byte count: a number, or a number with a unit (``500KB``, ``10MB``, ``1MiB``).

    >>> parse_size("10MB")
    10000000
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])
    raise PydanticCustomError("bad_size", "not a size: {value}", {"value": str(value)})


def _as_list(value: Any) -> Any:
    """Let a single value stand for a list of one."""
    return [value] if isinstance(value, str) else value


def _lower_list(value: Any) -> Any:
    value = _as_list(value)
    if isinstance(value, list):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


def check_domain(value: str) -> str:
    if not _DOMAIN.fullmatch(value):
        raise PydanticCustomError("bad_domain", "not a domain: {value}", {"value": value})
    return value


def check_address(value: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise PydanticCustomError("bad_address", "not an address: {value}", {"value": value})
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
StrList = Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
LowerList = Annotated[list[str], BeforeValidator(_lower_list), Field(min_length=1)]
Location = Literal["subject", "header", "body", "attachment", "metadata", "file"]
LocationList = Annotated[list[Location], BeforeValidator(_lower_list), Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Text(_Model):
    """A text in Japanese and English (both are shown: Japanese first)."""

    ja: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Range(_Model):
    """A count bound: ``{at_least: 10}``, ``{at_most: 3}`` or both."""

    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.at_least is None and self.at_most is None:
            raise PydanticCustomError("missing_field", "missing", {"key": "at_least / at_most"})
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise PydanticCustomError(
                "bad_range", "empty range", {"at_least": self.at_least, "at_most": self.at_most}
            )
        return self

    def holds(self, n: int) -> bool:
        return (self.at_least is None or n >= self.at_least) and (self.at_most is None or n <= self.at_most)


class SizeRange(Range):
    at_least: Size | None = None
    at_most: Size | None = None


class SenderCond(_Model):
    """Who sends: every given field must hold; within a field, any listed value does."""

    address: LowerList | None = None  # shell-style patterns allowed: "*@sales.example.co.jp"
    domain: LowerList | None = None
    group: LowerList | None = None
    department: StrList | None = None

    @model_validator(mode="after")
    def _some(self) -> SenderCond:
        if not self.model_fields_set:
            raise PydanticCustomError("empty_condition", "empty")
        return self

    @field_validator("domain")
    @classmethod
    def _domains(cls, v: list[str] | None) -> list[str] | None:
        return [check_domain(d) for d in v] if v else v


class DomainList(_Model):
    """``{in: [...]}`` or ``{not_in: [...]}``."""

    in_: LowerList | None = Field(default=None, alias="in")
    not_in: LowerList | None = None

    @model_validator(mode="after")
    def _one(self) -> DomainList:
        if (self.in_ is None) == (self.not_in is None):
            raise PydanticCustomError("missing_field", "missing", {"key": "in / not_in"})
        return self


class EntityCond(_Model):
    """Findings of one or more entity types: at least ``min_count`` with score ≥ ``min_score``."""

    type: StrList
    min_count: int = Field(default=1, ge=1)
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    in_: LocationList | None = Field(default=None, alias="in")

    @field_validator("type")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for t in v:
            if t not in entity_types():
                raise PydanticCustomError(
                    "unknown_entity_type",
                    "unknown entity type",
                    {"value": t, "expected": list(entity_types())},
                )
        return v


class ConfidentialCond(_Model):
    """A confidential marking (社外秘, 極秘, a sensitivity label...); ``markings`` narrows it."""

    markings: StrList | None = None
    min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    in_: LocationList | None = Field(default=None, alias="in")


class AttachmentCond(_Model):
    """An attachment (or uploaded file) by name pattern or content type pattern (``*.zip``)."""

    name: LowerList | None = None
    type: LowerList | None = None

    @model_validator(mode="after")
    def _some(self) -> AttachmentCond:
        if self.name is None and self.type is None:
            raise PydanticCustomError("missing_field", "missing", {"key": "name / type"})
        return self


class LinkSelect(_Model):
    """Which attachments ``link_attachments`` takes out of the outside recipients' copies: every
    given field must hold (``name`` and ``type`` are patterns such as ``*.zip``); none given:
    every attachment."""

    min_size: Size | None = None
    name: LowerList | None = None
    type: LowerList | None = None
    encrypted: Literal[True] | None = None


def check_link_expiry(value: timedelta) -> timedelta:
    """A link's expiry: whole days are not required, but 1 to 93 days.

    >>> check_link_expiry(timedelta(days=93)).days
    93
    """
    low, high = LINK_EXPIRY_DAYS
    if not timedelta(days=low) <= value <= timedelta(days=high):
        raise PydanticCustomError(
            "link_expiry", "out of range", {"value": str(value), "low": low, "high": high}
        )
    return value


#: The one vocabulary of sharing scopes, for every service: whoever has the link, the people of
#: the organisation, the people named.
SHARING_SCOPES: Final[tuple[str, ...]] = ("anyone", "organization", "specific")
#: What a sharing change is about, where the request says.
SHARING_TARGETS: Final[tuple[str, ...]] = ("file", "folder")


def _one_of(values: list[str] | None, known: tuple[str, ...], what: str) -> list[str] | None:
    for v in values or ():
        if v not in known:
            raise PydanticCustomError(
                "unknown_value", "unknown value", {"value": v, "what": what, "expected": list(known)}
            )
    return values


def _confidential_shorthand(value: Any) -> Any:
    return {} if value is True else value


class Condition(_Model):
    """One condition node. Several keys in one node must all hold (like ``all``)."""

    all_: list[Condition] | None = Field(default=None, alias="all", min_length=1)
    any_: list[Condition] | None = Field(default=None, alias="any", min_length=1)
    not_: Condition | None = Field(default=None, alias="not")
    direction: Literal["mail", "upload"] | None = None
    sender: SenderCond | None = None
    recipients: Literal["internal", "external"] | None = None
    external_addresses: Range | None = None
    external_domains: Range | None = None
    recipient_domain: DomainList | None = None
    new_domain: Literal[True] | None = None
    entity: EntityCond | None = None
    records: Range | None = None
    confidential: Annotated[ConfidentialCond | None, BeforeValidator(_confidential_shorthand)] = None
    encrypted: bool | None = None
    type_mismatch: bool | None = None
    truncated: bool | None = None
    fully_inspected: bool | None = None
    attachment: AttachmentCond | None = None
    size: SizeRange | None = None
    service: LowerList | None = None
    host: LowerList | None = None
    tenant: DomainList | None = None
    sharing_scope: LowerList | None = None
    sharing_target: LowerList | None = None
    link_expires: bool | None = None

    @field_validator("sharing_scope")
    @classmethod
    def _scopes(cls, v: list[str] | None) -> list[str] | None:
        return _one_of(v, SHARING_SCOPES, "sharing_scope")

    @field_validator("sharing_target")
    @classmethod
    def _targets(cls, v: list[str] | None) -> list[str] | None:
        return _one_of(v, SHARING_TARGETS, "sharing_target")

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data:
            raise PydanticCustomError("empty_condition", "empty")
        return data

    @model_validator(mode="after")
    def _some(self) -> Condition:
        if not self.model_fields_set:
            raise PydanticCustomError("empty_condition", "empty")
        return self


#: Actions that only make sense for an upload (a person at the browser can be coached; a mail
#: has already been sent).
UPLOAD_ONLY_ACTIONS: Final[frozenset[str]] = frozenset({"warn"})


def upload_only(cond: Condition) -> bool:
    """Whether ``cond`` can hold only for uploads: ``direction: upload`` at its top, in one of
    its ``all`` branches, or in every ``any`` branch."""
    if cond.direction == "upload":
        return True
    if cond.all_ and any(upload_only(c) for c in cond.all_):
        return True
    return bool(cond.any_) and all(upload_only(c) for c in cond.any_ or ())


def only_direction(cond: Condition) -> Literal["mail", "upload"] | None:
    """The direction ``cond`` can hold for alone, or None (either): a ``direction`` at its
    top, in one of its ``all`` branches, or the same in every ``any`` branch. A rule whose
    condition names one is not tried on items of the other (:meth:`Policy.rules_for`).

    >>> only_direction(Condition.model_validate({"all": [{"direction": "upload"}, {"recipients": "external"}]}))
    'upload'
    >>> only_direction(Condition.model_validate({"any": [{"direction": "mail"}, {"recipients": "external"}]})) is None
    True
    """
    if cond.direction is not None:
        return cond.direction
    for c in cond.all_ or ():
        found = only_direction(c)
        if found is not None:
            return found
    if cond.any_:
        branches = {only_direction(c) for c in cond.any_}
        if len(branches) == 1:
            return branches.pop()
    return None


def needed_findings(cond: Condition) -> frozenset[str] | None:
    """Entity types of which a finding must be present for ``cond`` to hold, or None (it may
    hold without any): an ``entity`` or ``confidential`` condition at its top or in one of its
    ``all`` branches (the fewest types of those), or in every ``any`` branch (their union). A
    rule whose condition needs findings is not tried on an item that has none of those types
    (:func:`policies.evaluate.evaluate`); ``not`` never needs any.

    >>> sorted(needed_findings(Condition.model_validate(
    ...     {"all": [{"recipients": "external"}, {"any": [{"entity": {"type": "my_number"}},
    ...      {"entity": {"type": ["credit_card", "my_number"], "min_count": 3}}]}]})) or ())
    ['credit_card', 'my_number']
    >>> needed_findings(Condition.model_validate({"any": [{"confidential": True}, {"encrypted": True}]})) is None
    True
    """
    needs: list[frozenset[str]] = []
    if cond.entity is not None:
        needs.append(frozenset(cond.entity.type))
    if cond.confidential is not None:
        needs.append(frozenset({"confidential_marking"}))
    for c in cond.all_ or ():
        found = needed_findings(c)
        if found is not None:
            needs.append(found)
    if cond.any_:
        branches = [needed_findings(c) for c in cond.any_]
        if all(b is not None for b in branches):
            needs.append(frozenset().union(*(b for b in branches if b is not None)))
    return min(needs, key=len) if needs else None


def _action_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


class ActionSpec(_Model):
    """The one action of a rule, with the fields that action uses."""

    type: str
    notify_security: bool = False
    headers: dict[str, str] | None = None
    grace: Duration | None = None
    approvers: StrList | None = None  # "manager", "group:<name>" or an address
    fallback_approvers: StrList | None = None
    timeout: Duration | None = None
    on_timeout: Literal["reject", "escalate"] | None = None
    escalate_to: StrList | None = None
    attachments: LinkSelect | None = None
    expiry: Annotated[Duration, AfterValidator(check_link_expiry)] | None = None
    max_downloads: int | None = Field(default=None, ge=1, le=MAX_DOWNLOADS_LIMIT)
    #: Uploads: how long an approval (or a coaching "go on") lets the same upload pass, and how
    #: many times.
    valid_for: Duration | None = None
    uses: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("type")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ACTION_NAMES:
            raise PydanticCustomError(
                "unknown_action", "unknown action", {"value": v, "expected": list(ACTION_NAMES)}
            )
        return v

    @field_validator("approvers", "fallback_approvers", "escalate_to")
    @classmethod
    def _people(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        out = []
        for entry in v:
            e = entry.strip()
            if e.lower() == "manager" or e.lower().startswith("group:"):
                out.append(e.lower() if e.lower() == "manager" else "group:" + e[6:].strip().lower())
            else:
                out.append(check_address(e.lower()))
        return out

    @field_validator("headers")
    @classmethod
    def _header_names(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for name, value in (v or {}).items():
            if not re.fullmatch(r"[!-9;-~]+", name) or "\n" in value or "\r" in value:
                raise PydanticCustomError("invalid_value", "bad header", {"reason": f"header {name!r}"})
        return v

    @model_validator(mode="after")
    def _fields_fit(self) -> ActionSpec:
        allowed = ACTION_FIELDS[self.type] | {"type", "notify_security"}
        for key in sorted(self.model_fields_set - allowed):
            raise PydanticCustomError(
                "field_not_for_action", "not for this action", {"key": key, "action": self.type}
            )
        if self.type == "approval":
            if self.approvers is None:
                raise PydanticCustomError("missing_field", "missing", {"key": "approvers"})
            if self.on_timeout == "escalate" and not self.escalate_to:
                raise PydanticCustomError("missing_escalate_to", "escalate needs escalate_to", {})
        return self


class RuleSpec(_Model):
    id: str
    title: Text
    description: Text
    when: Condition
    action: Annotated[ActionSpec, BeforeValidator(_action_shorthand)]
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _RULE_ID.fullmatch(v):
            raise PydanticCustomError("bad_rule_id", "bad rule id", {"value": v})
        return v

    @model_validator(mode="after")
    def _upload_actions(self) -> RuleSpec:
        if self.action.type in UPLOAD_ONLY_ACTIONS and not upload_only(self.when):
            raise PydanticCustomError("upload_only_action", "for uploads only", {"action": self.action.type})
        if self.action.type == "link_attachments" and upload_only(self.when):
            raise PydanticCustomError("mail_only_action", "for mail only", {"action": self.action.type})
        return self


class OrganisationSpec(_Model):
    internal_domains: LowerList
    directory: str | None = None  # path relative to the policy file (.csv, .yaml, .yml)

    @field_validator("internal_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        return [check_domain(d) for d in v]


class PolicySpec(_Model):
    version: Literal[1] = 1
    organisation: OrganisationSpec
    rules: list[RuleSpec]


class PersonSpec(_Model):
    """One row of the directory of people."""

    address: str
    name: str = ""
    department: str = ""
    manager: str | None = None
    roles: LowerList | None = None
    groups: LowerList | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        return check_address(v.strip().lower())

    @field_validator("manager")
    @classmethod
    def _manager(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        return check_address(v.strip().lower())


class DirectorySpec(_Model):
    people: list[PersonSpec]
