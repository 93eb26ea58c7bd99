"""Who may use the proxy and who is uploading: proxy Basic authentication against the UI's
accounts (on loopback and over TLS to the proxy), a trusted header from a front proxy, a map of
networks to people; passwords never reach a log, the origin or ``flow.metadata``."""

from __future__ import annotations

import asyncio
import base64
import logging
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from gateway.config import ProxyIdentityConfig
from gateway.proxy.access import USER, VIA, Access, ProxyLogin, client_ip
from gateway.proxy.holding import HoldingServer
from gateway.store import ItemKind
from gateway.store.upload_sessions import SQLiteUploadSessions
from tests.gateway.proxy import clients
from tests.gateway.proxy.conftest import CLEAN, MY_NUMBER, PASSWORD, Gateway, GatewayFactory

BASIC = "  identity:\n    basic: true\n"


class Recorder:
    """A mitmproxy addon that keeps every flow's metadata and headers as a dump would show them."""

    def __init__(self) -> None:
        self.dumps: list[str] = []

    def request(self, flow: http.HTTPFlow) -> None:
        self.dumps.append(repr(flow.metadata) + repr(flow.request.headers))


async def connect_status(gateway: Gateway, auth: str | None, host: str = "content.dropboxapi.com") -> bytes:
    h, p = gateway.proxy.address
    reader, writer = await asyncio.open_connection(h, p)
    head = f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n"
    if auth is not None:
        head += f"Proxy-Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
    writer.write(head.encode() + b"\r\n")
    status = await reader.readline()
    writer.close()
    return status


def credentials() -> str:
    return "taro%40example.co.jp:" + urllib.parse.quote(PASSWORD)


