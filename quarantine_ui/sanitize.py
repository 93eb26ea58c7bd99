"""Render hostile mail HTML inert with nh3 (ammonia) and a strict allow-list.

Kept: text structure (paragraphs, lists, tables, emphasis, headings) and links to http(s) and
mailto only, which get ``rel="noopener noreferrer nofollow"``. Dropped: scripts, styles, every
event handler and ``style`` attribute (so no CSS expressions), forms, frames, and image sources — a
remote image would tell the sender the mail was read (the CSP forbids them too); an ``<img>``
keeps only its alt text and size, so nothing is ever fetched.
"""

from __future__ import annotations

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small",
        "img", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": frozenset({"href", "title"}),
    "abbr": frozenset({"title"}),
    # No src, srcset or longdesc: an image keeps its alt text and size but never loads.
    "img": frozenset({"alt", "title", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
#: Elements removed together with their content (not only their tags).
DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "iframe", "object", "embed", "noscript", "title"}
)


def sanitize_html(html: str) -> str:
    """Return mail HTML with only inert markup left.

    >>> sanitize_html('<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x">y</a></p>')
    '<p>Hi <a rel="noopener noreferrer nofollow">y</a></p>'
    >>> sanitize_html('<img src="https://tracker.example/p.gif" alt="logo">')
    '<img alt="logo">'
    """
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
