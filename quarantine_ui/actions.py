"""The seam between the UI and the message store for the actions of signed notification links.

:class:`quarantine_ui.mailroom.Mailroom` implements :class:`MessageActions` over the gateway
store; the link pages call it when someone uses a link from a notification. ``actor`` is the
person the link was issued to (``sender:<address>`` or ``approver:<address>``), for the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class HeldMessage:
    message_id: str
    sender: str
    subject: str
    recipients: tuple[str, ...]
    #: When the hold ends and the message leaves (epoch seconds); None if no timer runs.
    release_at: float | None


class ActionResult(StrEnum):
    DONE = "done"
    #: The message exists but the action no longer applies (already sent, cancelled, decided …).
    NOT_HELD = "not_held"
    UNKNOWN = "unknown"


class MessageActions(Protocol):
    async def link_target(self, message_id: str, action: str, actor: str) -> HeldMessage | None:
        """The message if ``actor`` may still do ``action`` on it, else None."""

    async def link_act(self, message_id: str, action: str, actor: str, comment: str) -> ActionResult:
        """Do ``action`` (cancel, send_now, approve, reject) as ``actor``."""
