"""Tenant restriction: each provider's header is set on its login hosts, replacing a copy the
client forged; hosts outside a provider's list get nothing."""

from __future__ import annotations

from gateway.config import TenantRestrictionsConfig
from gateway.proxy.tenants import injections
from tests.gateway.proxy.conftest import GatewayFactory

TENANTS = """\
  tenant_restrictions:
    microsoft:
      tenants: [example.co.jp, example.onmicrosoft.com]
      context: 11111111-2222-3333-4444-555555555555
      block_consumer: true
    google: {domains: [example.co.jp]}
    dropbox: {team_ids: ["dbtid:AAA", "dbtid:BBB"]}
    slack: {requester: T0001, workspaces: [T0001, E0002]}
"""


async def test_headers_are_injected_and_forged_copies_replaced(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory(proxy_extra=TENANTS)
    forged = {
        "Restrict-Access-To-Tenants": "personal.onmicrosoft.com",
        "restrict-access-context": "99999999-0000-0000-0000-000000000000",
        "X-GoogApps-Allowed-Domains": "gmail.com",
        "X-Dropbox-allowed-Team-Ids": "dbtid:EVIL",
        "X-Slack-Allowed-Workspaces": "TEVIL",
    }
    async with gateway.client() as c:
        for host in (
            "login.microsoftonline.com",
            "login.live.com",
            "accounts.google.com",
            "www.dropbox.com",
            "app.slack.com",
            "www.example.org",
        ):
            await c.get(f"https://{host}/", headers=forged)
    seen = {s.host: s.headers for s in gateway.origin.received}
    for got in gateway.origin.received:
        for name in forged:  # one copy of each header: the gateway's replaced the client's
            assert len(got.values(name)) == 1, (got.host, name)
    ms = seen["login.microsoftonline.com"]
    assert ms["restrict-access-to-tenants"] == "example.co.jp,example.onmicrosoft.com"
    assert ms["restrict-access-context"] == "11111111-2222-3333-4444-555555555555"
    assert seen["login.live.com"]["sec-restrict-tenant-access-policy"] == "restrict-msa"
    assert seen["accounts.google.com"]["x-googapps-allowed-domains"] == "example.co.jp"
    assert seen["www.dropbox.com"]["x-dropbox-allowed-team-ids"] == "dbtid:AAA,dbtid:BBB"
    assert seen["app.slack.com"]["x-slack-allowed-workspaces"] == "T0001,E0002"
    assert seen["app.slack.com"]["x-slack-allowed-workspaces-requester"] == "T0001"
    # a host of no provider keeps what the client sent (it is not even decrypted)
    assert seen["www.example.org"]["restrict-access-to-tenants"] == "personal.onmicrosoft.com"


V2_POLICY = "72f988bf-86f1-41af-91ab-2d7cd011db47:7e4c2e0f-1111-2222-3333-444455556666"


async def test_tenant_restrictions_v2_replace_a_forged_policy_on_every_login_host(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = await gateway_factory(
        proxy_extra=f"  tenant_restrictions:\n    microsoft: {{v2_policy: '{V2_POLICY}', block_consumer: true}}\n"
    )
    forged = {"sec-Restrict-Tenant-Access-Policy": "00000000-0000-0000-0000-000000000000:evil"}
    async with gateway.client() as c:
        for host in ("login.microsoftonline.com", "login.live.com"):
            await c.post(f"https://{host}/common/oauth2/v2.0/token", headers=forged, data={"a": "b"})
    seen = {s.host: s.headers for s in gateway.origin.received}
    for host in ("login.microsoftonline.com", "login.live.com"):
        # v2 takes the place of restrict-msa on login.live.com: one header, the configured policy
        assert seen[host]["sec-restrict-tenant-access-policy"] == V2_POLICY, host
        got = next(s for s in gateway.origin.received if s.host == host)
        assert got.values("sec-Restrict-Tenant-Access-Policy") == [V2_POLICY]  # the forged copy is gone
        assert "restrict-access-to-tenants" not in seen[host]


def test_tenant_restrictions_v2_go_to_every_microsoft_login_host() -> None:
    policy = "72f988bf-86f1-41af-91ab-2d7cd011db47:7e4c2e0f-1111-2222-3333-444455556666"
    found = injections(TenantRestrictionsConfig.model_validate({"microsoft": {"v2_policy": policy}}))
    assert len(found) == 1
    assert {str(h) for h in found[0].hosts} == {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.live.com",
    }
    assert found[0].headers == (("sec-Restrict-Tenant-Access-Policy", policy),)
