"""An addon that raises refuses the request: with 503 where an answer can still be given,
by closing the connection where it cannot (mitmproxy itself would carry on with the flow)."""

from __future__ import annotations

from mitmproxy import http
from mitmproxy.test import tflow

from gateway.proxy.failsafe import fail_closed


class Broken:
    @fail_closed
    async def request(self, flow: http.HTTPFlow) -> None:
        raise RuntimeError("boom")

    @fail_closed
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        raise ValueError("boom")


async def test_a_failing_request_hook_answers_503() -> None:
    flow = tflow.tflow()
    await Broken().request(flow)
    assert flow.response is not None and flow.response.status_code == 503
    assert "Sekimori could not inspect" in (flow.response.text or "")


def test_a_failing_requestheaders_hook_kills_the_flow() -> None:
    flow = tflow.tflow()
    Broken().requestheaders(flow)
    assert flow.response is None and flow.error is not None and flow.error.msg == "Connection killed."
