"""``requires``: one access rule for pages and the JSON API, declared on the handler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quarantine_ui.guard import current_user, form, requires
from quarantine_ui.respond import is_api
from tests.quarantine_ui.conftest import Env, csrf_of, login, make_env, password_step


@requires("auditor", "security_admin")
async def probe(request: Request) -> Response:
    posted = dict(form(request)) if request.method == "POST" and not is_api(request) else {}
    return JSONResponse({"user": current_user(request).address, "form": posted})


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Env]:
    env = make_env(tmp_path)
    for path in ("/probe", "/api/probe"):
        env.app.router.routes.append(Route(path, probe, methods=["GET", "POST"]))  # type: ignore[attr-defined]
    env.user("audit@example.jp", ["auditor"])
    env.user("sender@example.jp", ["sender"])
    env.user("boss@example.jp", ["approver"], mfa=True)
    yield env
    env.ui.db.close()


def _client(env: Env, who: str | None, *, complete: bool = True) -> Any:
    client = env.client()
    if who is not None and complete:
        login(env, client, who)
    elif who is not None:
        assert password_step(client, who).status_code == 303  # the second factor is still missing
    return client


@pytest.mark.parametrize(
    ("who", "complete", "page", "api"),
    [
        (None, True, "/login?next=%2Fprobe", "not_logged_in"),
        ("boss@example.jp", False, "/login/mfa?next=%2Fprobe", "mfa_required"),
        ("sender@example.jp", True, 403, "forbidden"),
        ("audit@example.jp", True, 200, None),
    ],
)
def test_login_steps_and_roles(
    guarded: Env, who: str | None, complete: bool, page: Any, api: str | None
) -> None:
    client = _client(guarded, who, complete=complete)
    r = client.get("/probe")
    if isinstance(page, str):
        assert (r.status_code, r.headers["location"]) == (303, page)
    else:
        assert r.status_code == page
    r = client.get("/api/probe")
    if api is None:
        assert r.status_code == 200 and r.json()["user"] == "audit@example.jp"
    else:
        assert r.status_code in (401, 403) and r.json()["error"] == api


def test_a_state_change_needs_the_sessions_csrf_token(guarded: Env) -> None:
    client = _client(guarded, "audit@example.jp")
    token = csrf_of(client.get("/").text)
    assert client.post("/probe", data={"x": "1"}).status_code == 403
    ok = client.post("/probe", data={"csrf_token": token, "x": "1"})
    assert ok.status_code == 200 and ok.json()["form"]["x"] == "1"
    refused = client.post("/api/probe", json={})
    assert (refused.status_code, refused.json()["error"]) == (403, "csrf")
    assert client.post("/api/probe", json={}, headers={"x-csrf-token": token}).status_code == 200
