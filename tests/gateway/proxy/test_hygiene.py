"""WebSocket messages on decrypted hosts do not pile up in memory."""

from __future__ import annotations

from mitmproxy.test import tflow
from mitmproxy.websocket import WebSocketMessage

from gateway.proxy.hygiene import Hygiene


def test_only_the_last_websocket_message_is_kept() -> None:
    flow = tflow.tflow(ws=True)
    assert flow.websocket is not None
    for i in range(5):
        flow.websocket.messages.append(WebSocketMessage(1, True, f"m{i}".encode()))
        Hygiene().websocket_message(flow)
    assert [m.content for m in flow.websocket.messages] == [b"m4"]
