"""RFC 5322 / MIME messages: subject, every body, every attachment, attached messages.

Locations (``<prefix>`` is empty for the message itself):

- ``<prefix>subject`` (kind ``subject``);
- ``<prefix>headers`` (kind ``header``, also inside attached messages): the display names and
  comments of From/To/Cc/Reply-To/Sender, Comments, Keywords, Organization, and the attachments'
  names, one line each (detection reports no names or addresses there: they are the addressing);
- ``<prefix>body``, ``<prefix>body[2]``... in MIME order (kind ``body``); the text and HTML bodies
  of one multipart/alternative share ``Part.alternative``;
- ``<prefix><file name>`` for attachments (kind ``attachment``), the name decoded from RFC 2231,
  RFC 2047 (also inside a quoted string) or raw 8-bit; unnamed ones are ``attachment[<n>]``
  and a repeated name gets ``[<n>]`` appended;
- an attached message (message/rfc822, or an attachment whose content is a message) at location
  ``L`` has its own parts under ``attachment:L/`` (``attachment:fwd.eml/body``); deeper messages
  extend that path (``attachment:fwd.eml/inner.eml/body``). Everything inside an attached
  message but its headers has kind ``attachment``.
"""

from __future__ import annotations

import binascii
import email
import email.errors
import email.header
import email.policy
import email.utils
import quopri
from dataclasses import dataclass, field
from email.message import Message

import regex

from classifiers.extract.charset import decode_text
from classifiers.extract.context import Context, Where
from classifiers.extract.html import dispatch_embedded, html_extract
from classifiers.extract.sniff import looks_binary
from classifiers.extract.text import declared_charset
from classifiers.model import Part, PartKind

_STRUCTURE_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.CloseBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
)

_NOT_BASE64 = regex.compile(rb"[^A-Za-z0-9+/]")


def _has_raw_bytes(text: str) -> bool:
    """Whether a header holds raw 8-bit bytes (surrogateescape); most are ASCII, checked in C."""
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


def decode_header_value(value: object) -> str:
    """A header's text: RFC 2047 encoded words and raw 8-bit bytes decoded, never raising.

    >>> decode_header_value("=?ISO-2022-JP?B?GyRCLSEtahsoQg==?= =?UTF-8?B?6auZ?=")
    '①㈱髙'
    """
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    text = str(value)
    if _has_raw_bytes(text):
        text = decode_text(text.encode("ascii", errors="surrogateescape")).text
    if "=?" not in text:
        return _unfold(text)
    try:
        chunks = email.header.decode_header(text)
    except (email.errors.HeaderParseError, ValueError, LookupError):
        return _unfold(text)
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_text(chunk, charset).text)
    return _unfold("".join(out))


def _unfold(text: str) -> str:
    return text.replace("\r\n", "").replace("\n", "").strip()


def raw_header(part: Message, name: str) -> str | None:
    """A header as received, with raw 8-bit bytes decoded by detection (first occurrence)."""
    for key, value in part.raw_items():
        if key.lower() == name:
            text = str(value)
            if _has_raw_bytes(text):
                text = decode_text(text.encode("ascii", errors="surrogateescape")).text
            return text
    return None


def part_filename(part: Message) -> str | None:
    """The attachment's file name (RFC 2231, RFC 2047, raw 8-bit), without directories.

    >>> m = email.message_from_string(
    ...     "Content-Disposition: attachment; filename*=ISO-2022-JP''%1B%24B%2D%21%1B%28B.txt\\n\\nx")
    >>> part_filename(m)
    '①.txt'
    """
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        text = raw_header(part, header)
        if text is None:
            continue
        holder = Message()
        holder[header] = text
        try:
            value = holder.get_param(param, header=header)
        except (ValueError, LookupError, TypeError):
            continue
        if value is None:
            continue
        if isinstance(value, tuple):
            charset, _lang, raw = value
            try:
                name = decode_text(str(raw).encode("latin-1", errors="surrogateescape"), charset).text
            except UnicodeEncodeError:
                name = str(raw)
        else:
            name = decode_header_value(email.utils.unquote(str(value)))
        name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if name:
            return name
    return None


@dataclass(slots=True)
class _Walk:
    """Per-message state: location prefix, depth, body counter, names used."""

    prefix: str
    depth: int
    nested: bool
    bodies: int = 0
    attachments: int = 0
    names: set[str] = field(default_factory=set)
    filenames: list[str] = field(default_factory=list)  # as the sender named them

    def kind(self, kind: PartKind) -> PartKind:
        return "attachment" if self.nested else kind

    def unique(self, name: str) -> str:
        return unique_name(self.names, name)


