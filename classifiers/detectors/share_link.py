"""Cloud share link (共有リンク).

A URL that opens a shared file or folder on Box, Google Drive/Docs, OneDrive, SharePoint or
Dropbox, in the forms those services document for their share links:

- Box: ``https://app.box.com/s/<id>`` and custom domains ``https://<tenant>.box.com/s/<id>``
  (also ``/v/<name>`` vanity links);
- Google: ``https://drive.google.com/file/d/<id>/view``, ``/drive/folders/<id>``,
  ``/open?id=<id>``; ``https://docs.google.com/{document,spreadsheets,presentation,forms}/d/<id>``;
- OneDrive: ``https://1drv.ms/<type>/s!<id>`` (and the newer ``/<type>/c/...``), and
  ``https://onedrive.live.com/?...`` with ``redeem=``, ``resid=`` or ``cid=``;
- SharePoint / OneDrive for Business: ``https://<tenant>.sharepoint.com/:<t>:/<r|s|g>/...``
  (``:w:`` Word, ``:x:`` Excel, ``:p:`` PowerPoint, ``:b:`` PDF, ``:f:`` folder, ``:u:``...),
  also on ``<tenant>-my.sharepoint.com``, and guest links (``_layouts/15/guestaccess.aspx``,
  ``?share=``). A plain library path (``/sites/Sales/Shared Documents/...``) opens only for
  members of the site: it is not a share link;
- Dropbox: ``https://www.dropbox.com/s/<id>/<name>``, ``/scl/fi/<id>/<name>``, ``/scl/fo/``,
  ``/sh/<id>``, ``/t/<id>`` (transfer), and their direct downloads on
  ``dl.dropboxusercontent.com``.

Help and marketing pages of the same companies (``support.google.com``,
``www.dropbox.com/help``, ``www.box.com/pricing``, ``support.microsoft.com``) are not share
links and do not match: the path prefixes above are what make a link a share.

>>> [f.normalized for f in scan("資料はこちら https://app.box.com/s/abc123XYZ です")]
['https://app.box.com/s/abc123XYZ']
>>> list(scan("https://www.dropbox.com/help/security"))
[]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import regex

from classifiers.detectors._base import Document, Hit, scan_with, words_pattern
from classifiers.model import Explanation, Finding

ENTITY_TYPE = "share_link"

# URL characters (RFC 3986 s 2: unreserved, reserved and %), without the brackets and quotes
# that usually close a URL in text.
_U = r"[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]"
_T = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # one DNS label (a tenant name)
PATTERN = (
    r"(?=[A-Za-z0-9])(?<![A-Za-z0-9.@/_-])(?:https?://)?(?:"
    rf"(?P<share_link_box>(?:{_T}\.)?(?:app\.)?box\.com/(?:s|v)/[A-Za-z0-9_-]{{4,}}{_U}*)"
    rf"|(?P<share_link_gdrive>drive\.google\.com/(?:file/d/[A-Za-z0-9_-]{{10,}}|drive/(?:u/\d+/)?folders/"
    rf"[A-Za-z0-9_-]{{10,}}|open\?id=[A-Za-z0-9_-]{{10,}}){_U}*)"
    rf"|(?P<share_link_gdocs>docs\.google\.com/(?:document|spreadsheets|presentation|forms|drawings)"
    rf"/(?:u/\d+/)?d/(?:e/)?[A-Za-z0-9_-]{{10,}}{_U}*)"
    rf"|(?P<share_link_1drv>1drv\.ms/(?:[a-z]/)?(?:s!|c/|[a-z]!)?[A-Za-z0-9!_-]{{6,}}{_U}*)"
    rf"|(?P<share_link_onedrive>onedrive\.live\.com/{_U}*?(?:redeem|resid|cid|id)={_U}+)"
    rf"|(?P<share_link_sharepoint>{_T}(?:-my)?\.sharepoint\.com/(?::[a-z]:/[rsgu]/"
    rf"|(?:sites|teams|personal)/{_U}*?(?:_layouts/15/guestaccess\.aspx|[?&]share=)){_U}*)"
    rf"|(?P<share_link_dropbox>(?:(?:www\.)?dropbox\.com|dl\.dropboxusercontent\.com)"
    rf"/(?:s|sh|scl/f[io]|t|l)/[A-Za-z0-9_-]{{6,}}{_U}*)"
    r")"
)
PRIORITY = 25
#: Runs on ``re`` (see :mod:`classifiers.detectors._stdre`): 2.0 → 0.9 ms over the benchmark's mail mix.
RE_PASSES = (PATTERN,)
#: Every share link names one of these hosts (the pattern is lower-case, as they are written).
REQUIRES = ("box.com", "google.com", "1drv.ms", "onedrive.live.com", "sharepoint.com", "dropbox")

BASE_SCORE = 0.9
CONTEXT_SCORE = 1.0
_SERVICES = {
    "share_link_box": "Box",
    "share_link_gdrive": "Google Drive",
    "share_link_gdocs": "Google Docs",
    "share_link_1drv": "OneDrive",
    "share_link_onedrive": "OneDrive",
    "share_link_sharepoint": "SharePoint",
    "share_link_dropbox": "Dropbox",
}
_CONTEXT = words_pattern(
    ["共有", "リンク", "ダウンロード", "share", "shared", "link", "download", "パスワード"]
)
_TRAILING = ".,;:!?'"


def compact(url: str) -> str:
    """The URL with a scheme, without trailing sentence punctuation."""
    url = url.strip().rstrip(_TRAILING)
    if not url.lower().startswith(("http://", "https://")):
        url = "https://" + url
    return url


def service(url: str) -> str | None:
    """Which service a share link belongs to, or None when ``url`` is not a share link.

    >>> service("https://contoso.sharepoint.com/:x:/r/sites/Sales/Book.xlsx")
    'SharePoint'
    >>> service("https://support.google.com/drive/answer/2494822") is None
    True
    """
    m = _FULL.fullmatch(url.strip().rstrip(_TRAILING))
    if m is None:
        return None
    return next((_SERVICES[g] for g in _SERVICES if m.group(g)), None)


def is_valid(url: str) -> bool:
    return service(url) is not None


_FULL = regex.compile(PATTERN)


def check(match: regex.Match[str], doc: Document) -> Iterable[Hit]:
    start, end = match.span()
    while end > start and doc.text[end - 1] in _TRAILING:
        end -= 1
    url = doc.text[start:end]
    name = next((_SERVICES[g] for g in _SERVICES if match.group(g)), "link")
    context = doc.context(start, end, _CONTEXT, before=30, after=10)
    score = CONTEXT_SCORE if context else BASE_SCORE
    yield Hit(
        start, end, score, compact(url), Explanation(f"{name} share URL", "format", BASE_SCORE, context)
    )


def scan(text: str) -> Iterator[Finding]:
    return scan_with(sys.modules[__name__], text)


def redact(url: str) -> str:
    """The link masked for display: its scheme and host only.

    >>> redact("https://drive.google.com/file/d/1AbC/view")
    'https://drive.google.com/…'
    """
    head, sep, _ = url.partition("://")
    host = url[len(head) + len(sep) :].split("/", 1)[0]
    return f"{head}{sep}{host}/…" if sep else "…"
