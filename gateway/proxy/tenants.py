"""Tenant restriction: the providers' own headers, so that users can sign in only to the
organisation's tenants (mitmproxy addon). Every header is set by the gateway and replaces any
copy the client sent (a forged ``Restrict-Access-To-Tenants`` would otherwise let a personal
tenant in).

=============================================  =======================================  ==========================================
header                                         value                                    hosts
=============================================  =======================================  ==========================================
``Restrict-Access-To-Tenants``                 tenant domains or directory IDs          ``login.microsoftonline.com``,
``Restrict-Access-Context``                    your directory ID                        ``login.microsoft.com``, ``login.windows.net``
``sec-Restrict-Tenant-Access-Policy``          ``restrict-msa`` (no personal accounts)  ``login.live.com``
``sec-Restrict-Tenant-Access-Policy`` (v2)     ``<tenant id>:<policy id>``              the four Microsoft login hosts above
``X-GoogApps-Allowed-Domains``                 Workspace domains                        ``google.com`` and ``*.google.com``
``X-Dropbox-allowed-Team-Ids``                 team IDs                                 ``dropbox.com``, ``*.dropbox.com``,
                                                                                        ``*.dropboxapi.com``
``X-Slack-Allowed-Workspaces-Requester``       your workspace or organisation ID        ``slack.com``, ``*.slack.com``
``X-Slack-Allowed-Workspaces``                 allowed workspace / organisation IDs
=============================================  =======================================  ==========================================

Sources: Microsoft Entra ``tenant-restrictions.md`` and ``tenant-restrictions-v2.md``; Google
Workspace Admin help 1668854; Palo Alto PAN-OS HTTP header insertion (Dropbox); Slack help
360024821873. These hosts are decrypted (the headers go inside TLS); TRv1 must not be sent to
``device.login.microsoftonline.com``, which is not in the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mitmproxy import http

from gateway.config import TenantRestrictionsConfig
from gateway.proxy.failsafe import fail_closed
from gateway.proxy.hosts import HostPattern, any_match

MS_LOGIN = ("login.microsoftonline.com", "login.microsoft.com", "login.windows.net")
MS_CONSUMER = "login.live.com"


@dataclass(frozen=True)
class Injection:
    """Headers set on requests to some hosts."""

    provider: str
    hosts: tuple[HostPattern, ...]
    headers: tuple[tuple[str, str], ...]


def injections(config: TenantRestrictionsConfig) -> list[Injection]:
    """What the configuration asks for, host by host.

    >>> from gateway.config import TenantRestrictionsConfig
    >>> cfg = TenantRestrictionsConfig.model_validate({"slack": {"requester": "T1", "workspaces": ["T1", "T2"]}})
    >>> [(i.provider, i.headers) for i in injections(cfg)]
    [('slack', (('X-Slack-Allowed-Workspaces-Requester', 'T1'), ('X-Slack-Allowed-Workspaces', 'T1,T2')))]
    """
    out: list[Injection] = []

    def add(provider: str, patterns: Sequence[str], headers: Sequence[tuple[str, str]]) -> None:
        out.append(Injection(provider, tuple(HostPattern.parse(p) for p in patterns), tuple(headers)))

    ms = config.microsoft
    if ms is not None:
        if ms.v2_policy is not None:
            add("microsoft", (*MS_LOGIN, MS_CONSUMER), [("sec-Restrict-Tenant-Access-Policy", ms.v2_policy)])
        elif ms.block_consumer:
            add("microsoft", (MS_CONSUMER,), [("sec-Restrict-Tenant-Access-Policy", "restrict-msa")])
        if ms.tenants and ms.context:
            add(
                "microsoft",
                MS_LOGIN,
                [
                    ("Restrict-Access-To-Tenants", ",".join(ms.tenants)),
                    ("Restrict-Access-Context", ms.context),
                ],
            )
    if config.google is not None:
        add(
            "google",
            ("google.com", "*.google.com"),
            [("X-GoogApps-Allowed-Domains", ",".join(config.google.domains))],
        )
    if config.dropbox is not None:
        add(
            "dropbox",
            ("dropbox.com", "*.dropbox.com", "*.dropboxapi.com"),
            [("X-Dropbox-allowed-Team-Ids", ",".join(config.dropbox.team_ids))],
        )
    if config.slack is not None:
        add(
            "slack",
            ("slack.com", "*.slack.com"),
            [
                ("X-Slack-Allowed-Workspaces-Requester", config.slack.requester),
                ("X-Slack-Allowed-Workspaces", ",".join(config.slack.workspaces)),
            ],
        )
    return out


class TenantHeaders:
    """mitmproxy addon: set the configured tenant-restriction headers, replacing the client's."""

    def __init__(self, config: TenantRestrictionsConfig) -> None:
        self.injections = injections(config)
        self.names = frozenset(name.lower() for i in self.injections for name, _ in i.headers)

    @property
    def hosts(self) -> tuple[HostPattern, ...]:
        """Hosts that must be decrypted so that the headers can be set."""
        return tuple(dict.fromkeys(h for i in self.injections for h in i.hosts))

    @fail_closed
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or not self.injections:
            return
        host, port = flow.request.host, flow.request.port
        for injection in self.injections:
            if any_match(injection.hosts, host, port):
                for name, value in injection.headers:
                    flow.request.headers.pop(name, None)  # every copy, whatever its case
                    flow.request.headers[name] = value


__all__ = ["Injection", "TenantHeaders", "injections"]
