"""DATA read in bulk (:class:`gateway.smtp.DataBody`): the same body, end of data and refusals
as aiosmtpd's line-by-line loop, whatever pieces the bytes arrive in."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smtp import DataBody, GatewaySMTP

LINE_LIMIT = 1001  # aiosmtpd's default, and ours


def reference(stream: bytes, size_limit: int | None) -> tuple[str, bytes | None, int]:
    """The rule written the slow way: lines up to a line that is just ``.``; a refusal at the
    first byte that makes the body or a line too long. Returns (state, content, bytes used)."""
    lines: list[bytes] = []
    pos, size, state = 0, 0, DataBody.NOMINAL
    while True:
        end = stream.index(b"\r\n", pos) + 2
        line = stream[pos:end]
        pos = end
        if line == b".\r\n":
            break
        if state == DataBody.NOMINAL:
            over_size = (
                size_limit - size if size_limit is not None and size + len(line) > size_limit else None
            )
            over_line = LINE_LIMIT - 2 if len(line) - 2 > LINE_LIMIT - 2 else None
            if over_size is not None or over_line is not None:
                big = len(line) + 1
                state = (
                    DataBody.TOO_LONG
                    if (over_line if over_line is not None else big)
                    < (over_size if over_size is not None else big)
                    else DataBody.TOO_MUCH
                )
            lines.append(line)
        size += len(line)
    if state != DataBody.NOMINAL:
        return state, None, pos
    return state, b"".join(x[1:] if x.startswith(b".") else x for x in lines), pos


def pieces(stream: bytes, cuts: list[int]) -> list[bytes]:
    """What the server reads: up to and including each ``.CRLF``, or (the stream limit) any
    shorter prefix without one, here cut at ``cuts``."""
    out: list[bytes] = []
    pos = 0
    cut_iter = iter(cuts)
    while pos < len(stream):
        end = stream.find(b".\r\n", pos)
        upto = len(stream) if end < 0 else end + 3
        cut = next(cut_iter, 0)
        if 0 < cut < upto - pos - 2:  # a prefix that cannot hold the dot line
            upto = pos + cut
        out.append(stream[pos:upto])
        pos = upto
    return out


def run(stream: bytes, size_limit: int | None, cuts: list[int]) -> tuple[str, bytes | None, int]:
    body = DataBody(size_limit, LINE_LIMIT)
    used = 0
    for piece in pieces(stream, cuts):
        body.feed(piece)
        used += len(piece)
        if body.done:
            break
    assert body.done
    return body.state, body.content() if body.state == DataBody.NOMINAL else None, used


LINES = st.sampled_from(
    [
        b"",
        b".",
        b"..",
        b".x",
        b"abc",
        b"Subject: \xe6\x97\xa5\xe6\x9c\xac",
        b"a\nb",
        b"a\rb",
        b"end\r",
        b"\n.",
        b"x" * 998,
        b"x" * 999,
        b"x" * 1000,
        b"x" * 1003,
        b"y" * 2500,
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(LINES, max_size=12),
    st.sampled_from([None, 50, 1000, 3000]),
    st.lists(st.integers(min_value=0, max_value=1200), max_size=20),
)
def test_any_pieces_give_the_reference_body(
    lines: list[bytes], size_limit: int | None, cuts: list[int]
) -> None:
    stream = b"".join(x + b"\r\n" for x in lines) + b".\r\nQUIT\r\n"
    assert run(stream, size_limit, cuts) == reference(stream, size_limit)


def test_end_of_data_and_transparency() -> None:
    assert run(b".\r\n", None, []) == (DataBody.NOMINAL, b"", 3)
    assert run(b"..\r\n...\r\n.\r\n", None, []) == (DataBody.NOMINAL, b".\r\n..\r\n", 12)
    # Smuggling shapes are not an end of data: only CRLF "." CRLF is (and a line that starts
    # with a dot loses it, bare LF or not).
    stream = b"a\n.\r\nb\r\n.\nc\r\n.\r\n"
    assert run(stream, None, []) == (DataBody.NOMINAL, b"a\n.\r\nb\r\n\nc\r\n", len(stream))
    # The CRLF before the dot may arrive in the piece before it.
    assert run(b"ab\r\n.\r\n", None, [4]) == (DataBody.NOMINAL, b"ab\r\n", 7)


def test_a_crlf_split_between_pieces_ends_the_line() -> None:
    """The longest line taken (999 octets + CRLF), its CR at the end of one piece and its LF at
    the start of the next; one more octet is too long."""
    longest = b"x" * (LINE_LIMIT - 2)
    stream = longest + b"\r\n" + longest + b"\r\n.\r\n"
    cut = len(longest) + 1  # between CR and LF
    assert run(stream, None, [cut]) == (DataBody.NOMINAL, stream[:-3], len(stream))
    assert run(stream, None, [cut - 1]) == (DataBody.NOMINAL, stream[:-3], len(stream))
    stream = longest + b"x\r\n.\r\n"
    assert run(stream, None, [cut])[0] == DataBody.TOO_LONG
    assert reference(stream, None)[0] == DataBody.TOO_LONG


def test_refusals_keep_nothing_but_read_to_the_end() -> None:
    long_line = b"x" * 1000 + b"\r\n.\r\nNOOP\r\n"
    assert run(long_line, None, [300, 300]) == (DataBody.TOO_LONG, None, 1005)
    big = b"y" * 80 + b"\r\n" + b"z" * 80 + b"\r\n.\r\n"
    assert run(big, 100, []) == (DataBody.TOO_MUCH, None, len(big))


# --- against aiosmtpd itself, over real sockets -----------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        self.bodies.append(envelope.original_content)
        return "250 2.0.0 OK"


async def converse(port: int, stream: bytes) -> list[str]:
    """Send ``stream`` at once (pipelined) and collect reply codes until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(stream)
    await writer.drain()
    codes: list[str] = []
    with contextlib.suppress(ConnectionError):
        async with asyncio.timeout(20):
            while line := await reader.readline():
                if line[3:4] != b"-":
                    codes.append(line[:3].decode())
    writer.close()
    return codes


