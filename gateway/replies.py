"""Every SMTP reply Sekimori sends, in one table.

Each reply is a named constant with its basic code (RFC 5321 s4.2), its enhanced status code
(RFC 3463) and a short ASCII text. A reply is *transient* (4xx: the client keeps the message and
tries again) or *permanent* (5xx: the client bounces it to the sender). The rule for choosing:
anything that may succeed later without the sender changing the message is transient; an
internal failure is always transient (aiosmtpd's default is a permanent 500, which would turn a
bug of ours into lost mail).

aiosmtpd answers some protocol errors itself (bad syntax, line too long, too much data); those
texts are mapped onto this table by :func:`translate`, so what the client sees is the same.

>>> str(MESSAGE_TOO_BIG)
'552 5.3.4 Message size exceeds fixed limit'
>>> MESSAGE_TOO_BIG.permanent, INTERNAL_ERROR.transient
(True, True)
>>> str(queued("Q123"))
'250 2.0.0 OK queued as Q123'
>>> translate("552 Error: Too much mail data")
'552 5.3.4 Message size exceeds fixed limit'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: ``code`` (RFC 5321), ``enhanced`` (RFC 3463) and ASCII ``text``."""

    code: int
    enhanced: str
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"SMTP reply code out of range: {self.code}")
        if self.enhanced and self.enhanced[0] != str(self.code)[0]:
            raise ValueError(f"enhanced code {self.enhanced} does not match class of {self.code}")
        if not self.text.isascii() or "\r" in self.text or "\n" in self.text:
            raise ValueError("SMTP reply text must be one line of ASCII")

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def with_text(self, text: str) -> Reply:
        return Reply(self.code, self.enhanced, text)

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}" if self.enhanced else f"{self.code} {self.text}"


# --- success -------------------------------------------------------------------------------------
OK: Final = Reply(250, "2.0.0", "OK")
SENDER_OK: Final = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK: Final = Reply(250, "2.1.5", "Recipient OK")
QUEUED: Final = Reply(250, "2.0.0", "OK queued as")

# --- transient: the client keeps the message and retries -----------------------------------------
INTERNAL_ERROR: Final = Reply(451, "4.3.0", "Temporary local problem, please try again later")
SPOOL_FAILED: Final = Reply(451, "4.3.0", "Cannot store message now, please try again later")
SHUTTING_DOWN: Final = Reply(421, "4.3.2", "Service shutting down, please try again later")
SESSION_TOO_LONG: Final = Reply(421, "4.4.2", "Session time limit exceeded, closing connection")
IDLE_TIMEOUT: Final = Reply(421, "4.4.2", "Idle timeout, closing connection")
TOO_MANY_RECIPIENTS: Final = Reply(452, "4.5.3", "Too many recipients")
TOO_MANY_COMMANDS: Final = Reply(421, "4.7.0", "Too many commands, closing connection")

# --- permanent: the sender gets a bounce ---------------------------------------------------------
SYNTAX_ERROR: Final = Reply(500, "5.5.2", "Syntax error, command unrecognized")
COMMAND_TOO_LONG: Final = Reply(500, "5.5.2", "Command line too long")
# RFC 5321 s4.5.3.1.6: a text line is at most 1000 octets including CRLF.
LINE_TOO_LONG: Final = Reply(500, "5.5.2", "Line too long (RFC 5321 section 4.5.3.1.6)")
PARAM_SYNTAX: Final = Reply(501, "5.5.4", "Syntax error in parameters or arguments")
NOT_IMPLEMENTED: Final = Reply(502, "5.5.1", "Command not implemented")
BAD_SEQUENCE: Final = Reply(503, "5.5.1", "Bad sequence of commands")
AUTH_REQUIRED: Final = Reply(530, "5.7.0", "Authentication required")
CLIENT_NOT_PERMITTED: Final = Reply(554, "5.7.1", "Client host not permitted to relay; authenticate first")
MAILBOX_SYNTAX: Final = Reply(553, "5.1.3", "Bad address syntax")
# RFC 3463 s3.2: X.1.7 is the sender's address, X.1.3 a recipient's. Bytes that are not UTF-8
# and control characters can never be delivered (the upstream and the store refuse them).
SENDER_NOT_UTF8: Final = Reply(553, "5.1.7", "Sender address is not valid UTF-8")
SENDER_CONTROL: Final = Reply(553, "5.1.7", "Control character in sender address")
RECIPIENT_NOT_UTF8: Final = Reply(553, "5.1.3", "Recipient address is not valid UTF-8")
RECIPIENT_CONTROL: Final = Reply(553, "5.1.3", "Control character in recipient address")
PARAMS_NOT_TEXT: Final = Reply(501, "5.5.4", "Invalid UTF-8 or control character in parameters")
# RFC 6531 s3.5: a non-ASCII address needs the SMTPUTF8 parameter on MAIL.
NEEDS_SMTPUTF8: Final = Reply(553, "5.6.7", "Non-ASCII address without SMTPUTF8")
PARAMS_NOT_RECOGNIZED: Final = Reply(555, "5.5.4", "MAIL/RCPT parameters not recognized")
MESSAGE_TOO_BIG: Final = Reply(552, "5.3.4", "Message size exceeds fixed limit")
# SMTP smuggling (CVE-2023-51764 and friends): only CRLF may end a line in DATA.
BARE_LINE_ENDING: Final = Reply(
    550, "5.5.2", "Bare CR or LF in message data refused (SMTP smuggling protection); use CRLF"
)
ROUTING_LOOP: Final = Reply(554, "5.4.6", "Routing loop detected: too many Received headers")
BLOCKED: Final = Reply(550, "5.7.1", "Message refused by data protection policy")
TRANSACTION_FAILED: Final = Reply(554, "5.0.0", "Transaction failed")

