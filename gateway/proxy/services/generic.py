"""Generic upload rules from the configuration (``proxy.rules``), for hosts no built-in service
covers: a ``multipart/form-data`` form, a raw ``PUT``/``POST`` body, or text sent to a web
service such as a generative-AI chat, whose JSON or form values are scanned as text.

>>> from gateway.config import ProxyRuleConfig
>>> svc = service_of(ProxyRuleConfig(name="chat", hosts=["chat.example"], paths=["/api/*"], body="json"))
>>> route, shape = svc.match(RequestView.make("POST", "https://chat.example/api/conversation"))
>>> shape.step, shape.body, shape.service
(<Step.TEXT: 'text'>, 'json', 'chat')
>>> svc.match(RequestView.make("POST", "https://chat.example/static/x")) is None
True
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from gateway.config import ProxyRuleConfig
from gateway.proxy.hosts import HostPattern
from gateway.proxy.services.base import (
    PATH_FLAGS,
    BodyKind,
    RequestView,
    Route,
    Service,
    Shape,
    Step,
    disposition_filename,
)

_BODY: dict[str, BodyKind] = {
    "auto": "auto",
    "json": "json",
    "form": "form",
    "multipart": "form-data",
    "raw": "raw",
}


def _filename(req: RequestView) -> str:
    """A raw upload's name: ``Content-Disposition``'s file name (decoded), else the path's last
    segment.

    >>> _filename(RequestView.make("PUT", "https://x.example/up/a.bin",
    ...     [("Content-Disposition", "attachment; filename*=UTF-8''%E5%90%8D%E7%B0%BF.csv")]))
    '名簿.csv'
    >>> _filename(RequestView.make("PUT", "https://x.example/up/%E8%A8%88%E7%94%BB.txt"))
    '計画.txt'
    """
    name = disposition_filename(req.header("content-disposition").encode("latin-1", "replace"))
    return name.strip() if name else posixpath.basename(req.path.rstrip("/"))


def service_of(rule: ProxyRuleConfig) -> Service:
    body = _BODY[rule.body]
    step = Step.TEXT if body in ("json", "form") else Step.FILE
    patterns = tuple(HostPattern.parse(h) for h in rule.hosts)
    path = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in rule.paths), PATH_FLAGS)

    def read(req: RequestView, m: re.Match[str]) -> Shape:
        return Shape(
            rule.name,
            step,
            body=body,
            filename=_filename(req) if body in ("raw", "auto") else "",
            content_type=req.content_type,
            destination=req.path,
        )

    r = Route(name=rule.name, methods=frozenset(rule.methods), hosts=patterns, path=path, read=read)
    return Service(name=rule.name, title=rule.name, hosts=patterns, routes=(r,))


__all__ = ["service_of"]
