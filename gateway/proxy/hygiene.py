"""Keep what the proxy does not inspect out of its memory (mitmproxy addon).

mitmproxy keeps every message of a WebSocket in its flow for the connection's lifetime
(``mitmproxy/websocket.py``); on a decrypted host a chat client's socket can stay open for
days. Only the last message is kept, so memory stays flat. (Request and response bodies are
handled by the gate, which streams everything it does not judge.)
"""

from __future__ import annotations

from mitmproxy import http


class Hygiene:
    """mitmproxy addon: drop WebSocket history as messages pass."""

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        ws = flow.websocket
        if ws is not None and len(ws.messages) > 1:
            del ws.messages[:-1]


__all__ = ["Hygiene"]
