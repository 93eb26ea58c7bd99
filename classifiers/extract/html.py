"""HTML to text with the standard library's parser: scripts and styles dropped, link targets kept.

Share links often sit only in ``href`` (the visible text says "こちら"), so each link's target is
written after its text.

>>> html_to_text('<p>資料は<a href="https://example.com/s/abc">こちら</a></p><script>x=1</script>', 1000)
('\\n資料はこちら <https://example.com/s/abc>\\n', False)
"""

from __future__ import annotations

from html.parser import HTMLParser

_DROP = frozenset({"script", "style", "template", "head", "object", "svg"})
_KEEP_IN_HEAD = frozenset({"title"})
_BLOCK = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt", "dd",
     "blockquote", "pre", "hr", "section", "article", "header", "footer", "title", "address"}
)  # fmt: skip
_CELL = frozenset({"td", "th"})
_VOID = frozenset(
    {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "wbr"}
)
#: The parser is fed in slices so that it stops soon after the output cap is reached.
FEED_CHARS = 64 * 1024


class _Text(HTMLParser):
    def __init__(self, cap: int) -> None:
        super().__init__(convert_charrefs=True)
        self.cap = cap
        self.out: list[str] = []
        self.size = 0
        self.drop = 0  # depth inside dropped elements
        self.keep = 0  # depth inside kept elements of a dropped one (<title> in <head>)
        self.hrefs: list[str | None] = []

    @property
    def full(self) -> bool:
        return self.size >= self.cap

    def _emit(self, s: str) -> None:
        if not self.full and s:
            self.out.append(s)
            self.size += len(s)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP:
            if tag not in _VOID:
                self.drop += 1
            return
        if self.drop and tag in _KEEP_IN_HEAD:
            self.keep += 1
        if self.drop and not self.keep:
            return
        if tag in _BLOCK:
            self._emit("\n")
        elif tag in _CELL:
            self._emit("\t")
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._emit(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self.drop = max(0, self.drop - 1)
            return
        if tag in _KEEP_IN_HEAD and self.keep:
            self.keep -= 1
            self._emit("\n")
            return
        if self.drop and not self.keep:
            return
        if tag == "a" and self.hrefs:
            href = self.hrefs.pop()
            if href and not href.startswith(("#", "javascript:")):
                self._emit(f" <{href.strip()}>")
        elif tag in _BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if not self.drop or self.keep:
            self._emit(data)


def html_to_text(html: str, cap: int) -> tuple[str, bool]:
    """The visible text (plus link targets) of ``html``, at most ``cap`` characters; and whether cut."""
    parser = _Text(cap)
    for start in range(0, len(html), FEED_CHARS):
        if parser.full:
            break
        parser.feed(html[start : start + FEED_CHARS])
    if not parser.full:
        parser.close()
    text = "".join(parser.out)
    return text[:cap], parser.full and len(html) > 0
