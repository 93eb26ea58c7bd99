"""The embedded mitmproxy: TLS is decrypted only for the hosts the gateway needs; everything
else, and every bypassed host, is a tunnel in which the client sees the origin's own
certificate. It will not start without its CA, nor on a port in use."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from cryptography import x509

from gateway.config import ProxyConfig, load_config
from gateway.pipeline import Inspector
from gateway.proxy import ca
from gateway.proxy.server import SWITCH_INTERVAL, ProxyServer, decrypted_hosts, prompt_threads
from gateway.store import open_store
from policies import PolicyHolder
from tests.gateway.proxy.conftest import Gateway, GatewayFactory, start_gateway, write_config
from tests.gateway.proxy.fakes import FakeOrigin


async def issuer_seen(gateway: Gateway, host: str) -> str:
    """CONNECT to ``host`` and return the issuer of the certificate the client is shown."""
    h, p = gateway.proxy.address
    reader, writer = await asyncio.open_connection(h, p)
    writer.write(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await writer.start_tls(gateway.trust(), server_hostname=host)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 ")  # the origin answered through the tunnel
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string()


async def test_only_service_hosts_are_decrypted(gateway: Gateway) -> None:
    assert await issuer_seen(gateway, "www.example.org") == "CN=Test Public Root CA"
    assert await issuer_seen(gateway, "content.dropboxapi.com") == "CN=Sekimori test CA,O=Test"


async def test_bypassed_hosts_are_tunnelled(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(proxy_extra="  bypass: ['*.dropboxapi.com']\n")
    assert await issuer_seen(gateway, "content.dropboxapi.com") == "CN=Test Public Root CA"
    assert await issuer_seen(gateway, "upload.box.com") == "CN=Sekimori test CA,O=Test"


def test_decrypted_hosts_follow_services_rules_and_tenants() -> None:
    cfg = ProxyConfig.model_validate(
        {
            "services": ["box"],
            "rules": [{"name": "chat", "hosts": ["chat.example"]}],
            "tenant_restrictions": {"google": {"domains": ["example.co.jp"]}},
        }
    )
    names = {str(p) for p in decrypted_hosts(cfg)}
    assert {"upload.box.com", "chat.example", "google.com", "*.google.com"} <= names
    assert not any("dropbox" in n or "googleapis" in n for n in names)


async def test_no_ca_no_start_and_a_busy_port_is_an_error(tmp_path: Path, origin: FakeOrigin) -> None:
    config = load_config(write_config(tmp_path, origin))
    store = await open_store(config.store)
    inspector = Inspector(PolicyHolder(config.policy.path), scan_time=5, workers=0)
    try:
        with pytest.raises(ca.CAError, match="sekimori ca init"):
            await ProxyServer(config, store=store, inspector=inspector).start()
        assert config.proxy is not None and config.proxy.ca is not None
        assert not (config.proxy.ca / ca.KEY_AND_CERT).exists()
        first = await start_gateway(config, origin)
        try:
            with pytest.raises(OSError, match="cannot listen"):
                await start_gateway(config, origin)
        finally:
            await first.stop()
    finally:
        inspector.close()
        await store.close()


def test_prompt_threads_shortens_the_gil_switch_interval_and_never_lengthens_it() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        prompt_threads()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL, rel=0.05)
        sys.setswitchinterval(0.0001)
        prompt_threads()
        assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.05)
    finally:
        sys.setswitchinterval(before)
