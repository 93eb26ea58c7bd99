"""Which TLS connections the proxy decrypts (mitmproxy addon): only those to the hosts the
services, rules and tenant restrictions need, never those to ``proxy.bypass``; every other
connection is a plain tunnel, and its client sees the origin's own certificate.

The decision is taken on the ClientHello (``tls_clienthello``), from the CONNECT target and the
SNI: decrypted if one of them is a needed host and none is bypassed (the rule mitmproxy applies
to ``allow_hosts``/``ignore_hosts``). mitmproxy's own options are not used: with them set,
``next_layer`` looks for an HTTP ``Host`` header in the first bytes of a tunnel whenever the
client negotiated HTTP/1.1 with the proxy, which a client talking TLS to the proxy always has,
and waits for ever on the TLS record that comes instead (``addons/next_layer.py``,
``_get_host_header``). The proxy's own TLS (clients reaching the proxy over HTTPS) is told
apart by having no destination yet.

A client that rejects the proxy's certificate for a decrypted host usually pins its
certificates: ``tls_failed_client`` says so in the log, naming the host to bypass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from mitmproxy import tls

from gateway.proxy.hosts import HostPattern, any_match

log = logging.getLogger("sekimori.proxy")


class Interception:
    """mitmproxy addon: decrypt the needed hosts, tunnel everything else."""

    def __init__(self, decrypt: Sequence[HostPattern], bypass: Sequence[HostPattern]) -> None:
        self.decrypt = tuple(decrypt)
        self.bypass = tuple(bypass)

    def wanted(self, names: Sequence[tuple[str, int]]) -> bool:
        """Whether a connection known by these ``(host, port)`` names is decrypted.

        >>> i = Interception([HostPattern.parse("*.box.com")], [HostPattern.parse("app.box.com")])
        >>> i.wanted([("upload.box.com", 443)]), i.wanted([("app.box.com", 443)]), i.wanted([("x.org", 443)])
        (True, False, False)
        """
        if any(any_match(self.bypass, host, port) for host, port in names):
            return False
        return any(any_match(self.decrypt, host, port) for host, port in names)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        server = data.context.server
        if server.address is None:
            return  # TLS to the proxy itself (an HTTPS proxy): always terminated here
        host, port = str(server.address[0]), int(server.address[1])
        names = [(host, port)]
        if data.client_hello.sni:
            names.append((data.client_hello.sni, port))
        if not self.wanted(names):
            data.ignore_connection = True

    def tls_failed_client(self, data: tls.TlsData) -> None:
        sni = data.conn.sni or "?"
        log.warning(
            "TLS with the client failed for %s (%s): a client that pins its certificates needs %s in proxy.bypass",
            sni,
            data.conn.error or "no reason given",
            sni,
        )


__all__ = ["Interception"]