async def serve(factory: Callable[[], SMTP]) -> tuple[asyncio.Server, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host="127.0.0.1", port=0)
    sock: socket.socket = server.sockets[0]
    return server, int(sock.getsockname()[1])


@settings(max_examples=25, deadline=None)
@given(st.lists(LINES, max_size=10), st.booleans())
def test_the_gateway_takes_what_aiosmtpd_takes(lines: list[bytes], two: bool) -> None:
    body = b"".join(x + b"\r\n" for x in lines)
    envelope = b"MAIL FROM:<a@example.jp>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\n"
    stream = b"EHLO probe\r\n" + envelope + body + b".\r\n"
    if two:  # a second message pipelined right after the first
        stream += envelope + b"second\r\n.\r\n"
    stream += b"QUIT\r\n"

    async def both() -> tuple[tuple[list[str], list[bytes]], tuple[list[str], list[bytes]]]:
        out = []
        for ours in (False, True):
            rec = Recorder()

            def make(rec: Recorder = rec, ours: bool = ours) -> SMTP:
                if ours:
                    return GatewaySMTP(rec, session_time=60, hostname="t", data_size_limit=None)
                return SMTP(rec, hostname="t", data_size_limit=None)

            server, port = await serve(make)
            try:
                codes = await converse(port, stream)
            finally:
                server.close()
            out.append((codes, rec.bodies))
        return out[0], out[1]

    stock, ours = asyncio.run(both())
    assert ours == stock
    # (A bare dot line ends the body early and the rest reads as commands; a long line is 500.)
    if b"." not in lines and all(len(x) <= LINE_LIMIT - 2 for x in lines):
        assert stock[0][-1] == "221" and len(stock[1]) == 1 + two
