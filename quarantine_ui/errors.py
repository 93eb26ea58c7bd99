"""The refusals a handler raises; the app turns them into an error page or a JSON error.

UIError(Exception)      pages and API alike: ``status``, and a stable ``code`` for the API
APIError(Exception)     JSON only; may carry headers and extra fields (``retry_after``)
"""

from __future__ import annotations

from typing import Any


class UIError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


class APIError(Exception):
    def __init__(self, status: int, code: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.extra = extra


__all__ = ["APIError", "UIError"]
