"""Real parts for the upload gate's tests: the gateway's proxy (embedded mitmproxy, as in
production) with its own store and a test policy, the fake providers' HTTPS origin, and httpx
clients that trust the gateway's CA (and the origin's, for tunnelled hosts)."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from gateway.commands.ui import ui_config
from gateway.config import Config, load_config
from gateway.pipeline import Inspector
from gateway.proxy import ca
from gateway.proxy.server import ProxyServer
from gateway.store import Store, open_store
from gateway.store.redis import RedisStore
from policies import PolicyHolder
from quarantine_ui.accounts import Accounts
from quarantine_ui.db import Database
from tests.gateway.conftest import SECRET, free_port
from tests.gateway.proxy.fakes import FakeOrigin, MapHosts, OriginCerts

#: A valid My Number (check digit per the My Number Act's ordinance) with its context word.
MY_NUMBER = "マイナンバー: 1234 5678 9018".encode()
CLEAN = "議事録\n本日の打ち合わせでは来期の計画を確認しました。\n".encode()

UPLOAD_POLICY = """\
version: 1
organisation:
  internal_domains: [example.co.jp]
rules:
  - id: u-block-my-number
    title: {ja: マイナンバーのアップロード禁止, en: No My Number in uploads}
    description: {ja: マイナンバーが含まれています, en: Contains a My Number}
    when:
      all:
        - direction: upload
        - entity: {type: my_number, min_score: 0.5}
    action: {type: block, notify_security: true}
  - id: u-review-not-inspected
    title: {ja: 検査できないアップロード, en: Upload not fully inspected}
    description: {ja: 検査できませんでした, en: Could not be inspected}
    when:
      all:
        - direction: upload
        - truncated: true
    action: quarantine
  - id: u-approval-payroll
    title: {ja: 給与ファイルは承認制, en: Payroll files need approval}
    description: {ja: 承認が必要です, en: Needs approval}
    when:
      direction: upload
      attachment: {name: ["*給与*"]}
    action:
      type: approval
      approvers: [boss@example.co.jp]
      timeout: 1h
      on_timeout: reject
"""


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Gateway:
    config: Config
    store: Store
    inspector: Inspector
    proxy: ProxyServer
    origin: FakeOrigin
    clock: Clock

    @property
    def proxy_url(self) -> str:
        host, port = self.proxy.address
        return f"http://{host}:{port}"

    @property
    def spool(self) -> Path:
        return self.proxy.spool.root

    def spooled(self) -> list[Path]:
        """Every file in the spool (bodies, session chunks, work files)."""
        return sorted(p for p in self.spool.rglob("*") if p.is_file() and p.name != "upstream-trust.pem")

    def trust(self) -> ssl.SSLContext:
        assert self.config.proxy is not None and self.config.proxy.ca is not None
        ctx = ssl.create_default_context(cafile=str(self.config.proxy.ca / ca.CERT_ONLY))
        ctx.load_verify_locations(str(self.origin.certs.ca_pem))
        return ctx

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(proxy=kw.pop("proxy", self.proxy_url), verify=self.trust(), timeout=30, **kw)

    async def stop(self) -> None:
        await self.proxy.stop()
        self.inspector.close()
        await self.store.close()


def write_config(
    tmp_path: Path,
    origin: FakeOrigin,
    *,
    store_url: str | None = None,
    proxy_extra: str = "",
    top_extra: str = "",
    rules: str = "",
    policy_text: str = UPLOAD_POLICY,
) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text, encoding="utf-8")
    store = (
        f"{{path: {tmp_path / 'var'}, url: '{store_url}'}}" if store_url else f"{{path: {tmp_path / 'var'}}}"
    )
    cfg = tmp_path / "sekimori.yaml"
    cfg.write_text(
        f"""\
