"""Host patterns are matched whole, never as substrings (mitmproxy's own host options are
unanchored regular expressions)."""

from __future__ import annotations

import re

import pytest

from gateway.proxy.hosts import HostPattern


@pytest.mark.parametrize(
    ("pattern", "host", "port", "matches"),
    [
        ("upload.box.com", "upload.box.com", 443, True),
        ("upload.box.com", "UPLOAD.BOX.COM.", 443, True),
        ("upload.box.com", "upload.box.com.evil.example", 443, False),
        ("upload.box.com", "evilupload.box.com", 443, False),
        ("*.sharepoint.com", "contoso.sharepoint.com", 443, True),
        ("*.sharepoint.com", "a.b.sharepoint.com", 443, True),
        ("*.sharepoint.com", "sharepoint.com", 443, False),
        ("*.sharepoint.com", "evilsharepoint.com", 443, False),
        ("127.0.0.1:8443", "127.0.0.1", 8443, True),
        ("127.0.0.1:8443", "127.0.0.1", 443, False),
        ("[::1]:443", "::1", 443, True),
    ],
)
def test_matches_and_regex_agree(pattern: str, host: str, port: int, matches: bool) -> None:
    p = HostPattern.parse(pattern)
    assert p.matches(host, port) is matches
    name = host.lower().rstrip(".")
    assert bool(re.search(p.regex, f"{name}:{port}", re.IGNORECASE)) is matches


@pytest.mark.parametrize("bad", ["http://x", "a..b", "*", "*.", "x:99999", "a b", "x:y", "-a.example"])
def test_bad_patterns(bad: str) -> None:
    with pytest.raises(ValueError, match="not a host pattern"):
        HostPattern.parse(bad)
