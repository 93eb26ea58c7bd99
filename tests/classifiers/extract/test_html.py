from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.extract.html import html_to_text
from classifiers.limits import Deadline


@pytest.mark.parametrize(
    ("html", "present", "absent"),
    [
        ("<script>var secret=1</script><p>本文</p>", ["本文"], ["secret"]),
        ("<style>.x{color:red}</style><div>表示</div>", ["表示"], ["color"]),
        ("<head><title>件名タイトル</title><meta name=x></head><body>b</body>", ["件名タイトル", "b"], []),
        ('<a href="https://www.dropbox.com/s/abc/x.xlsx?dl=0">リンク</a>', ["リンク <https://www.dropbox.com/s/abc/x.xlsx?dl=0>"], []),
        ('<a href="#top">上へ</a><a href="javascript:void(0)">x</a>', ["上へ"], ["#top", "javascript"]),
        ("<table><tr><td>山田</td><td>03-1234-5678</td></tr></table>", ["山田\t03-1234-5678"], []),
        ("<table>\n<tr>\n <th>氏名</th>\n <th>電話</th>\n</tr>\n<tr>\n <td>山田</td>\n <td>03</td>\n</tr>\n</table>",
         ["\n氏名\t電話\n山田\t03\n"], ["\n\n", "\t氏名"]),
        ("<table><tr><td><p>本文</p>山田 太郎<br>TEL 03-1234-5678</td></tr></table>",  # layout table
         ["\n本文\n山田 太郎\nTEL 03-1234-5678\n"], []),
        ("<table><tr><td><p>氏名</p></td><td>生年月日</td></tr><tr><td>山田<br>太郎</td><td>1985-04-12</td></tr></table>",
         ["\n氏名\t生年月日\n山田 太郎\t1985-04-12\n"], []),
        ('<a href="https://1drv.ms/x/s!abc">https://1drv.ms/x/s!abc</a>', ["https://1drv.ms/x/s!abc"], ["<https://"]),
        ("&lt;tag&gt; &amp; &#x3042;", ["<tag> & あ"], []),
        ('<img src="x.png" alt="社外秘スタンプ">', ["社外秘スタンプ"], ["x.png"]),
        ("<p>unclosed <b>bold <script>hidden", ["unclosed", "bold"], ["hidden"]),
    ],
)  # fmt: skip
def test_html_to_text(html, present, absent):
    text, cut = html_to_text(html, 10_000)
    assert cut is None
    for s in present:
        assert s in text
    for s in absent:
        assert s not in text


def test_output_is_capped():
    text, cut = html_to_text("<p>" + "あ" * 500_000 + "</p>", 1000)
    assert cut == "text_bytes"
    assert len(text) == 1000


def test_deadline_stops_the_parser():
    text, cut = html_to_text("<p>x</p>" * 100_000, 10**9, Deadline(0))
    assert cut == "time"
    assert text == ""


@pytest.mark.parametrize(
    "html",
    [
        '<?xml version="1.0" encoding="Shift_JIS"?><html><body>本文</body></html>',
        "\x00本文\x01\ud800",
        "",
        "<",
    ],
)
def test_odd_documents(html):
    text, _ = html_to_text(html, 1000)
    assert text.strip() in ("本文", "", "<")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_never_raises(html):
    text, _ = html_to_text(html, 1000)
    assert len(text) <= 1000
