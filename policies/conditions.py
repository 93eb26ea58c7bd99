"""Conditions compiled once at load into small closures, evaluated against one message.

A compiled condition returns the evidence that made it hold (possibly none), or ``None`` when it
does not hold. Everything here is pure: the only outside knowledge is the read-only history view.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from email.utils import parseaddr
from fnmatch import fnmatchcase
from typing import Any, Generic, TypeVar, overload

from classifiers.model import Finding, PartResult, ScanResult
from classifiers.redact import redact
from policies.model import (
    Directory,
    Envelope,
    Evidence,
    HistoryView,
    Person,
    Predicate,
    domain_of,
    is_in_domains,
    matches_any,
)
from policies.schema import (
    AttachmentCond,
    Condition,
    ConfidentialCond,
    DomainList,
    EntityCond,
    Range,
    SenderCond,
)

#: At most this many (redacted) example values and locations per piece of evidence.
MAX_VALUES = 5
MAX_LOCATIONS = 10

#: Part kinds that are files: mail attachments and uploaded files.
FILE_KINDS = frozenset({"attachment", "file"})

#: Called by the compiler when a condition refers to something that does not exist
#: (field path below the condition, error code, params); it raises.
Complain = Callable[[tuple[str | int, ...], str, dict[str, Any]], None]


T = TypeVar("T")


class _lazy(Generic[T]):
    """A per-instance cached property without ``functools.cached_property``'s lock (3.11)."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__

    @overload
    def __get__(self, obj: None, cls: type[Any]) -> _lazy[T]: ...
    @overload
    def __get__(self, obj: object, cls: type[Any]) -> T: ...
    def __get__(self, obj: object | None, cls: type[Any]) -> T | _lazy[T]:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


def _bare(address: str) -> str:
    a = address.strip()
    if "<" in a:
        a = parseaddr(a)[1]
    return a.lower()