def nested_prefix(location: str) -> str:
    """Where the parts of a message found at ``location`` go.

    >>> nested_prefix("fwd.eml"), nested_prefix("attachment:fwd.eml/inner.eml")
    ('attachment:fwd.eml/', 'attachment:fwd.eml/inner.eml/')
    """
    return (location if location.startswith("attachment:") else f"attachment:{location}") + "/"


#: A header block larger than this is read only this far (Postfix's default limit is 100 kB).
MAX_HEADER_BYTES = 1024 * 1024
#: Multipart containers (``boundary=`` parameters) parsed at most: the stdlib parser recurses
#: once per nesting level and fails at a few hundred.
MAX_MULTIPARTS = 300
_BOUNDARY_PARAM = regex.compile(rb"boundary\s*=", regex.IGNORECASE)
#: Lines starting with ``--`` (boundaries) parsed at most, per part allowed: the stdlib parser
#: builds every part before the part limit can apply.
BOUNDARIES_PER_PART = 4


def _bounded(ctx: Context, raw: bytes, prefix: str, nested: bool) -> bytes:
    """``raw`` cut where the parser's own cost would exceed the limits: a huge header block, or
    far more MIME parts than ``Limits.max_parts`` (each cut reported on a marker part)."""
    cuts: list[str] = []
    head_end = raw.find(b"\n\n")
    crlf_end = raw.find(b"\r\n\r\n")
    ends = [e for e in (head_end, crlf_end) if e >= 0]
    head_end = min(ends) if ends else len(raw)
    if head_end > MAX_HEADER_BYTES:
        cut = raw.rfind(b"\n", 0, MAX_HEADER_BYTES) + 1
        body_start = raw.find(b"\n", head_end + 1) + 1 if head_end < len(raw) else len(raw)
        raw = raw[:cut] + b"\r\n" + raw[body_start:]
        ctx.error(
            prefix or "message", f"header block larger than {MAX_HEADER_BYTES} bytes; the rest was not read"
        )
        cuts.append("text_bytes")
    declared = _BOUNDARY_PARAM.finditer(raw)
    beyond = next((m for n, m in enumerate(declared) if n >= MAX_MULTIPARTS), None)
    if beyond is not None:  # the stdlib parser recurses per nested multipart
        raw = raw[: raw.rfind(b"\n", 0, beyond.start()) + 1]
        ctx.error(prefix or "message", f"more than {MAX_MULTIPARTS} multiparts; the rest was not read")
        cuts.append("parts")
    allowed = ctx.limits.max_parts * BOUNDARIES_PER_PART
    if raw.count(b"\n--") > allowed:
        pos = 0
        for _ in range(allowed):
            pos = raw.find(b"\n--", pos) + 3
        raw = raw[: pos - 2]
        ctx.error(prefix or "message", f"more than {allowed} MIME boundaries; the rest was not read")
        cuts.append("parts")
    if cuts:
        cuts = list(dict.fromkeys(cuts))
        kind: PartKind = "attachment" if nested else "body"
        ctx.add(Part(location=f"{prefix}message", text="", kind=kind, size=len(raw), truncated=tuple(cuts)))
    return raw


def extract_mail(ctx: Context, raw: bytes, prefix: str = "", depth: int = 0, nested: bool = False) -> None:
    """Parse ``raw`` and add all its parts under ``prefix``."""
    raw = _bounded(ctx, raw, prefix, nested)
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except (RecursionError, ValueError, LookupError, TypeError, IndexError) as exc:
        ctx.error(prefix or "message", f"unparsable message ({type(exc).__name__})")
        ctx.add(Part(location=f"{prefix}body", text="", kind="attachment" if nested else "body",
                     truncated=("corrupt",), size=len(raw)))  # fmt: skip
        return
    walk_message(ctx, msg, _Walk(prefix, depth, nested), len(raw))


def walk_message(ctx: Context, msg: Message, state: _Walk, size: int = 0) -> None:
    subject = raw_header(msg, "subject")
    if subject is not None:
        ctx.add(
            Part(
                location=f"{state.prefix}subject",
                text=decode_header_value(subject),
                kind=state.kind("subject"),
                size=len(subject),
            )
        )
    try:
        _walk(ctx, msg, state, None, 0, ())
    except RecursionError:
        ctx.error(state.prefix or "message", "MIME structure nested too deeply")
        ctx.add(Part(location=f"{state.prefix}body", text="", kind=state.kind("body"), truncated=("depth",)))
    shown = header_text(msg, state.filenames)
    if shown and not ctx.stopped:
        ctx.add(Part(location=f"{state.prefix}headers", text=shown, kind="header", size=len(shown)))


#: Header fields whose text every client shows besides the subject (display names, comments).
SHOWN_HEADERS = ("from", "to", "cc", "reply-to", "sender", "comments", "keywords", "organization")
_ANGLE_ADDRESS = regex.compile(r"<[^<>]{0,1000}>")


