"""The proxy auto-configuration file (PAC) the quarantine UI serves at ``/proxy.pac``.

Browsers call ``FindProxyForURL(url, host)``; for ``https://`` URLs they pass the host only (the
path and query are stripped), so routing is by host. The file sends the hosts of the enabled
services, the configured rules and the tenant-restriction login hosts through Sekimori, and
everything else ``DIRECT`` (or, with ``proxy.pac.all_traffic``, everything through Sekimori).
A ``DIRECT`` path is a way around the gateway unless the firewall blocks direct egress to the
services (README, "Deploying the upload gate").
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from gateway.config import ProxyConfig
from gateway.proxy.hosts import HostPattern
from gateway.proxy.services import Catalog
from gateway.proxy.tenants import TenantHeaders

CONTENT_TYPE = "application/x-ns-proxy-autoconfig"


def routed_hosts(config: ProxyConfig) -> list[HostPattern]:
    """The hosts the PAC file sends through the proxy (bypassed hosts too: they are tunnelled)."""
    found = [*Catalog.from_config(config).hosts, *TenantHeaders(config.tenant_restrictions).hosts]
    return list(dict.fromkeys(found))


def pac_file(config: ProxyConfig) -> str:
    """The PAC file's text.

    >>> from gateway.config import ProxyConfig
    >>> text = pac_file(ProxyConfig(services=["box"], public_address="gw.example.co.jp:3128"))
    >>> '"upload.box.com"' in text, '".app.box.com"' in text, 'return "PROXY gw.example.co.jp:3128"' in text
    (True, True, True)
    """
    target = ("HTTPS " if config.pac.https else "PROXY ") + config.address
    if config.pac.all_traffic:
        return f'function FindProxyForURL(url, host) {{\n  return "{target}";\n}}\n'
    patterns = routed_hosts(config)
    exact = sorted({p.host for p in patterns if not p.wildcard})
    suffixes = sorted({"." + p.host for p in patterns if p.wildcard})
    return (
        "// Sekimori (関守) upload gate: cloud services go through the gateway.\n"
        "function FindProxyForURL(url, host) {\n"
        '  host = host.toLowerCase().replace(/\\.$/, "");\n'
        f"  var exact = {_js(exact)};\n"
        f"  var suffixes = {_js(suffixes)};\n"
        "  for (var i = 0; i < exact.length; i++) {\n"
        f'    if (host === exact[i]) return "{target}";\n'
        "  }\n"
        "  for (var j = 0; j < suffixes.length; j++) {\n"
        f'    if (dnsDomainIs(host, suffixes[j])) return "{target}";\n'
        "  }\n"
        '  return "DIRECT";\n'
        "}\n"
    )


def _js(values: Iterable[str]) -> str:
    return json.dumps(list(values))


__all__ = ["CONTENT_TYPE", "pac_file", "routed_hosts"]
