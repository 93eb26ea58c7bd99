from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.extract.html import html_extract, html_to_text
from classifiers.limits import Deadline


@pytest.mark.parametrize(
    ("html", "present", "absent"),
    [
        ("<script>var secret=1</script><p>本文</p>", ["本文", "secret"], []),
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
        ("<p>unclosed <b>bold <script>hidden", ["unclosed", "bold", "hidden"], []),
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


#: Where a recipient's client can show text (issue 10): each must reach the detectors.
SHOWN = "マイナンバー 1234 5678 9018"


@pytest.mark.parametrize(
    "html",
    [
        "<svg><text x='0' y='10'>{}</text></svg>",
        "<svg><title>{}</title><desc>d</desc></svg>",
        "<object data='x.swf' type='application/x-shockwave-flash'><p>{}</p></object>",
        "<!--[if mso]><table><tr><td>{}</td></tr></table><![endif]-->",
        "<!--[if gte mso 9]><xml><o:p>{}</o:p></xml><![endif]-->",
        "<!-- {} -->",
        "<template><p>{}</p></template>",
        "<noscript>{}</noscript>",
        "<noembed>{}</noembed><noframes>{}</noframes>",
        "<img src='x.png' alt='{}'>",
        "<p title='{}'>x</p>",
        "<span aria-label='{}'></span>",
        "<input type='hidden' value='{}'><input placeholder='{}'>",
        "<div style='display:none'>{}</div>",
        "<span style='font-size:0;color:#fff'>{}</span>",
        "<style>p::before {{ content: '{}' }}</style><p>x</p>",
        '<style>p::after {{ content: "\\30DE\\30A4\\30CA\\30F3\\30D0\\30FC  1234 5678 9018" }}</style>',
        "<script>document.write('{}')</script>",
        "<iframe srcdoc='&lt;p&gt;{}&lt;/p&gt;'></iframe>",
        "<textarea>{}</textarea><select><option>{}</option></select>",
        "<math><mi>{}</mi></math>",
    ],
)
def test_every_text_a_client_could_show_is_extracted(html):
    text, cut = html_to_text("<html><body>" + html.format(SHOWN, SHOWN) + "</body></html>", 100_000)
    assert cut is None
    assert "1234 5678 9018" in text and "マイナンバー" in text


def test_data_urls_come_back_as_embedded_files():
    found = html_extract(
        "<img src='data:image/png;base64,iVBORw0KGgo='>"
        "<a href='data:text/plain;charset=utf-8,%E3%83%9E%E3%82%A4'>x</a>",
        1000,
    )
    assert found.embedded == [("image/png", b"\x89PNG\r\n\x1a\n"), ("text/plain", "マイ".encode())]
    assert "data:" not in found.text
