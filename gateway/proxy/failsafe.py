"""Fail closed: an addon that raises must not let the request through.

mitmproxy logs an exception raised by an addon's hook and carries on with the flow as if the
hook had done nothing (``addonmanager.py``): for an inspecting addon that means the upload goes
out uninspected. Every Sekimori hook that decides about a request is wrapped with
:func:`fail_closed`: the exception is logged (without the request's query, which may hold an
upload token) and the request is refused, with a 503 answer where mitmproxy can still send one,
or by closing the connection (``flow.kill()``) where it cannot without first reading the whole
body into memory (in ``requestheaders``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from mitmproxy import http

log = logging.getLogger("sekimori.proxy")

F = TypeVar("F", bound=Callable[..., Any])

_UNAVAILABLE = (
    "関守 (Sekimori) がこの通信を検査できなかったため、止めました。しばらくしてからやり直してください。\n"
    "Sekimori could not inspect this request and stopped it. Please try again later.\n"
).encode()


def refuse(flow: http.HTTPFlow, hook: str) -> None:
    """Stop a flow whose inspection failed."""
    if hook == "requestheaders" or flow.response is not None or flow.request.stream:
        flow.kill()  # type: ignore[no-untyped-call]
        return
    flow.response = http.Response.make(
        503, _UNAVAILABLE, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
    )


def _where(flow: http.HTTPFlow) -> str:
    return f"{flow.request.method} {flow.request.host}{flow.request.path.split('?', 1)[0]}"


def fail_closed(hook: F) -> F:
    """Wrap an addon hook (sync or async) taking a flow so that an exception refuses the flow."""
    name = hook.__name__
    if inspect.iscoroutinefunction(hook):

        @functools.wraps(hook)
        async def guarded_async(self: Any, flow: http.HTTPFlow) -> None:
            try:
                await cast(Callable[[Any, http.HTTPFlow], Awaitable[None]], hook)(self, flow)
            except Exception:
                log.exception("%s failed on %s; the request is refused", name, _where(flow))
                refuse(flow, name)

        return cast(F, guarded_async)

    @functools.wraps(hook)
    def guarded(self: Any, flow: http.HTTPFlow) -> None:
        try:
            hook(self, flow)
        except Exception:
            log.exception("%s failed on %s; the request is refused", name, _where(flow))
            refuse(flow, name)

    return cast(F, guarded)


__all__ = ["fail_closed", "refuse"]