def header_text(msg: Message, filenames: list[str]) -> str:
    """What a recipient reads in the header fields besides the subject, one line each: display
    names and comments (the addresses in angle brackets left out), then the attachments' names.

    >>> m = email.message_from_string("From: =?utf-8?b?5bGx55Sw?= <t@x.jp>\\nKeywords: 社外秘\\n\\nx")
    >>> header_text(m, ["名簿.csv"])
    '山田\\n社外秘\\n名簿.csv\\n'
    """
    lines: list[str] = []
    for key, value in msg.raw_items():
        if key.lower() not in SHOWN_HEADERS:
            continue
        text = " ".join(_ANGLE_ADDRESS.sub(" ", decode_header_value(value)).split())
        if text:
            lines.append(text)
    lines.extend(filenames)
    return "".join(f"{line}\n" for line in lines)


def _walk(
    ctx: Context,
    part: Message,
    state: _Walk,
    alternative: str | None,
    nesting: int,
    inherited: tuple[str, ...],
) -> None:
    if ctx.stopped:
        ctx.stop_marker(Where(f"{state.prefix}body", state.kind("body"), state.depth))
        return
    reasons = inherited
    if any(isinstance(d, _STRUCTURE_DEFECTS) for d in part.defects):
        reasons = (*inherited, "corrupt") if "corrupt" not in inherited else inherited
        ctx.error(state.prefix or "message", f"malformed MIME structure ({part.get_content_type()})")
    ctype = part.get_content_type()
    if ctype == "message/rfc822" and isinstance(part.get_payload(), list):
        _attached_message(ctx, part, state, reasons)
        return
    if part.is_multipart():
        if nesting >= ctx.limits.max_mime_nesting:
            ctx.error(state.prefix or "message", "multipart nested too deeply")
            ctx.add(
                Part(location=f"{state.prefix}body", text="", kind=state.kind("body"), truncated=("depth",))
            )
            return
        if ctype == "multipart/alternative" and alternative is None:
            alternative = ctx.new_alternative()
        for child in part.get_payload():
            if isinstance(child, Message):
                _walk(ctx, child, state, alternative, nesting + 1, reasons)
        return
    _leaf(ctx, part, state, alternative, reasons)


