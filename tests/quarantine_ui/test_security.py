from __future__ import annotations

import re

import pytest

from quarantine_ui.config import parse_networks
from quarantine_ui.security import client_ip, safe_next

REFUSED = [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "http://evil.example/",
    "HTTPS://evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "",
    "/" + "a" * 5000,
]
ALLOWED = ["/", "/queue", "/queue?id=3&lang=en", "/messages/abc%20def", "/a/b/c#frag"]


@pytest.mark.parametrize("target", REFUSED)
def test_open_redirects_are_refused(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ALLOWED)
def test_same_site_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target


def test_none_gives_default() -> None:
    assert safe_next(None, "/home") == "/home"


def _scope(peer: str, xff: list[str]) -> dict[str, object]:
    return {"client": (peer, 1234), "headers": [(b"x-forwarded-for", v.encode()) for v in xff]}


def test_client_ip_trusts_forwarded_for_only_from_proxies() -> None:
    proxies = parse_networks(["10.0.0.0/8", "::1"])
    assert client_ip(_scope("10.1.2.3", ["198.51.100.1, 203.0.113.9"]), proxies) == "203.0.113.9"
    assert client_ip(_scope("::1", ["2001:db8::5"]), proxies) == "2001:db8::5"
    assert client_ip(_scope("192.0.2.4", ["203.0.113.9"]), proxies) == "192.0.2.4"
    assert client_ip(_scope("10.1.2.3", ["not-an-ip"]), proxies) == "10.1.2.3"
    assert client_ip(_scope("10.1.2.3", []), proxies) == "10.1.2.3"
    assert client_ip(_scope("10.1.2.3", ["203.0.113.9"]), ()) == "10.1.2.3"


def test_parse_networks_names_the_bad_value() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300'")):
        parse_networks(["10.0.0.1", "10.0.0.300"])
