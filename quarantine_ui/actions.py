"""The seam between the UI and the message store for held-mail actions.

The store (``gateway/store``) implements :class:`MessageActions`; the UI calls it when a sender
uses a signed link from a hold notification. ``actor`` names who acted, for the audit event.
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
    #: The message exists but is no longer held (already sent, cancelled, …).
    NOT_HELD = "not_held"
    UNKNOWN = "unknown"


class MessageActions(Protocol):
    def held_message(self, message_id: str) -> HeldMessage | None:
        """The message if it is currently held, else None."""

    def cancel(self, message_id: str, actor: str) -> ActionResult:
        """Cancel a held message: it is never delivered."""

    def send_now(self, message_id: str, actor: str) -> ActionResult:
        """Release a held message for delivery now."""
