"""The policy page's engine: validate edited text, simulate it over recent traffic, activate it as
a new version, roll back.

Versions live as files in the versions folder (``policy.versions``, by default
``<store.path>/policies/``): ``v0001.yaml`` with a ``v0001.json`` beside it (who, when, why,
SHA-256), and ``active.yaml``, the version in force, which the relay's
:class:`policies.PolicyHolder` reads in preference to the configured file. The configured file
(``policy.path``, e.g. the shipped ``policies/default.yaml``) is never written. Activating writes
the version, then replaces ``active.yaml`` atomically: temporary file in the same directory,
fsync, rename, fsync of the directory. A broken policy never gets there: the text is parsed
first, and the holder would keep the old policy anyway. Each activation is an audit event
(message id ``policy``) with the acting admin. ``sekimori policy export`` prints a version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anyio import to_thread

from classifiers import scan_message
from gateway.mail import mail_envelope
from gateway.pipeline import KnownDomains, complete_envelope
from gateway.store import ItemKind, MessageRecord, Store, StoreError
from policies import Decision, Policy, PolicyError, diff_decisions, evaluate, load_policy, parse_policy

AUDIT_ID = "policy"
#: The version in force, in the versions folder.
ACTIVE_NAME = "active.yaml"
MAX_POLICY_BYTES = 256 * 1024
_VERSION = re.compile(r"^v(\d{4,})\.yaml$")


@dataclass(frozen=True)
class Version:
    number: int
    at: str
    by: str
    comment: str
    sha256: str
    active: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.number,
            "at": self.at,
            "by": self.by,
            "comment": self.comment,
            "sha256": self.sha256,
            "active": self.active,
        }


@dataclass(frozen=True)
class SimulatedChange:
    msg_id: str
    sender: str
    subject: str
    old: str
    new: str
    direction: str
    deciding_rules: tuple[str, ...]
    reasons: tuple[str, ...]
    #: The actions before and after (the action, then the transforms riding along).
    old_actions: tuple[str, ...] = ()
    new_actions: tuple[str, ...] = ()
    #: (rule id, Japanese title, English title) of each deciding rule.
    titles: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.msg_id,
            "sender": self.sender,
            "subject": self.subject,
            "old": self.old,
            "new": self.new,
            "direction": self.direction,
            "deciding_rules": list(self.deciding_rules),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Simulation:
    checked: int
    changes: tuple[SimulatedChange, ...]
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "skipped": self.skipped,
            "changed": len(self.changes),
            "changes": [c.to_dict() for c in self.changes],
        }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _actions(d: Decision) -> tuple[str, ...]:
    return (d.action.value, *(t for t in d.transforms if t != d.action.value))


def _action_text(d: Decision) -> str:
    return "+".join(_actions(d))


class PolicyAdmin:
    def __init__(
        self,
        active: Path,
        versions_dir: Path,
        store: Store,
        clock: Callable[[], float],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        #: The configured policy file: read while nothing was activated, never written.
        self.active = active
        self.versions_dir = versions_dir
        self.override = versions_dir / ACTIVE_NAME
        self.store = store
        self.clock = clock
        #: Called once a new version is the active file: a relay in the same process then reads
        #: it before its next message instead of at its next periodic check.
        self.on_change = on_change

    @property
    def source(self) -> Path:
        """The file in force: the activated version, or the configured file."""
        return self.override if self.override.is_file() else self.active

    def active_text(self) -> str:
        return self.source.read_text(encoding="utf-8")

    def validate(self, text: str) -> Policy:
        """Parse ``text`` as the active file would be; raises :class:`PolicyError` (with line)."""
        if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
            raise PolicyError(str(self.active), 0, "", "too_large", {"limit": MAX_POLICY_BYTES})
        return parse_policy(text, path=self.active)

    # -- versions ------------------------------------------------------------------------------

    def versions(self) -> list[Version]:
        if not self.versions_dir.is_dir():
            return []
        current = _sha(self.active_text()) if self.source.is_file() else ""
        out: list[Version] = []
        for p in self.versions_dir.iterdir():
            m = _VERSION.match(p.name)
            if not m:
                continue
            try:
                meta = json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            sha = str(meta.get("sha256") or _sha(p.read_text(encoding="utf-8")))
            out.append(
                Version(
                    int(m.group(1)),
                    str(meta.get("at", "")),
                    str(meta.get("by", "")),
                    str(meta.get("comment", "")),
                    sha,
                    False,
                )
            )
        out.sort(key=lambda v: v.number, reverse=True)
        # The newest version with the active content is the active one.
        for i, v in enumerate(out):
            if v.sha256 == current:
                out[i] = Version(v.number, v.at, v.by, v.comment, v.sha256, True)
                break
        return out

    def version_text(self, number: int) -> str:
        path = self.versions_dir / f"v{number:04d}.yaml"
        if number < 1 or not path.is_file():
            raise KeyError(number)
        return path.read_text(encoding="utf-8")

    def _save_version(self, text: str, by: str, comment: str) -> int:
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        numbers = [int(m.group(1)) for p in self.versions_dir.iterdir() if (m := _VERSION.match(p.name))]
        number = max(numbers, default=0) + 1
        path = self.versions_dir / f"v{number:04d}.yaml"
        at = datetime.fromtimestamp(self.clock(), UTC).isoformat()
        meta = {"version": number, "at": at, "by": by, "comment": comment, "sha256": _sha(text)}
        write_atomically(path, text.encode("utf-8"))
        write_atomically(path.with_suffix(".json"), json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return number

    async def activate(self, text: str, by: str, comment: str, *, action: str = "policy_activate") -> int:
        """Validate, store as a new version, make it the active file, audit. Returns the version."""
        # Parsing and fsynced writes are blocking: off the event loop the relay may share.
        number = await to_thread.run_sync(self._install, text, by, comment)
        if self.on_change is not None:
            self.on_change()
        await self.store.note(
            AUDIT_ID,
            action=action,
            actor=f"admin:{by}",
            reason=f"policy version {number} activated" + (f": {comment}" if comment else ""),
            extra={"user": by, "version": number, "sha256": _sha(text), "comment": comment},
        )
        return number

    def _install(self, text: str, by: str, comment: str) -> int:
        self.validate(text)
        if not self.versions():
            # Keep what was active before the first change, so it can be rolled back to.
            self._save_version(self.active_text(), "", "initial policy")
        number = self._save_version(text, by, comment)
        write_atomically(self.override, text.encode("utf-8"))
        return number

    async def rollback(self, number: int, by: str) -> int:
        text = self.version_text(number)
        return await self.activate(text, by, f"rollback to version {number}", action="policy_rollback")

    # -- simulation ----------------------------------------------------------------------------

    async def simulate(self, text: str, *, limit: int = 50) -> Simulation:
        """Decide the last ``limit`` stored messages with the active and the edited policy."""
        new = await to_thread.run_sync(self.validate, text)
        old = await to_thread.run_sync(load_policy, self.active)
        recs = await self.store.list_messages(limit=limit * 3)
        checked = skipped = 0
        changes: list[SimulatedChange] = []
        for rec in recs:
            if checked >= limit:
                break
            if (
                rec.meta.get("kind") in ("notification", "dsn")
                or not rec.sender
                or rec.kind is not ItemKind.MAIL
            ):
                continue
            if not rec.has_raw:
                skipped += 1
                continue
            try:
                raw = await self.store.load_raw(rec.id)
            except StoreError:
                skipped += 1
                continue
            known = await self.store.known_domains(rec.sender)
            change = await to_thread.run_sync(self._compare, old, new, rec, raw, known)
            checked += 1
            if change is not None:
                changes.append(change)
        return Simulation(checked, tuple(changes), skipped)

    @staticmethod
    def _compare(
        old: Policy, new: Policy, rec: MessageRecord, raw: bytes, known: frozenset[str]
    ) -> SimulatedChange | None:
        scan = scan_message(raw)
        envelope = complete_envelope(mail_envelope(raw, rec.sender, rec.recipients), scan)
        history = KnownDomains(rec.sender, known)
        before = evaluate(old, envelope, scan, now=rec.received_at, history=history)
        after = evaluate(new, envelope, scan, now=rec.received_at, history=history)
        diff = diff_decisions(before, after)
        if not diff.changed:
            return None
        source = after if diff.direction != "looser" else before
        reasons = tuple(
            f"{m.rule_id}: {m.title_ja} / {m.title_en}"
            for m in source.matches
            if m.rule_id in diff.deciding_rules
        )
        return SimulatedChange(
            rec.id,
            rec.sender,
            rec.subject,
            _action_text(before),
            _action_text(after),
            diff.direction,
            diff.deciding_rules,
            reasons,
            _actions(before),
            _actions(after),
            tuple(
                (m.rule_id, m.title_ja, m.title_en)
                for m in source.matches
                if m.rule_id in diff.deciding_rules
            ),
        )