secret: "{SECRET}"
store: {store}
policy: {{path: {policy}}}
scan: {{workers: 0, time: 5s}}
ui: {{base_url: "http://127.0.0.1:8025", secure_cookies: false}}
notify: {{security: security@example.co.jp}}
{top_extra}
proxy:
  port: {free_port()}
  upstream_trust: {origin.certs.ca_pem}
  limits: {{memory_body: 64KiB, inspect_max: 4MiB, session_ttl: 1h}}
  rules:
    - name: chat
      hosts: [chat.example]
      paths: ["/backend-api/*"]
      body: json
{rules}{proxy_extra}""",
        encoding="utf-8",
    )
    return cfg


def make_ca(config: Config) -> None:
    assert config.proxy is not None and config.proxy.ca is not None
    if not (config.proxy.ca / ca.KEY_AND_CERT).exists():
        key, cert = ca.create_ca(organisation="Test", common_name="Sekimori test CA", key_type="ec")
        ca.write_ca(config.proxy.ca, key, cert)


async def start_gateway(
    config: Config,
    origin: FakeOrigin,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    extra_addons: Sequence[Any] = (),
    **kw: Any,
) -> Gateway:
    make_ca(config)
    clock = clock or Clock()
    store = store or await open_store(config.store)
    inspector = Inspector(PolicyHolder(config.policy.path), scan_time=config.scan.time, workers=0)
    addons = [MapHosts(origin.port), *extra_addons]
    proxy = ProxyServer(config, store=store, inspector=inspector, clock=clock, extra_addons=addons, **kw)
    await proxy.start()
    return Gateway(config, store, inspector, proxy, origin, clock)


def default_policy_text() -> str:
    """The shipped ``policies/default.yaml``, with its directory of people by absolute path."""
    from policies import default_policy_path

    path = default_policy_path()
    text = path.read_text(encoding="utf-8")
    return text.replace(
        "directory: examples/directory.csv", f"directory: {path.parent / 'examples/directory.csv'}"
    )


#: The password of the test account ``taro@example.co.jp`` (``accounts=True``).
PASSWORD = "correct horse battery 関守"


def test_accounts(config: Config) -> Accounts:
    """The UI's accounts in the gateway's store folder, with ``taro@example.co.jp``."""
    ui = ui_config(config, secure_cookies=False)
    ui.hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    accounts = Accounts(Database(ui.db_path), ui)
    accounts.add_user("taro@example.co.jp", "山田 太郎", ["sender"])
    accounts.set_password("taro@example.co.jp", PASSWORD)
    return accounts


@pytest.fixture(scope="session")
def origin_certs(tmp_path_factory: pytest.TempPathFactory) -> OriginCerts:
    return OriginCerts.make(tmp_path_factory.mktemp("origin"))


@pytest.fixture
async def origin(origin_certs: OriginCerts) -> AsyncIterator[FakeOrigin]:
    o = FakeOrigin(origin_certs)
    await o.start()
    yield o
    await o.stop()


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateway_factory(tmp_path: Path, origin: FakeOrigin) -> AsyncIterator[GatewayFactory]:
    started: list[Gateway] = []

    async def make(
        *,
        proxy_extra: str = "",
        top_extra: str = "",
        rules: str = "",
        store_url: str | None = None,
        prefix: str | None = None,
        accounts: bool = False,
        policy_text: str = UPLOAD_POLICY,
        clocked_store: bool = False,
        **kw: Any,
    ) -> Gateway:
        cfg = load_config(
            write_config(
                tmp_path,
                origin,
                store_url=store_url,
                proxy_extra=proxy_extra,
                top_extra=top_extra,
                rules=rules,
                policy_text=policy_text,
            )
        )
        if accounts:
            kw["accounts"] = test_accounts(cfg)
        store: Store | None = None
        if store_url is not None:
            store = await RedisStore.open(store_url, prefix=prefix or f"proxy-{secrets.token_hex(6)}:")
        if clocked_store:  # the store keeps the test's time too (approval validity, timers)
            kw["clock"] = clock = kw.get("clock") or Clock()
            if store is not None:
                await store.close()
            store = (
                await RedisStore.open(
                    store_url, prefix=prefix or f"proxy-{secrets.token_hex(6)}:", clock=clock
                )
                if store_url is not None
                else await open_store(cfg.store, clock=clock)
            )
        gw = await start_gateway(cfg, origin, store=store, **kw)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        await gw.stop()


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return await gateway_factory()
