"""Host patterns: which hosts a service, a rule, a bypass entry or a tenant header applies to.

A pattern is a host name (``upload.box.com``), a host name with a leading ``*.`` for any
subdomain at any depth (``*.sharepoint.com``, which does not match ``sharepoint.com`` itself),
or an IP address; ``:port`` narrows it to one port. Matching ignores case and a trailing dot.

mitmproxy's ``allow_hosts``/``ignore_hosts`` are unanchored regular expressions searched in
``host:port`` strings (``addons/next_layer.py``); :meth:`HostPattern.regex` is the anchored
expression for one pattern, so ``box.com`` never matches ``box.com.evil.example``.

>>> p = HostPattern.parse("*.box.com")
>>> p.matches("upload.box.com"), p.matches("a.b.box.com"), p.matches("box.com"), p.matches("xbox.com")
(True, True, False, False)
>>> import re
>>> [bool(re.search(p.regex, h)) for h in ("upload.box.com:443", "upload.box.com.evil.example:443")]
[True, False]
>>> HostPattern.parse("127.0.0.1:8443").matches("127.0.0.1", 8443)
True
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})*$")


@dataclass(frozen=True)
class HostPattern:
    """One host pattern; build it with :meth:`parse`."""

    host: str
    wildcard: bool = False
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """Parse ``name``, ``*.name``, an IP address, each optionally with ``:port``.

        >>> HostPattern.parse("Login.MicrosoftOnline.com.")
        HostPattern(host='login.microsoftonline.com', wildcard=False, port=None)
        >>> HostPattern.parse("http://x")
        Traceback (most recent call last):
        ...
        ValueError: not a host pattern: 'http://x' (use e.g. upload.box.com, *.box.com, 10.0.0.5:8443)
        """
        value = text.strip().lower()
        port: int | None = None
        if value.startswith("["):  # [v6]:port
            addr, _, rest = value[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
            elif rest:
                raise ValueError(_bad(text))
            value = addr
        elif value.count(":") == 1:
            value, _, port_text = value.partition(":")
            if not port_text.isdigit():
                raise ValueError(_bad(text))
            port = int(port_text)
        if port is not None and not 0 < port < 65536:
            raise ValueError(_bad(text))
        value = value.rstrip(".")
        try:
            return cls(str(ipaddress.ip_address(value)), False, port)
        except ValueError:
            pass
        if not _NAME.match(value) or len(value) > 253:
            raise ValueError(_bad(text))
        if value.startswith("*."):
            return cls(value[2:], True, port)
        return cls(value, False, port)

    def matches(self, host: str, port: int | None = None) -> bool:
        """Whether ``host`` (and ``port``, when the pattern names one) is covered."""
        if self.port is not None and port is not None and port != self.port:
            return False
        name = host.lower().rstrip(".")
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if self.wildcard:
            return name.endswith("." + self.host)
        return name == self.host

    @property
    def regex(self) -> str:
        """An anchored expression over mitmproxy's ``host:port`` strings."""
        host = re.escape(self.host)
        if ":" in self.host:  # IPv6 literals appear with or without brackets
            host = rf"\[?{host}\]?"
        prefix = r"(?:[^.:/\s]+\.)+" if self.wildcard else ""
        port = str(self.port) if self.port is not None else r"\d+"
        return rf"^{prefix}{host}:{port}$"

    def __str__(self) -> str:
        text = ("*." if self.wildcard else "") + (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{text}:{self.port}" if self.port is not None else text


def _bad(text: str) -> str:
    return f"not a host pattern: {text!r} (use e.g. upload.box.com, *.box.com, 10.0.0.5:8443)"


def any_match(patterns: Iterable[HostPattern], host: str, port: int | None = None) -> bool:
    """Whether one of ``patterns`` covers ``host``.

    >>> any_match([HostPattern.parse("a.example"), HostPattern.parse("*.b.example")], "x.b.example")
    True
    """
    return any(p.matches(host, port) for p in patterns)


__all__ = ["HostPattern", "any_match"]