#: aiosmtpd's own reply texts (by prefix) and the table entry we answer instead.
_AIOSMTPD: Final[tuple[tuple[str, Reply], ...]] = (
    ("500 Error: bad syntax", SYNTAX_ERROR),
    ("500 Command line too long", COMMAND_TOO_LONG),
    ("500 Line too long", LINE_TOO_LONG),
    ("500 Error: strict ASCII mode", SYNTAX_ERROR.with_text("Non-ASCII data without SMTPUTF8")),
    ("500 Error: command", SYNTAX_ERROR),
    ("552 Error: Too much mail data", MESSAGE_TOO_BIG),
    ("552 Error: message size exceeds", MESSAGE_TOO_BIG),
    ("503 Error: need MAIL", BAD_SEQUENCE.with_text("Need MAIL command first")),
    ("503 Error: need RCPT", BAD_SEQUENCE.with_text("Need RCPT command first")),
    ("503 Error: nested MAIL", BAD_SEQUENCE.with_text("Nested MAIL command")),
    ("503 Error: send HELO first", BAD_SEQUENCE.with_text("Send HELO/EHLO first")),
    ("503 Error: send EHLO first", BAD_SEQUENCE.with_text("Send EHLO first")),
    ("553 5.1.3", MAILBOX_SYNTAX),
    ("555 ", PARAMS_NOT_RECOGNIZED),
    ("502 ", NOT_IMPLEMENTED),
    ("530 5.7.0", AUTH_REQUIRED),
    ("530 Must issue a STARTTLS", Reply(530, "5.7.0", "Must issue a STARTTLS command first")),
    ("554 Command refused due to lack of security", Reply(554, "5.7.0", "TLS handshake failed")),
    ("421 4.7.0", TOO_MANY_COMMANDS),
)

#: Enhanced code added to any other aiosmtpd reply that has none, by basic code.
_DEFAULT_ENHANCED: Final[dict[int, str]] = {
    221: "2.0.0",
    252: "2.0.0",
    421: "4.3.0",
    451: "4.3.0",
    500: "5.5.2",
    501: "5.5.4",
    502: "5.5.1",
    503: "5.5.1",
    504: "5.5.4",
    550: "5.0.0",
    554: "5.0.0",
}

_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


def queued(queue_id: str) -> Reply:
    """The 250 that accepts a message, naming its queue id."""
    return QUEUED.with_text(f"OK queued as {queue_id}")


def blocked(reason: str, reference: str) -> Reply:
    """550 5.7.1 with a short ASCII reason and the reference id the sender quotes to IT."""
    ascii_reason = reason.encode("ascii", "replace").decode("ascii").replace("?", "").strip()
    ascii_reason = " ".join(ascii_reason.split())[:120] or BLOCKED.text
    return BLOCKED.with_text(f"{ascii_reason} (ref {reference})")


def translate(status: str) -> str:
    """Map one of aiosmtpd's own replies onto the table; multi-line parts and 2xx/3xx greetings,
    EHLO lines and AUTH challenges pass unchanged."""
    if len(status) < 4 or status[3] == "-" or not status[:3].isdigit():
        return status
    for prefix, reply in _AIOSMTPD:
        if status.startswith(prefix):
            return str(reply)
    code = int(status[:3])
    if _HAS_ENHANCED.match(status) or code not in _DEFAULT_ENHANCED:
        return status
    return f"{code} {_DEFAULT_ENHANCED[code]} {status[4:]}"