def _payload(part: Message) -> tuple[bytes, bool]:
    """The decoded body bytes and whether the transfer encoding was damaged."""
    before = len(part.defects)
    try:
        data = part.get_payload(decode=True)
    except (ValueError, LookupError, TypeError) as exc:  # broken uuencode and the like
        part.defects.append(email.errors.InvalidBase64CharactersDefect(str(exc)))
        data = None
    if not isinstance(data, bytes):
        raw = part.get_payload()
        data = raw.encode("ascii", errors="surrogateescape") if isinstance(raw, str) else b""
    new_defects = part.defects[before:]
    if any(isinstance(d, email.errors.InvalidBase64LengthDefect) for d in new_defects):
        # the stdlib hands back the undecoded text when the length is 1 mod 4 (a cut message)
        clean = _NOT_BASE64.sub(b"", data)
        data = binascii.a2b_base64(clean[: len(clean) // 4 * 4])
    damaged = any(isinstance(d, _STRUCTURE_DEFECTS) for d in new_defects)
    return data, damaged


def is_attachment(part: Message, filename: str | None) -> bool:
    """Whether a leaf part is an attachment rather than a body: it has a file name, says
    ``attachment``, or is not text (the one rule; the download links take attachments out by it)."""
    return (
        filename is not None
        or part.get_content_disposition() == "attachment"
        or part.get_content_maintype() not in ("text", "multipart")
    )


def unique_name(names: set[str], name: str) -> str:
    """``name``, or ``name[2]``, ``name[3]`` ... if taken; the result is added to ``names``.

    >>> seen = set(); unique_name(seen, "a.pdf"), unique_name(seen, "a.pdf")
    ('a.pdf', 'a.pdf[2]')
    """
    candidate, n = name, 1
    while candidate in names:
        n += 1
        candidate = f"{name}[{n}]"
    names.add(candidate)
    return candidate


def _leaf(
    ctx: Context, part: Message, state: _Walk, alternative: str | None, reasons: tuple[str, ...]
) -> None:
    data, damaged = _payload(part)
    if damaged and "corrupt" not in reasons:
        reasons = (*reasons, "corrupt")
    filename = part_filename(part)
    if not is_attachment(part, filename):
        _body(ctx, part, state, alternative, data, reasons)
        return
    state.attachments += 1
    if filename:
        state.filenames.append(filename)
    name = state.unique(filename or f"attachment[{state.attachments}]")
    where = Where(f"{state.prefix}{name}", state.kind("attachment"), state.depth, name,
                  charset=part.get_content_charset(), declared=_declared(part))  # fmt: skip
    if damaged:
        ctx.error(where.location, "damaged transfer encoding")
    ctx.dispatch(ctx, data, where, reasons)


def _declared(part: Message) -> str | None:
    """The content type the part declares (None without a Content-Type field)."""
    return part.get_content_type() if part.get("content-type") is not None else None


def _body(
    ctx: Context, part: Message, state: _Walk, alternative: str | None, data: bytes, reasons: tuple[str, ...]
) -> None:
    state.bodies += 1
    location = f"{state.prefix}body" + (f"[{state.bodies}]" if state.bodies > 1 else "")
    wide = (part.get_content_charset() or "").replace("-", "").startswith(("utf16", "utf32", "ucs"))
    if not wide and looks_binary(data):
        # A file sent as a text body (a zip or PDF labelled text/plain): read as what it is,
        # and as the text it claims to be; the disagreement is reported.
        where = Where(location, state.kind("body"), state.depth, None, charset=part.get_content_charset(),
                      declared=part.get_content_type())  # fmt: skip
        ctx.dispatch(ctx, data, where, reasons)
        return
    subtype = part.get_content_subtype()
    declared = part.get_content_charset() or (declared_charset(data, "html") if subtype == "html" else None)
    text = decode_text(data, declared).text
    embedded: list[tuple[str, bytes]] = []
    if subtype == "html":
        found = html_extract(text, ctx.text_left, ctx.deadline)
        text, embedded = found.text, found.embedded
        if found.cut:
            reasons = (*reasons, found.cut)
    ctx.add(
        Part(
            location=location,
            text=text,
            kind=state.kind("body"),
            content_type=part.get_content_type(),
            size=len(data),
            truncated=reasons,
            alternative=alternative,
        )
    )
    where = Where(location, state.kind("attachment"), state.depth)
    dispatch_embedded(ctx, where, embedded)


def _attached_message(ctx: Context, part: Message, state: _Walk, reasons: tuple[str, ...]) -> None:
    state.attachments += 1
    filename = part_filename(part)
    if filename:
        state.filenames.append(filename)
    name = state.unique(filename or f"attachment[{state.attachments}].eml")
    location = f"{state.prefix}{name}"
    inner = part.get_payload()
    if state.depth + 1 > ctx.limits.max_depth:
        ctx.error(location, f"attached messages nested deeper than {ctx.limits.max_depth}")
        ctx.add(
            Part(location=location, text="", kind="attachment", filename=name, truncated=(*reasons, "depth"))
        )
        return
    if reasons:
        ctx.add(Part(location=location, text="", kind="attachment", filename=name, truncated=reasons))
    if not (isinstance(inner, list) and inner and isinstance(inner[0], Message)):
        return
    encoded = _encoded_message(part, inner[0])
    if encoded is not None:
        extract_mail(ctx, encoded, nested_prefix(location), state.depth + 1, nested=True)
    else:
        walk_message(ctx, inner[0], _Walk(nested_prefix(location), state.depth + 1, True))


def _encoded_message(part: Message, inner: Message) -> bytes | None:
    """The bytes of a message/rfc822 part sent base64 or quoted-printable (RFC 2046 s 5.2.1
    forbids it, some clients do it): the parser then sees one header-less body of encoded text."""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "quoted-printable":  # its ASCII header lines did parse; the rest is still encoded
        try:
            return quopri.decodestring(inner.as_bytes())
        except (ValueError, LookupError, TypeError, UnicodeError, email.errors.MessageError):
            return None
    body = inner.get_payload()
    if cte != "base64" or inner.keys() or not isinstance(body, str):
        return None
    data = body.encode("ascii", errors="surrogateescape")
    clean = _NOT_BASE64.sub(b"", data)
    try:
        return binascii.a2b_base64(clean[: len(clean) // 4 * 4])
    except binascii.Error:
        return None


def extract_nested(ctx: Context, data: bytes, where: Where, truncated: tuple[str, ...] = ()) -> None:
    """A message found as a file (an .eml attachment or archive member)."""
    if where.depth + 1 > ctx.limits.max_depth:
        ctx.error(where.location, f"attached messages nested deeper than {ctx.limits.max_depth}")
        ctx.add(Part(location=where.location, text="", kind=where.kind, filename=where.filename,
                     truncated=(*truncated, "depth")))  # fmt: skip
        return
    if truncated:
        ctx.add(
            Part(
                location=where.location,
                text="",
                kind=where.kind,
                filename=where.filename,
                truncated=truncated,
            )
        )
    extract_mail(ctx, data, nested_prefix(where.location), where.depth + 1, nested=True)
