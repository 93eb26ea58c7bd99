"""The cloud services the upload gate knows, one module each, and the configured generic rules.

>>> catalog = Catalog.of(BUILT_IN.values())
>>> found = catalog.match(RequestView.make("POST", "https://content.dropboxapi.com/2/files/upload",
...     [("Dropbox-API-Arg", '{"path": "/x/a.csv"}')]))
>>> found.service.name, found.shape.step, found.shape.filename
('dropbox', <Step.FILE: 'file'>, 'a.csv')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.config import ProxyConfig
from gateway.proxy.hosts import HostPattern
from gateway.proxy.services import box, dropbox, google_drive, microsoft_graph, slack
from gateway.proxy.services.base import (
    Mint,
    RequestView,
    ResponseView,
    Route,
    Service,
    Shape,
    Step,
    session_key,
)
from gateway.proxy.services.generic import service_of

#: Every built-in service by name (the names ``proxy.services`` and policies' ``service:`` use).
BUILT_IN: dict[str, Service] = {
    s.name: s
    for s in (google_drive.SERVICE, box.SERVICE, microsoft_graph.SERVICE, dropbox.SERVICE, slack.SERVICE)
}


@dataclass(frozen=True)
class Match:
    service: Service
    route: Route
    shape: Shape


@dataclass(frozen=True)
class Catalog:
    """The services in force: built-in ones first, then the configured rules."""

    services: tuple[Service, ...]

    @classmethod
    def of(cls, services: Iterable[Service]) -> Catalog:
        return cls(tuple(services))

    @classmethod
    def from_config(cls, config: ProxyConfig) -> Catalog:
        return cls.of([*(BUILT_IN[n] for n in config.services), *(service_of(r) for r in config.rules)])

    def match(self, req: RequestView) -> Match | None:
        for service in self.services:
            found = service.match(req)
            if found is not None:
                return Match(service, *found)
        return None

    @property
    def hosts(self) -> tuple[HostPattern, ...]:
        """Every host a service or rule needs decrypted."""
        return tuple(dict.fromkeys(h for s in self.services for h in s.hosts))

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def titles(self) -> Sequence[str]:
        return [s.title for s in self.services]


__all__ = [
    "BUILT_IN",
    "Catalog",
    "Match",
    "Mint",
    "RequestView",
    "ResponseView",
    "Service",
    "Shape",
    "Step",
    "session_key",
]
