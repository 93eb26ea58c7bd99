"""Audit events to a SIEM as they happen: a real RFC 5424 collector over TLS (RFC 5425 octet
counting) and a JSON lines file, fed by the forwarder from the real relay's audit trail; a
collector that goes away loses nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.config import SiemConfig, SyslogConfig
from gateway.siem import Forwarder
from tests.gateway.conftest import Gateway, eventually, free_port, make_mail, queue_id, send

SENDER = "taro@example.co.jp"
RFC5424 = re.compile(
    rb'^<(\d+)>1 (\S+) (\S+) sekimori - (\S+) \[sekimori@32473 seq="(\d+)" actor="([^"]*)" msg_id="([^"]*)"'
    rb' from="([^"]*)" to="([^"]*)" hash="([0-9a-f]{64})"\] \xef\xbb\xbf(.*)$',
    re.S,
)


def collector_cert(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "siem.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    crt, pem = tmp / "siem.crt", tmp / "siem.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return crt, pem


class Collector:
    """A syslog receiver over TLS with octet-counting framing (RFC 5425 s4.3)."""

    def __init__(self, port: int, cert: Path, key: Path) -> None:
        self.port = port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.messages: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            while True:
                length = await reader.readuntil(b" ")
                self.messages.append(await reader.readexactly(int(length[:-1])))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.context)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        await self.server.wait_closed()

    def events(self) -> list[tuple[int, str, str, dict[str, object]]]:
        out = []
        for m in self.messages:
            found = RFC5424.match(m)
            assert found is not None, m[:200]
            out.append((int(found.group(5)), found.group(4).decode(), found.group(7).decode(),
                        json.loads(found.group(11))))  # fmt: skip
        return out


@pytest.fixture
async def collector(tmp_path: Path) -> AsyncIterator[Collector]:
    cert, key = collector_cert(tmp_path)
    c = Collector(free_port(), cert, key)
    await c.start()
    yield c
    if c.server is not None and c.server.is_serving():
        await c.stop()


async def test_audit_events_reach_syslog_over_tls_and_a_jsonl_file_in_order(
    gateway: Gateway, collector: Collector, tmp_path: Path
) -> None:
    cfg = SiemConfig(
        syslog=SyslogConfig(host="127.0.0.1", port=collector.port, tls=True, ca=tmp_path / "siem.crt"),
        jsonl=tmp_path / "audit.jsonl",
        cursor=tmp_path / "siem.cursor",
    )
    forwarder = Forwarder(cfg, gateway.store, interval=0.1)
    forwarder.start()
    try:
        code, reply = await send(gateway.port, SENDER, ["x@hold.test"], make_mail(to=["x@hold.test"]))
        assert code == 250
        held = queue_id(reply)

        async def arrived() -> bool:
            return any(
                msg_id == held and action == "transition" for _, action, msg_id, _ in collector.events()
            )

        await eventually(arrived)
        events = collector.events()
        seqs = [seq for seq, *_ in events]
        assert seqs == list(range(1, len(seqs) + 1)), "every event, once, in chain order"
        for seq, action, msg_id, doc in events:
            assert doc["seq"] == seq and doc["action"] == action and doc["msg_id"] == msg_id
        pri = int(RFC5424.match(collector.messages[0]).group(1))  # type: ignore[union-attr]
        assert pri // 8 == 16  # local0
        # The collector goes away: nothing is lost, it all arrives when it is back.
        await collector.stop()
        code, reply = await send(
            gateway.port, SENDER, ["y@quarantine.test"], make_mail(to=["y@quarantine.test"])
        )
        later = queue_id(reply)
        await asyncio.sleep(0.3)  # a few passes of the forwarder fail meanwhile
        await collector.start()

        async def caught_up() -> bool:
            return any(msg_id == later for _, _, msg_id, _ in collector.events())

        await eventually(caught_up)
        seqs = [seq for seq, *_ in collector.events()]
        assert sorted(set(seqs)) == list(range(1, max(seqs) + 1))
    finally:
        await forwarder.stop()
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["seq"] for d in lines] == list(range(1, len(lines) + 1))
    assert {d["msg_id"] for d in lines} >= {held, later}
    assert forwarder.sent_up_to() == lines[-1]["seq"]
