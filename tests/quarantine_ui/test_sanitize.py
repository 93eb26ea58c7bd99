from __future__ import annotations

import pytest

from quarantine_ui.sanitize import sanitize_html

# (hostile input, text that must not survive in the output)
HOSTILE = [
    ("<script>alert(1)</script>hello", "<script"),
    ("<script>alert(1)</script>hello", "alert(1)"),
    ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>", "evil.example"),
    ("<svg><script>alert(1)</script></svg>", "alert"),
    ('<a href="javascript:alert(1)">x</a>', "javascript"),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert"),
    ('<a href="java&#x09;script:alert(1)">x</a>', "alert"),
    ('<a href="vbscript:msgbox(1)">x</a>', "vbscript"),
    ('<a href="data:text/html,<script>alert(1)</script>">x</a>', "data:"),
    ("<img src=x onerror=alert(1)>", "onerror"),
    ('<p onclick="steal()">p</p>', "steal"),
    ('<body onload="steal()">b</body>', "onload"),
    ('<img src="https://tracker.example/pixel.gif" alt="logo">', "tracker.example"),
    ('<img srcset="https://tracker.example/a.png 1x">', "tracker.example"),
    ('<table background="https://tracker.example/bg.png"><tr><td>1</td></tr></table>', "tracker.example"),
    ('<div style="width: expression(alert(1))">x</div>', "expression"),
    ('<div style="background:url(https://tracker.example/a)">x</div>', "tracker.example"),
    ("<style>@import url(https://tracker.example/a.css); p{color:red}</style>text", "tracker.example"),
    ('<link rel="stylesheet" href="https://tracker.example/a.css">', "tracker.example"),
    ('<iframe src="https://evil.example/"></iframe>', "evil.example"),
    ('<object data="https://evil.example/x.swf"></object>', "evil.example"),
    ('<form action="https://evil.example/"><input name="pw"></form>', "evil.example"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.example/">', "evil.example"),
    ('<base href="https://evil.example/">', "evil.example"),
    ("<!--[if IE]><script>alert(1)</script><![endif]-->", "alert"),
    ("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>", "onerror"),
]


@pytest.mark.parametrize(("html", "forbidden"), HOSTILE)
def test_hostile_markup_is_removed(html: str, forbidden: str) -> None:
    assert forbidden.lower() not in sanitize_html(html).lower()


# (input, exact output): structure that mail legitimately uses survives
KEPT = [
    ("<p>本日の<b>会議</b>資料です。</p>", "<p>本日の<b>会議</b>資料です。</p>"),
    (
        '<a href="https://intra.example.co.jp/doc">資料</a>',
        '<a href="https://intra.example.co.jp/doc" rel="noopener noreferrer nofollow">資料</a>',
    ),
    (
        '<a href="mailto:taro@example.jp">mail</a>',
        '<a href="mailto:taro@example.jp" rel="noopener noreferrer nofollow">mail</a>',
    ),
    ("<ul><li>一</li><li>二</li></ul>", "<ul><li>一</li><li>二</li></ul>"),
    (
        '<table><tr><td colspan="2">x</td></tr></table>',
        '<table><tbody><tr><td colspan="2">x</td></tr></tbody></table>',
    ),
    ('<img src="cid:logo@x" alt="ロゴ">', '<img alt="ロゴ">'),
    ("a &lt; b &amp; c", "a &lt; b &amp; c"),
    ("<p>unclosed", "<p>unclosed</p>"),
]


@pytest.mark.parametrize(("html", "expected"), KEPT)
def test_harmless_structure_is_kept(html: str, expected: str) -> None:
    assert sanitize_html(html) == expected


def test_attribute_values_are_escaped() -> None:
    out = sanitize_html('<img alt="&quot;><script>alert(1)</script>">')
    assert "<script" not in out
    assert out.startswith("<img alt=")


def test_large_input_is_handled() -> None:
    html = "<div>" * 10_000 + "x" + "</div>" * 10_000
    assert "x" in sanitize_html(html)