async def test_proxy_basic_auth_against_the_ui_accounts(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    gateway = await gateway_factory(proxy_extra=BASIC, accounts=True, extra_addons=[recorder])
    caplog.set_level(logging.DEBUG)
    assert (await connect_status(gateway, None)).startswith(b"HTTP/1.1 407")
    assert (await connect_status(gateway, "taro@example.co.jp:wrong")).startswith(b"HTTP/1.1 407")
    host, port = gateway.proxy.address
    async with gateway.client(proxy=f"http://{credentials()}@{host}:{port}") as c:
        ok = await clients.dropbox_upload(c, "/議事録.txt", CLEAN)
        bad = await clients.dropbox_upload(c, "/顧客.txt", MY_NUMBER)
    assert ok.status_code == 200 and bad.status_code == 403
    recs = {r.subject: r for r in await gateway.store.list_messages(kinds={ItemKind.UPLOAD})}
    assert recs["顧客.txt"].sender == "taro@example.co.jp"
    assert recs["顧客.txt"].meta["identified_by"] == "basic"
    seen = caplog.text + "".join(recorder.dumps) + "".join(repr(s.headers) for s in gateway.origin.received)
    assert PASSWORD not in seen and "proxy-authorization" not in seen.lower()
    assert recorder.dumps and all("taro@example.co.jp" in d for d in recorder.dumps)


async def test_basic_auth_over_tls_to_the_proxy(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(proxy_extra=BASIC, accounts=True)
    _, port = gateway.proxy.address
    proxy = httpx.Proxy(f"https://{credentials()}@localhost:{port}", ssl_context=gateway.trust())
    async with httpx.AsyncClient(proxy=proxy, verify=gateway.trust(), timeout=30) as c:
        r = await clients.dropbox_upload(c, "/顧客.txt", MY_NUMBER)
    assert r.status_code == 403
    rec = (await gateway.store.list_messages(kinds={ItemKind.UPLOAD}))[0]
    assert rec.sender == "taro@example.co.jp" and rec.meta["identified_by"] == "basic"


async def test_trusted_header_from_a_front_proxy(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(
        proxy_extra="  identity:\n    header: X-Authenticated-User\n    trusted_proxies: [127.0.0.0/8]\n"
    )
    # the header on the CONNECT, as an authenticating front proxy sends it
    proxy = httpx.Proxy(gateway.proxy_url, headers={"X-Authenticated-User": "Hanako@Example.co.jp"})
    async with gateway.client(proxy=proxy) as c:
        r = await clients.dropbox_upload(c, "/顧客.txt", MY_NUMBER)
    assert r.status_code == 403
    rec = (await gateway.store.list_messages(kinds={ItemKind.UPLOAD}))[0]
    assert rec.sender == "hanako@example.co.jp" and rec.meta["identified_by"] == "header"
    assert all("x-authenticated-user" not in s.headers for s in gateway.origin.received)


async def test_a_graph_session_is_judged_as_its_creators_upload_in_its_tenant(
    gateway_factory: GatewayFactory,
) -> None:
    """Graph's ``uploadUrl`` ranges carry no ``Authorization`` (Microsoft says not to send it):
    the user and the tenant come from the request that created the session."""
    from tests.gateway.proxy.test_gate import split, text
    from tests.gateway.proxy.test_services import JWT_TID, jwt

    gateway = await gateway_factory(
        proxy_extra="  identity:\n    header: X-Authenticated-User\n    trusted_proxies: [127.0.0.0/8]\n"
    )
    front = httpx.Proxy(gateway.proxy_url, headers={"X-Authenticated-User": "hanako@example.co.jp"})
    data = text(200 * 1024, pii_at=150 * 1024)
    parts = split(data, 100 * 1024)
    async with gateway.client(proxy=front) as creator, gateway.client() as anonymous:
        created = await creator.post(
            clients.GRAPH_ITEM.format(name="名簿.txt") + "createUploadSession",
            json={},
            headers={"Authorization": jwt({"tid": JWT_TID})},
        )
        url = created.json()["uploadUrl"]
        first = await anonymous.put(
            url, content=parts[0], headers={"Content-Range": f"bytes 0-{len(parts[0]) - 1}/{len(data)}"}
        )
        last = await anonymous.put(
            url,
            content=parts[1],
            headers={"Content-Range": f"bytes {len(parts[0])}-{len(data) - 1}/{len(data)}"},
        )
    assert first.status_code == 202 and last.status_code == 403
    rec = (await gateway.store.list_messages(kinds={ItemKind.UPLOAD}))[0]
    assert rec.sender == "hanako@example.co.jp" and rec.meta["identified_by"] == "session"
    assert rec.upload is not None and rec.upload.tenant == JWT_TID and rec.upload.filename == "名簿.txt"
    assert all("authorization" not in s.headers for s in gateway.origin.saw("sn3302.up.1drv.com"))


async def test_network_map_and_required_identity(gateway_factory: GatewayFactory) -> None:
    mapped = await gateway_factory(
        proxy_extra="  identity:\n    networks: {127.0.0.0/8: jiro@example.co.jp}\n"
    )
    async with mapped.client() as c:
        await clients.dropbox_upload(c, "/顧客.txt", MY_NUMBER)
    rec = (await mapped.store.list_messages(kinds={ItemKind.UPLOAD}))[0]
    assert rec.sender == "jiro@example.co.jp" and rec.meta["identified_by"] == "network"


async def test_unidentified_clients_are_refused_when_required(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(proxy_extra="  identity:\n    required: true\n")
    async with gateway.client() as c:
        r = await clients.dropbox_upload(c, "/議事録.txt", CLEAN)
    assert r.status_code == 403 and "cannot tell who you are" in r.text
    assert gateway.origin.received == []


# -- unit tests with mitmproxy's test flows (clients from addresses a test machine lacks) --------


class FakeLogin(ProxyLogin):
    def __init__(self) -> None:
        self.checked: list[tuple[str, str, str]] = []

    async def check(self, user: str, password: str, ip: str) -> str | None:
        self.checked.append((user, password, ip))
        return user if password == PASSWORD else None


def flow_from(ip: str, *, tls: bool = False, headers: dict[str, str] | None = None) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.client_conn.peername = (ip, 50000)
    flow.client_conn.timestamp_tls_setup = 946681201.0 if tls else None  # TLS to the proxy, or not
    flow.request.method = "CONNECT"
    for k, v in (headers or {}).items():
        flow.request.headers[k] = v
    return flow


def access(**identity: Any) -> tuple[Access, FakeLogin]:
    login = FakeLogin()
    holding = HoldingServer(Path("/nonexistent"))  # never started: no request goes through it here
    return Access(
        ProxyIdentityConfig(**identity), clients=["10.0.0.0/8"], holding=holding, login=login
    ), login


def basic(user: str, password: str) -> dict[str, str]:
    return {"Proxy-Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_a_password_in_cleartext_from_the_network_is_refused_unchecked() -> None:
    addon, login = access(basic=True)
    flow = flow_from("10.1.2.3", headers=basic("taro@example.co.jp", PASSWORD))
    await addon.http_connect(flow)
    assert flow.response is not None and flow.response.status_code == 403
    assert login.checked == [] and "Proxy-Authorization" not in flow.request.headers
    tls = flow_from("10.1.2.3", tls=True, headers=basic("taro@example.co.jp", PASSWORD))
    await addon.http_connect(tls)
    assert tls.response is None and login.checked == [("taro@example.co.jp", PASSWORD, "10.1.2.3")]


async def test_a_header_from_an_untrusted_address_is_dropped_not_believed() -> None:
    addon, _ = access(header="X-User", trusted_proxies=["10.9.0.0/16"])
    trusted = flow_from("10.9.1.1", headers={"X-User": "taro@example.co.jp"})
    await addon.http_connect(trusted)
    inner = tflow.tflow(client_conn=trusted.client_conn)
    await addon.requestheaders(inner)
    assert inner.metadata[USER] == "taro@example.co.jp" and inner.metadata[VIA] == "header"
    spoofed = flow_from("10.1.1.1", headers={"X-User": "boss@example.co.jp"})
    await addon.http_connect(spoofed)
    assert "X-User" not in spoofed.request.headers
    inner = tflow.tflow(client_conn=spoofed.client_conn)
    await addon.requestheaders(inner)
    assert USER not in inner.metadata


def test_clients_outside_proxy_clients_are_disconnected() -> None:
    addon, _ = access()
    outside, inside, local = flow_from("203.0.113.9"), flow_from("10.2.3.4"), flow_from("127.0.0.1")
    for f in (outside, inside, local):
        addon.client_connected(f.client_conn)
    assert outside.client_conn.error and not inside.client_conn.error and not local.client_conn.error


@pytest.mark.parametrize(
    ("peer", "ip"), [(("::ffff:10.1.2.3", 1, 0, 0), "10.1.2.3"), (("fe80::1%eth0", 1), "fe80::1")]
)
def test_client_ip(peer: tuple[object, ...], ip: str) -> None:
    assert client_ip(peer) == ip


async def test_failed_logins_are_throttled_across_instances(tmp_path: Any) -> None:
    from gateway.store import SQLiteStore

    store = await SQLiteStore.open(tmp_path / "var")
    throttle = await SQLiteUploadSessions.open(store.db_path)

    class Never:
        calls = 0

        def authenticate(self, *args: object) -> Any:
            Never.calls += 1
            from quarantine_ui.accounts import LoginResult, Outcome

            return LoginResult(Outcome.BAD_CREDENTIALS)

    a = ProxyLogin(Never(), throttle)  # type: ignore[arg-type]
    b = ProxyLogin(Never(), throttle)  # type: ignore[arg-type]
    for i in range(20):
        assert await (a if i % 2 else b).check("x@example.co.jp", "nope", "10.0.0.9") is None
    assert Never.calls == 20
    assert await b.check("x@example.co.jp", "nope", "10.0.0.9") is None
    assert Never.calls == 20  # the 21st was refused without an argon2 check
    await throttle.close()
    await store.close()
