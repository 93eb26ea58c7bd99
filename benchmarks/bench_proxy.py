"""Throughput and memory of the upload gate against a bare mitmproxy with an empty addon.

Three processes besides this one, all started in this run: a local HTTPS origin on loopback
that accepts uploads (certificate from a CA made here), a *bare* mitmproxy (11.0.2, embedded
the same way, with mitmproxy's core addons and one addon that does nothing: it buffers bodies,
as mitmproxy does by default) and *Sekimori*'s upload gate (``sekimori proxy``, the real entry
point: a generic rule for the origin, the shipped default policy, the embedded store, two
classification workers). Both proxies decrypt the origin with the same CA; the client (here)
keeps one CONNECT tunnel per concurrent upload and sends ``PUT``\\ s through it.

1. Throughput: 1 MiB uploads (a PNG photo, the most common upload; it is classified as an
   image) at concurrency 1 and 8; three alternating rounds, the best of each side. The ratio is
   Sekimori / bare; the target is at least 0.77 (no more than 1.3x the latency). One more line
   shows a 1 MiB CSV text file, whose classification (all detectors over the text) dominates.
2. Memory: fresh processes, 8 uploads of 10 MiB in flight at once; the proxy process's peak
   resident size (``VmHWM``). Target < 300 MiB for Sekimori, whose bodies above
   ``proxy.limits.memory_body`` (4 MiB) go through the spool; the bare, buffering mitmproxy is
   shown for comparison.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import multiprocessing
import os
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import h11
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.proxy import ca  # noqa: E402

MIB = 1024 * 1024
LEVELS = ((1, 40), (8, 160))  # (concurrency, uploads)
ROUNDS = 3
TEXT_UPLOADS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- payloads -------------------------------------------------------------------------------


def png(size: int) -> bytes:
    """A PNG of about ``size`` bytes (random image data, as a photo compresses)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1024, 1024, 8, 2, 0, 0, 0))
    tail = chunk(b"IEND", b"")
    return head + chunk(b"IDAT", os.urandom(size - len(head) - len(tail) - 12)) + tail


def csv_text(size: int) -> bytes:
    rows = [b"\xe5\x93\x81\xe7\x95\xaa,\xe5\x93\x81\xe5\x90\x8d,\xe6\x95\xb0\xe9\x87\x8f\n"]
    n = 0
    total = len(rows[0])
    while total < size:
        n += 1
        row = f"A-{n:06d},部品 {n % 977},{n % 50 + 1}\n".encode()
        rows.append(row)
        total += len(row)
    return b"".join(rows)[:size]


# --- certificates ---------------------------------------------------------------------------


def make_origin_certs(folder: Path) -> tuple[Path, Path]:
    """A CA and a certificate for 127.0.0.1; returns (CA PEM, server key+cert PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench origin CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, server_pem = folder / "origin-ca.pem", folder / "origin.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, server_pem


# --- the origin and the bare proxy, each in its own process ---------------------------------


def _send(conn: h11.Connection, event: h11.Event) -> bytes:
    data = conn.send(event)
    assert data is not None
    return data


def _origin_main(port: int, server_pem: str) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(256 * 1024)
                        if not data:
                            return
                        conn.receive_data(data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    elif isinstance(event, h11.Request | h11.Data):
                        continue
                    else:
                        return
                body = b'{"ok": true}'
                head = [("content-type", "application/json"), ("content-length", str(len(body)))]
                writer.write(
                    _send(conn, h11.Response(status_code=200, headers=head))
                    + _send(conn, h11.Data(data=body))
                )
                writer.write(_send(conn, h11.EndOfMessage()))
                await writer.drain()
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, ssl.SSLError):
            return
        finally:
            writer.close()

    async def main() -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(server_pem)
        server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=ctx)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


class _Empty:
    """The bare proxy's addon: nothing."""