class EvalContext:
    """One message as the conditions see it; derived views are computed once, on demand."""

    def __init__(
        self,
        envelope: Envelope,
        scan: ScanResult,
        *,
        internal_domains: frozenset[str],
        directory: Directory,
        history: HistoryView | None,
    ) -> None:
        self.envelope = envelope
        self.scan = scan
        self.internal_domains = internal_domains
        self.directory = directory
        self.history = history
        self.memo: dict[object, list[Evidence] | None] = {}

    @_lazy
    def sender(self) -> str:
        return _bare(self.envelope.sender)

    @_lazy
    def sender_domain(self) -> str:
        return domain_of(self.sender)

    @_lazy
    def sender_person(self) -> Person | None:
        return self.directory.person(self.sender)

    @_lazy
    def _addresses(
        self,
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(all recipients, external recipients, external To/Cc, external domains, the domains
        of external To/Cc), each distinct; the domains sorted."""
        # One plain loop: this runs for nearly every message, so no comprehensions here.
        env = self.envelope
        internal = self.internal_domains
        to_cc = env.to + env.cc
        n_visible = len(to_cc)
        external_of: dict[str, bool] = {}
        seen: set[str] = set()
        everyone: list[str] = []
        external: list[str] = []
        visible: list[str] = []
        domains: set[str] = set()
        visible_domains: set[str] = set()
        for i, raw in enumerate(to_cc + env.recipients):
            a = _bare(raw)
            if not a or a in seen:  # To and Cc come first: a repeated address was seen as visible
                continue
            seen.add(a)
            everyone.append(a)
            d = domain_of(a)
            outside = external_of.get(d)
            if outside is None:
                outside = external_of[d] = not is_in_domains(d, internal)
            if outside:
                external.append(a)
                if d:
                    domains.add(d)
                if i < n_visible:
                    visible.append(a)
                    visible_domains.add(d)
        return (
            tuple(everyone),
            tuple(external),
            tuple(visible),
            tuple(sorted(domains)),
            tuple(sorted(visible_domains)),
        )

    @property
    def recipients(self) -> tuple[str, ...]:
        return self._addresses[0]

    @property
    def external_recipients(self) -> tuple[str, ...]:
        return self._addresses[1]

    @property
    def external_visible(self) -> tuple[str, ...]:
        """Distinct external addresses in the To and Cc headers (what everyone can see)."""
        return self._addresses[2]

    @property
    def external_domains(self) -> tuple[str, ...]:
        return self._addresses[3]

    @property
    def external_visible_domains(self) -> tuple[str, ...]:
        """The domains of :attr:`external_visible`, sorted."""
        return self._addresses[4]

    @_lazy
    def by_type(self) -> dict[str, list[tuple[PartResult, Finding]]]:
        out: dict[str, list[tuple[PartResult, Finding]]] = {}
        for part in self.scan.parts:
            for f in part.findings:
                out.setdefault(f.type, []).append((part, f))
        return out

    @_lazy
    def truncated(self) -> tuple[tuple[str, str], ...]:
        return self.scan.truncated

    @_lazy
    def encrypted(self) -> tuple[str, ...]:
        return self.scan.encrypted

    @_lazy
    def file_parts(self) -> tuple[PartResult, ...]:
        return tuple(p for p in self.scan.parts if p.kind in FILE_KINDS)

    @_lazy
    def size(self) -> int:
        return max(self.envelope.size, self.scan.size)


def _evidence(
    entity_type: str | None,
    count: int,
    values: Sequence[str],
    locations: Sequence[str],
    code: str,
    **params: Any,
) -> Evidence:
    """Evidence whose sentence is ``code`` of :data:`policies.explain.DETAILS` over ``params``."""
    # Positional, and no de-duplication of fewer than two: this runs for most rules that hold.
    return Evidence(
        entity_type,
        count,
        _distinct(values, MAX_VALUES),
        _distinct(locations, MAX_LOCATIONS),
        code,
        tuple(params.items()) if params else (),
    )


def _distinct(items: Sequence[str], limit: int) -> tuple[str, ...]:
    """The first ``limit`` distinct ``items``, in order."""
    if len(items) < 2:
        return tuple(items)
    return tuple(dict.fromkeys(items))[:limit]


def _finding_evidence(
    entity_type: str, hits: Sequence[tuple[PartResult, Finding]], code: str, **params: Any
) -> Evidence:
    """Evidence of findings; only the few values shown are redacted (redaction is the cost)."""
    shown: dict[str, Finding] = {}
    for _, f in hits:
        key = f.normalized or f.value
        if key not in shown:
            shown[key] = f
            if len(shown) == MAX_VALUES:
                break
    # Findings of a file or the body mostly share a few locations: one pass in C, then cut.
    locations = tuple(dict.fromkeys([f.location for _, f in hits]))[:MAX_LOCATIONS]
    return Evidence(
        entity_type=entity_type,
        count=len(hits),
        values=tuple(dict.fromkeys([redact(entity_type, f.value) for f in shown.values()])),
        locations=locations,
        code=code,
        params=tuple(params.items()),
    )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def compile_condition(
    cond: Condition,
    directory: Directory | None,
    complain: Complain,
    shared: dict[str, Predicate] | None = None,
    repeated: frozenset[str] = frozenset(),
) -> Predicate:
    """Turn a validated condition node into a predicate. Several keys in one node must all hold.

    Condition nodes listed in ``repeated`` (see :func:`repeated_nodes`) compile to one predicate,
    shared through ``shared`` and evaluated once per message: "leaving the company" appears in
    most rules of a policy.
    """
    if shared is None:
        shared = {}
    key = node_key(cond) if repeated else ""
    if key in repeated:
        found = shared.get(key)
        if found is None:
            found = shared[key] = _memo(_compile(cond, directory, complain, shared, repeated))
        return found
    return _compile(cond, directory, complain, shared, repeated)


def node_key(cond: Condition) -> str:
    return cond.model_dump_json(by_alias=True, exclude_none=True)


def repeated_nodes(conds: Iterable[Condition]) -> frozenset[str]:
    """The keys of condition nodes that occur more than once in these condition trees."""
    counts: dict[str, int] = {}

    def walk(c: Condition) -> None:
        k = node_key(c)
        counts[k] = counts.get(k, 0) + 1
        for child in (*(c.all_ or ()), *(c.any_ or ()), *((c.not_,) if c.not_ is not None else ())):
            walk(child)

    for c in conds:
        walk(c)
    return frozenset(k for k, n in counts.items() if n > 1)


def _memo(pred: Predicate) -> Predicate:
    slot = object()

    def check(ctx: EvalContext) -> list[Evidence] | None:
        memo = ctx.memo
        if slot in memo:
            return memo[slot]
        result = memo[slot] = pred(ctx)
        return result

    return _content(check) if _is_content(pred) else check


def _compile(
    cond: Condition,
    directory: Directory | None,
    complain: Complain,
    shared: dict[str, Predicate],
    repeated: frozenset[str],
) -> Predicate:
    parts: list[Predicate] = []
    if cond.all_ is not None:
        parts.append(
            _all(
                [
                    compile_condition(c, directory, _under(complain, "all", i), shared, repeated)
                    for i, c in enumerate(cond.all_)
                ]
            )
        )
    if cond.any_ is not None:
        parts.append(
            _any(
                [
                    compile_condition(c, directory, _under(complain, "any", i), shared, repeated)
                    for i, c in enumerate(cond.any_)
                ]
            )
        )
    if cond.not_ is not None:
        parts.append(_not(compile_condition(cond.not_, directory, _under(complain, "not"), shared, repeated)))
    if cond.direction is not None:
        parts.append(_direction(cond.direction))
    if cond.sender is not None:
        parts.append(_sender(cond.sender, directory, _under(complain, "sender")))
    if cond.recipients is not None:
        parts.append(_recipients(cond.recipients))
    if cond.external_addresses is not None:
        parts.append(_external_addresses(cond.external_addresses))
    if cond.external_domains is not None:
        parts.append(_external_domains(cond.external_domains))
    if cond.recipient_domain is not None:
        parts.append(_recipient_domain(cond.recipient_domain))
    if cond.new_domain is not None:
        parts.append(_new_domain)
    if cond.entity is not None:
        parts.append(_entity(cond.entity))
    if cond.records is not None:
        parts.append(_records(cond.records))
    if cond.confidential is not None:
        parts.append(_confidential(cond.confidential))
    if cond.encrypted is not None:
        parts.append(_encrypted(cond.encrypted))
    if cond.type_mismatch is not None:
        parts.append(_type_mismatch(cond.type_mismatch))
    if cond.truncated is not None:
        parts.append(_truncated(cond.truncated))
    if cond.fully_inspected is not None:
        parts.append(_fully_inspected(cond.fully_inspected))
    if cond.attachment is not None:
        parts.append(_attachment(cond.attachment))
    if cond.size is not None:
        parts.append(_size(cond.size))
    if cond.service is not None:
        parts.append(_envelope_in("service", frozenset(cond.service)))
    if cond.host is not None:
        parts.append(_host(tuple(cond.host)))
    if cond.tenant is not None:
        parts.append(_tenant(cond.tenant))
    if cond.sharing_scope is not None:
        parts.append(_envelope_in("sharing_scope", frozenset(cond.sharing_scope)))
    if cond.sharing_target is not None:
        parts.append(_envelope_in("sharing_target", frozenset(cond.sharing_target)))
    if cond.link_expires is not None:
        parts.append(_link_expires(cond.link_expires))
    return parts[0] if len(parts) == 1 else _all(parts)


def _under(complain: Complain, *prefix: str | int) -> Complain:
    def inner(loc: tuple[str | int, ...], code: str, params: dict[str, Any]) -> None:
        complain((*prefix, *loc), code, params)

    return inner


#: Content conditions (findings, records, markings, inspection limits, attachments) fail at
#: once for ordinary mail, while envelope ones (external recipients) usually hold and build
#: evidence: ``all`` checks the content ones first and keeps the evidence in the written order.
_CONTENT = "_sekimori_content"


def _content(pred: Predicate) -> Predicate:
    setattr(pred, _CONTENT, True)
    return pred


def _is_content(pred: Predicate) -> bool:
    return bool(getattr(pred, _CONTENT, False))


def _all(preds: list[Predicate]) -> Predicate:
    order = sorted(range(len(preds)), key=lambda i: not _is_content(preds[i]))
    content = bool(preds) and all(map(_is_content, preds))

    def in_order(ctx: EvalContext) -> list[Evidence] | None:
        out: list[Evidence] = []
        for p in preds:
            ev = p(ctx)
            if ev is None:
                return None
            out.extend(ev)
        return out

    def content_first(ctx: EvalContext) -> list[Evidence] | None:
        found: dict[int, list[Evidence]] = {}
        for i in order:
            ev = preds[i](ctx)
            if ev is None:
                return None
            found[i] = ev
        return [e for i in sorted(found) for e in found[i]]

    check = in_order if order == sorted(order) else content_first
    return _content(check) if content else check


def _any(preds: list[Predicate]) -> Predicate:
    # Every branch is evaluated so the evidence names every reason, not just the first.
    def check(ctx: EvalContext) -> list[Evidence] | None:
        out: list[Evidence] | None = None
        for p in preds:
            ev = p(ctx)
            if ev is not None:
                out = (out or []) + ev
        return out

    return _content(check) if preds and all(map(_is_content, preds)) else check


def _not(pred: Predicate) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        return [] if pred(ctx) is None else None

    return check


def _direction(direction: str) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        return [] if ctx.envelope.direction == direction else None

    return check


def _sender(cond: SenderCond, directory: Directory | None, complain: Complain) -> Predicate:
    if cond.group is not None or cond.department is not None:
        if directory is None:
            complain((), "no_directory", {"what": "sender.group / sender.department"})
        else:
            for i, g in enumerate(cond.group or ()):
                if g not in directory.groups:
                    complain(("group", i), "unknown_group", {"value": g})
            for i, d in enumerate(cond.department or ()):
                if d not in directory.departments:
                    complain(("department", i), "unknown_department", {"value": d})
    addresses = tuple(cond.address or ())
    domains = frozenset(cond.domain or ())
    groups = frozenset(cond.group or ())
    departments = frozenset(cond.department or ())

    def check(ctx: EvalContext) -> list[Evidence] | None:
        if addresses and not any(fnmatchcase(ctx.sender, a) for a in addresses):
            return None
        if domains and not is_in_domains(ctx.sender_domain, domains):
            return None
        if groups or departments:
            person = ctx.sender_person
            if person is None:
                return None
            if groups and groups.isdisjoint(person.groups):
                return None
            if departments and person.department not in departments:
                return None
        return []

    return check


def _recipients(which: str) -> Predicate:
    if which == "external":
        return _external_recipients

    def check(ctx: EvalContext) -> list[Evidence] | None:
        return [] if ctx.recipients and not ctx.external_recipients else None

    return check


_EXTERNAL_SLOT = object()


def _external_recipients(ctx: EvalContext) -> list[Evidence] | None:
    # Most rules of a policy ask this ("direction: mail, recipients: external" and the like):
    # the answer and its evidence are made once per message, as for a repeated node.
    memo = ctx.memo
    if _EXTERNAL_SLOT in memo:
        return memo[_EXTERNAL_SLOT]
    ext = ctx.external_recipients
    found = memo[_EXTERNAL_SLOT] = (
        [_evidence(None, len(ext), ctx.external_domains, (), "external_recipients")] if ext else None
    )
    return found


def _external_addresses(rng: Range) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        n = len(ctx.external_visible)
        if not rng.holds(n):
            return None
        return [_evidence(None, n, ctx.external_visible_domains, ("to", "cc"), "external_visible")]

    return check


def _external_domains(rng: Range) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        n = len(ctx.external_domains)
        if not rng.holds(n):
            return None
        return [_evidence(None, n, ctx.external_domains, (), "external_domains")]

    return check


def _recipient_domain(cond: DomainList) -> Predicate:
    listed = frozenset(cond.in_ or cond.not_in or ())
    want_in = cond.in_ is not None

    def check(ctx: EvalContext) -> list[Evidence] | None:
        hits = [d for d in ctx.external_domains if is_in_domains(d, listed) == want_in]
        if not hits:
            return None
        return [_evidence(None, len(hits), hits, (), "domain_listed" if want_in else "domain_unlisted")]

    return check


def _new_domain(ctx: EvalContext) -> list[Evidence] | None:
    # Without a history there is nothing to compare with: the condition does not hold.
    history = ctx.history
    if history is None:
        return None
    new = [d for d in ctx.external_domains if not history.has_written_to(ctx.sender, d)]
    if not new:
        return None
    return [_evidence(None, len(new), new, (), "new_domain")]


def _entity(cond: EntityCond) -> Predicate:
    types = tuple(dict.fromkeys(cond.type))
    kinds = frozenset(cond.in_) if cond.in_ is not None else None
    min_score, min_count = cond.min_score, cond.min_count

    def check(ctx: EvalContext) -> list[Evidence] | None:
        total = 0
        per_type: list[tuple[str, list[tuple[PartResult, Finding]]]] = []
        by_type = ctx.by_type
        for t in types:
            found = by_type.get(t)
            if not found:
                continue
            hits = [(p, f) for p, f in found if f.score >= min_score and (kinds is None or p.kind in kinds)]
            if hits:
                per_type.append((t, hits))
                total += len(hits)
        if total < min_count:
            return None
        return [
            _finding_evidence(t, hits, "entity", type=t, n=len(hits), score=min_score) for t, hits in per_type
        ]

    return _content(check)


def _records(rng: Range) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        n = ctx.scan.records
        if not rng.holds(n):
            return None
        where = [p.location for p in ctx.scan.parts if p.records]
        return [_evidence(None, n, (), where, "records", n=n)]

    return _content(check)


def _confidential(cond: ConfidentialCond) -> Predicate:
    markings = tuple(_fold(m) for m in cond.markings) if cond.markings else None
    kinds = frozenset(cond.in_) if cond.in_ is not None else None
    min_score = cond.min_score

    def wanted(f: Finding) -> bool:
        if markings is None:
            return True
        text = _fold(f.value) + "\x00" + _fold(f.normalized)
        return any(m in text for m in markings)

    def check(ctx: EvalContext) -> list[Evidence] | None:
        found = ctx.by_type.get("confidential_marking")
        if not found:
            return None
        hits = [
            (p, f)
            for p, f in found
            if f.score >= min_score and (kinds is None or p.kind in kinds) and wanted(f)
        ]
        if not hits:
            return None
        return [_finding_evidence("confidential_marking", hits, "confidential")]

    return _content(check)


def _encrypted(want: bool) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        where = ctx.encrypted
        if bool(where) != want:
            return None
        return [_evidence(None, len(where), (), where, "encrypted")] if where else []

    return _content(check)


def _type_mismatch(want: bool) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        found = ctx.scan.type_mismatches
        if bool(found) != want:
            return None
        if not found:
            return []
        return [
            _evidence(
                None,
                len(found),
                [what for _, what in found],
                [loc for loc, _ in found],
                "type_mismatch",
            )
        ]

    return _content(check)


def _truncated(want: bool) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        cut = ctx.truncated
        errors = ctx.scan.errors
        if bool(cut or errors) != want:
            return None
        if not want:
            return []
        reasons = [why for _, why in cut] + ["error"] * bool(errors)
        return [
            _evidence(
                None,
                len(cut) + len(errors),
                (),
                [loc for loc, _ in cut],
                "truncated",
                reasons=list(dict.fromkeys(reasons)),
            )
        ]

    return _content(check)


def _fully_inspected(want: bool) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        cut, encrypted, errors = ctx.truncated, ctx.encrypted, ctx.scan.errors
        if (not (cut or encrypted or errors)) != want:
            return None
        if want:
            return []
        reasons = [why for _, why in cut] + ["encrypted"] * bool(encrypted) + ["error"] * bool(errors)
        where = [loc for loc, _ in cut] + list(encrypted)
        return [
            _evidence(
                None, len(where) or 1, (), where, "not_fully_inspected", reasons=list(dict.fromkeys(reasons))
            )
        ]

    return _content(check)


def _attachment(cond: AttachmentCond) -> Predicate:
    names = tuple(cond.name or ())
    types = tuple(cond.type or ())

    def name_ok(name: str | None) -> bool:
        return not names or matches_any(name, names)

    def type_ok(content_type: str | None) -> bool:
        return not types or matches_any(content_type, types)

    def check(ctx: EvalContext) -> list[Evidence] | None:
        hits = [
            (p.filename or p.location, p.location)
            for p in ctx.file_parts
            if name_ok(p.filename) and type_ok(p.content_type)
        ]
        if not types:
            hits += [(n, n) for n in ctx.envelope.attachment_names if name_ok(n)]
        if not hits:
            return None
        shown = list(dict.fromkeys(h[0] for h in hits))
        return [_evidence(None, len(shown), shown, [h[1] for h in hits], "attachments")]

    return _content(check)


def _size(rng: Range) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        n = ctx.size
        return [_evidence(None, n, (), (), "size", n=n)] if rng.holds(n) else None

    # Cheap and rarely true: ``all`` tries it before the recipients, like a content condition.
    return _content(check)


def _envelope_in(attr: str, values: frozenset[str]) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        v = getattr(ctx.envelope, attr)
        if v is None or v.lower() not in values:
            return None
        return [_evidence(None, 1, (v,), (), attr)]

    return check


def _link_expires(want: bool) -> Predicate:
    """A sharing change whose link ends on a date (``true``) or does not (``false``); a request
    that does not say (not a sharing change, or a service that cannot tell) matches neither."""

    def check(ctx: EvalContext) -> list[Evidence] | None:
        said = ctx.envelope.link_expires
        if said is None or said is not want:
            return None
        return [
            _evidence(
                None, 1, (), (), "the link has an expiry date" if want else "the link has no expiry date"
            )
        ]

    return check


def _host(patterns: tuple[str, ...]) -> Predicate:
    def check(ctx: EvalContext) -> list[Evidence] | None:
        host = ctx.envelope.host
        if host is None or not any(fnmatchcase(host.lower(), p) for p in patterns):
            return None
        return [_evidence(None, 1, (host,), (), "host")]

    return check


def _tenant(cond: DomainList) -> Predicate:
    listed = frozenset(cond.in_ or cond.not_in or ())
    want_in = cond.in_ is not None

    def check(ctx: EvalContext) -> list[Evidence] | None:
        tenant = ctx.envelope.tenant
        # An upload whose tenant is unknown is not to one of ours: it is "not in" any list.
        inside = tenant is not None and tenant.lower() in listed
        if inside != want_in:
            return None
        return [_evidence(None, 1, (tenant or "(unknown)",), (), "tenant")]

    return check