def _bare_main(port: int, confdir: str, upstream_ca: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from mitmproxy import options
        from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
        from mitmproxy.master import Master

    async def main() -> None:
        opts = options.Options()
        master = Master(opts, with_termlog=False)
        server = proxyserver.Proxyserver()  # type: ignore[no-untyped-call]
        addons = (core.Core(), server, next_layer.NextLayer(), tlsconfig.TlsConfig(), _Empty())
        master.addons.add(*addons)  # type: ignore[no-untyped-call]
        opts.update(  # type: ignore[no-untyped-call]
            mode=[f"regular@127.0.0.1:{port}"],
            confdir=confdir,
            ssl_verify_upstream_trusted_ca=upstream_ca,
            connection_strategy="lazy",
            http3=False,
        )
        await master.run()

    uvloop.run(main())


# --- the client -----------------------------------------------------------------------------


async def _tunnel(
    proxy_port: int, origin_port: int, trust: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(
        f"CONNECT 127.0.0.1:{origin_port} HTTP/1.1\r\nHost: 127.0.0.1:{origin_port}\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readuntil(b"\r\n\r\n")
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"CONNECT refused: {status[:40]!r}")
    await writer.start_tls(trust)
    return reader, writer


async def _put(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    conn: h11.Connection,
    path: str,
    body: bytes,
    ctype: str,
) -> int:
    head = [("host", "127.0.0.1"), ("content-type", ctype), ("content-length", str(len(body)))]
    writer.write(_send(conn, h11.Request(method="PUT", target=path, headers=head)))
    view = memoryview(body)
    for i in range(0, len(body), 256 * 1024):
        writer.write(_send(conn, h11.Data(data=bytes(view[i : i + 256 * 1024]))))
        await writer.drain()
    writer.write(_send(conn, h11.EndOfMessage()))
    await writer.drain()
    status = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the proxy closed the connection")
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.EndOfMessage):
            conn.start_next_cycle()
            return status


async def load(
    proxy_port: int,
    origin_port: int,
    trust: ssl.SSLContext,
    body: bytes,
    ctype: str,
    concurrency: int,
    total: int,
    refused: list[int] | None = None,
) -> tuple[float, list[float]]:
    """Upload rate and latencies; with ``refused``, a 403 is counted there instead of failing
    (the gateway refuses what it could not fully inspect in time, as its policy says)."""
    left = total
    latencies: list[float] = []

    async def worker(n: int) -> None:
        nonlocal left
        reader, writer = await _tunnel(proxy_port, origin_port, trust)
        conn = h11.Connection(h11.CLIENT)
        try:
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                status = await _put(
                    reader, writer, conn, f"/files/photo-{n}.{ctype.rsplit('/', 1)[1]}", body, ctype
                )
                if status == 403 and refused is not None:
                    refused.append(status)
                elif status != 200:
                    raise RuntimeError(f"upload answered {status}")
                latencies.append(time.perf_counter() - t0)
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return total / (time.perf_counter() - t0), latencies


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Proxies:
    """The bare mitmproxy and Sekimori's gateway, started (again) on fresh ports."""

    def __init__(self, tmp: Path, origin_port: int, origin_ca: Path) -> None:
        self.tmp = tmp
        self.origin_port = origin_port
        self.origin_ca = origin_ca
        self.ctx = multiprocessing.get_context("spawn")
        self.bare_port = self.gw_port = 0
        self.bare: multiprocessing.process.BaseProcess | None = None
        self.gw: subprocess.Popen[bytes] | None = None

    def start(self, run: int) -> None:
        self.bare_port, self.gw_port = free_port(), free_port()
        confdir = self.tmp / "proxy-ca"
        self.bare = self.ctx.Process(
            target=_bare_main, args=(self.bare_port, str(confdir), str(self.origin_ca)), daemon=True
        )
        self.bare.start()
        cfg = self.tmp / f"bench-{run}.yaml"
        cfg.write_text(
            f"store: {{path: {self.tmp}/var-{run}}}\nscan: {{workers: 2}}\n"
            f"policy: {{path: {ROOT / 'policies' / 'default.yaml'}}}\nsecret: {'b' * 40}\n"
            f"proxy:\n  port: {self.gw_port}\n  ca: {confdir}\n  upstream_trust: {self.origin_ca}\n"
            f"  services: []\n  rules:\n    - name: files\n      hosts: ['127.0.0.1:{self.origin_port}']\n"
            "      methods: [PUT]\n      body: raw\n",
            encoding="utf-8",
        )
        self.gw = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "proxy", "--config", str(cfg)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _wait_port(self.bare_port)
        _wait_port(self.gw_port)

    def stop(self) -> None:
        if self.gw is not None:
            self.gw.send_signal(signal.SIGTERM)
            self.gw.wait(timeout=30)
        if self.bare is not None:
            self.bare.terminate()
            self.bare.join()


def main() -> int:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        origin_ca, server_pem = make_origin_certs(tmp)
        key, cert = ca.create_ca(organisation="bench", common_name="bench proxy CA")
        ca.write_ca(tmp / "proxy-ca", key, cert)
        trust = ssl.create_default_context(cafile=str(tmp / "proxy-ca" / ca.CERT_ONLY))
        origin_port = free_port()
        origin = ctx.Process(target=_origin_main, args=(origin_port, str(server_pem)), daemon=True)
        origin.start()
        _wait_port(origin_port)
        proxies = Proxies(tmp, origin_port, origin_ca)
        photo, text = png(MIB), csv_text(MIB)
        try:
            proxies.start(1)
            print(
                "bench_proxy: 1 MiB PNG uploads (PUT through a CONNECT tunnel); ratios are Sekimori / bare mitmproxy"
            )
            uvloop.run(load(proxies.gw_port, origin_port, trust, photo, "image/png", 2, 8))  # warm up
            for concurrency, total in LEVELS:
                best: dict[str, tuple[float, list[float]]] = {}
                for _ in range(ROUNDS):
                    for name, port in (("bare", proxies.bare_port), ("gw", proxies.gw_port)):
                        rate, lat = uvloop.run(
                            load(port, origin_port, trust, photo, "image/png", concurrency, total)
                        )
                        if name not in best or rate > best[name][0]:
                            best[name] = (rate, lat)
                (gw_rate, gw_lat), (bare_rate, bare_lat) = best["gw"], best["bare"]
                ratio = gw_rate / bare_rate
                print(
                    f"  concurrency {concurrency}: {gw_rate:6.1f} uploads/s ({gw_rate:.1f} MiB/s) vs {bare_rate:6.1f}/s"
                    f" = {ratio:4.2f}x (target >= 0.77: {'met' if ratio >= 0.77 else 'NOT met'});"
                    f" p50 {statistics.median(gw_lat) * 1000:6.1f} ms vs {statistics.median(bare_lat) * 1000:6.1f} ms"
                )
            refused: list[int] = []
            gw_rate, _ = uvloop.run(
                load(proxies.gw_port, origin_port, trust, text, "text/csv", 8, TEXT_UPLOADS, refused)
            )
            bare_rate, _ = uvloop.run(
                load(proxies.bare_port, origin_port, trust, text, "text/csv", 8, TEXT_UPLOADS)
            )
            print(
                f"  1 MiB CSV text at concurrency 8 (classification of every detector; no target):"
                f" {gw_rate:5.1f}/s vs {bare_rate:5.1f}/s = {gw_rate / bare_rate:4.2f}x"
                + (
                    f" ({len(refused)} of {TEXT_UPLOADS} refused: not fully inspected within scan.time)"
                    if refused
                    else ""
                )
            )
            proxies.stop()

            proxies.start(2)  # fresh processes: the peak is that of this burst
            big = png(10 * MIB)
            assert proxies.gw is not None and proxies.bare is not None and proxies.bare.pid is not None
            uvloop.run(load(proxies.gw_port, origin_port, trust, big, "image/png", 8, 8))
            uvloop.run(load(proxies.bare_port, origin_port, trust, big, "image/png", 8, 8))
            gw_peak, bare_peak = peak_rss_mib(proxies.gw.pid), peak_rss_mib(proxies.bare.pid)
            print(
                f"  peak RSS with 8 x 10 MiB uploads in flight: Sekimori {gw_peak:5.0f} MiB"
                f" (target < 300 MiB: {'met' if gw_peak < 300 else 'NOT met'}),"
                f" bare buffering mitmproxy {bare_peak:5.0f} MiB = {gw_peak / bare_peak:4.2f}x"
            )
        finally:
            proxies.stop()
            origin.terminate()
            origin.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
