"""Each service's request shapes, as a table: request head -> what the gate reads of it; and
the answers that create sessions -> the sessions recorded."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.proxy.services import BUILT_IN, Catalog, RequestView, ResponseView, Step
from gateway.proxy.services.base import canonical_url, content_range, session_key

CATALOG = Catalog.of(BUILT_IN.values())
JWT_TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def jwt(claims: dict[str, str]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"Bearer eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


def arg(value: dict[str, object]) -> tuple[str, str]:
    return ("Dropbox-API-Arg", json.dumps(value, ensure_ascii=True))


# (method, url, headers) -> (service, step, filename, session, offset, total)
SHAPES = [
    (
        "POST",
        "https://www.googleapis.com/upload/drive/v3/files?uploadType=media",
        [],
        ("google_drive", Step.FILE, "", None, None, None),
    ),
    (
        "POST",
        "https://www.googleapis.com/upload/drive/v3/files?uploadType=multipart",
        [],
        ("google_drive", Step.FILE, "", None, None, None),
    ),
    (
        "PATCH",
        "https://www.googleapis.com/upload/drive/v3/files/abc?uploadType=media",
        [],
        ("google_drive", Step.FILE, "", None, None, None),
    ),
    (
        "POST",
        "https://clients6.google.com/upload/drive/v2internal/files?uploadType=resumable",
        [("X-Upload-Content-Length", "9")],
        ("google_drive", Step.START, "", None, None, 9),
    ),
    (
        "PUT",
        "https://www.googleapis.com/upload/drive/v3/files?uploadType=resumable&upload_id=U1",
        [("Content-Range", "bytes 0-262143/*")],
        ("google_drive", Step.CHUNK, "", "U1", 0, None),
    ),
    (
        "PUT",
        "https://www.googleapis.com/upload/drive/v3/files?uploadType=resumable&upload_id=U1",
        [("Content-Range", "bytes 262144-299999/300000")],
        ("google_drive", Step.FINISH, "", "U1", 262144, 300000),
    ),
    (
        "PUT",
        "https://www.googleapis.com/upload/drive/v3/files?uploadType=resumable&upload_id=U1",
        [("Content-Length", "10")],
        ("google_drive", Step.FINISH, "", "U1", 0, 10),
    ),
    ("POST", "https://upload.box.com/api/2.0/files/content", [], ("box", Step.FILE, "", None, None, None)),
    (
        "POST",
        "https://upload.box.com/api/2.0/files/12345/content",
        [],
        ("box", Step.FILE, "", None, None, None),
    ),
    (
        "POST",
        "https://upload.app.box.com/api/2.0/files/content",
        [],
        ("box", Step.FILE, "", None, None, None),
    ),
    (
        "POST",
        "https://upload.box.com/api/2.0/files/upload_sessions",
        [],
        ("box", Step.START, "", None, None, None),
    ),
    (
        "PUT",
        "https://upload.box.com/api/2.0/files/upload_sessions/S9",
        [("Content-Range", "bytes 8388608-16777215/20000000")],
        ("box", Step.CHUNK, "", "S9", 8388608, 20000000),
    ),
    (
        "POST",
        "https://upload.box.com/api/2.0/files/upload_sessions/S9/commit",
        [],
        ("box", Step.FINISH, "", "S9", None, None),
    ),
    (
        "PUT",
        "https://graph.microsoft.com/v1.0/me/drive/root:/営業/顧客.xlsx:/content",
        [],
        ("microsoft_graph", Step.FILE, "顧客.xlsx", None, None, None),
    ),
    (  # Graph reads paths in any case: so does the gate
        "PUT",
        "https://graph.microsoft.com/V1.0/Me/Drive/Root:/営業/顧客.xlsx:/Content",
        [],
        ("microsoft_graph", Step.FILE, "顧客.xlsx", None, None, None),
    ),
    (
        "PUT",
        "https://graph.microsoft.com/v1.0/drives/d1/items/p1:/a%20b.txt:/content",
        [],
        ("microsoft_graph", Step.FILE, "a b.txt", None, None, None),
    ),
    (
        "PUT",
        "https://graph.microsoft.com/v1.0/sites/s1/drive/items/i1/content",
        [],
        ("microsoft_graph", Step.FILE, "", None, None, None),
    ),
    (
        "POST",
        "https://graph.microsoft.com/v1.0/me/drive/root:/x.bin:/createUploadSession",
        [],
        ("microsoft_graph", Step.START, "x.bin", None, None, None),
    ),
    (
        "PUT",
        "https://sn3302.up.1drv.com/up/fe6987415ace7",
        [("Content-Range", "bytes 0-327679/1000000")],
        ("microsoft_graph", Step.CHUNK, "", "sn3302.up.1drv.com/up/fe6987415ace7", 0, 1000000),
    ),
    (
        "PUT",
        "https://contoso.sharepoint.com/sites/s/_api/v2.0/drive/items/01/uploadSession?guid=g&tempauth=t",
        [("Content-Range", "bytes 0-9/10")],
        (
            "microsoft_graph",
            Step.FINISH,
            "",
            "contoso.sharepoint.com/sites/s/_api/v2.0/drive/items/01/uploadSession?guid=g&tempauth=t",
            0,
            10,
        ),
    ),
    (
        "POST",
        "https://sn3302.up.1drv.com/up/fe6987415ace7",
        [("Content-Length", "0")],
        ("microsoft_graph", Step.FINISH, "", "sn3302.up.1drv.com/up/fe6987415ace7", None, None),
    ),
    (
        "POST",
        "https://content.dropboxapi.com/2/files/upload",
        [arg({"path": "/共有/名簿.csv"})],
        ("dropbox", Step.FILE, "名簿.csv", None, None, None),
    ),
    (
        "POST",
        "https://content.dropboxapi.com/2/files/upload_session/start",
        [("Content-Length", "5")],
        ("dropbox", Step.START, "", None, 0, None),
    ),
    (
        "POST",
        "https://content.dropboxapi.com/2/files/upload_session/append_v2",
        [arg({"cursor": {"session_id": "D1", "offset": 5}})],
        ("dropbox", Step.CHUNK, "", "D1", 5, None),
    ),
    (
        "POST",
        "https://content.dropboxapi.com/2/files/upload_session/append",
        [arg({"session_id": "D1", "offset": 9})],
        ("dropbox", Step.CHUNK, "", "D1", 9, None),
    ),
    (
        "POST",
        "https://content.dropboxapi.com/2/files/upload_session/finish",
        [arg({"cursor": {"session_id": "D1", "offset": 12}, "commit": {"path": "/a/給与.xlsx"}})],
        ("dropbox", Step.FINISH, "給与.xlsx", "D1", 12, None),
    ),
    (
        "GET",
        "https://slack.com/api/files.getUploadURLExternal?filename=a.txt&length=3",
        [],
        ("slack", Step.START, "", None, None, None),
    ),
    (
        "POST",
        "https://files.slack.com/upload/v1/CwABAAAAXAoAAZnK",
        [],
        ("slack", Step.FILE, "", None, None, None),
    ),
    (
        "POST",
        "https://example.slack.com/api/files.completeUploadExternal",
        [],
        ("slack", Step.FINISH, "", None, None, None),
    ),
    (
        "POST",
        "https://slack.com/api/files.upload?filename=old.txt",
        [],
        ("slack", Step.FILE, "old.txt", None, None, None),
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "headers", "expected"), SHAPES, ids=[f"{s[0]} {s[1][8:60]}" for s in SHAPES]
)
def test_request_shapes(
    method: str, url: str, headers: list[tuple[str, str]], expected: tuple[object, ...]
) -> None:
    found = CATALOG.match(RequestView.make(method, url, headers))
    assert found is not None
    s = found.shape
    assert (s.service, s.step, s.filename, s.session, s.offset, s.total) == expected


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("GET", "https://www.googleapis.com/drive/v3/files", []),  # a listing
        (
            "PUT",
            "https://www.googleapis.com/upload/drive/v3/files?uploadType=resumable&upload_id=U1",
            [("Content-Range", "bytes */300000")],
        ),  # status query
        ("PUT", "https://upload.box.com/api/2.0/files/upload_sessions/S9", []),  # a part without range
        ("PUT", "https://contoso.sharepoint.com/sites/s/Shared%20Documents/x.txt", []),  # not an upload URL
        (
            "POST",
            "https://content.dropboxapi.com/2/files/upload_session/append_v2",
            [arg({"close": True})],
        ),  # no cursor
        ("POST", "https://upload.box.com.evil.example/api/2.0/files/content", []),
        ("POST", "https://www.example.org/upload", []),
    ],
)
def test_requests_that_are_not_uploads(method: str, url: str, headers: list[tuple[str, str]]) -> None:
    assert CATALOG.match(RequestView.make(method, url, headers)) is None


def test_graph_tenant_from_the_token_and_sharepoint_host() -> None:
    put = CATALOG.match(
        RequestView.make(
            "PUT",
            "https://graph.microsoft.com/v1.0/me/drive/root:/a.txt:/content",
            [("Authorization", jwt({"tid": JWT_TID.upper()}))],
        )
    )
    assert put is not None and put.shape.tenant == JWT_TID
    junk = CATALOG.match(
        RequestView.make(
            "PUT",
            "https://graph.microsoft.com/v1.0/me/drive/root:/a.txt:/content",
            [("Authorization", "Bearer not.a!jwt.at all")],
        )
    )
    assert junk is not None and junk.shape.tenant is None


def mint(
    method: str, url: str, body: bytes, headers: list[tuple[str, str]], answer: ResponseView
) -> list[tuple[str, str, int | None]]:
    found = CATALOG.match(RequestView.make(method, url, headers))
    assert found is not None and found.route.mint is not None
    view = RequestView.make(method, url, headers, body)
    return [(m.session, m.filename, m.total) for m in found.route.mint(view, answer, found.shape)]


def test_answers_that_create_sessions() -> None:
    drive = mint(
        "POST",
        "https://www.googleapis.com/upload/drive/v3/files?uploadType=resumable",
        json.dumps({"name": "顧客.csv", "parents": ["F1"]}).encode(),
        [("X-Upload-Content-Length", "99")],
        ResponseView(
            200,
            {
                "location": "https://www.googleapis.com/upload/drive/v3/files?uploadType=resumable&upload_id=XYZ"
            },
        ),
    )
    assert drive == [("XYZ", "顧客.csv", 99)]
    box = mint(
        "POST",
        "https://upload.box.com/api/2.0/files/upload_sessions",
        json.dumps({"folder_id": "0", "file_size": 12, "file_name": "a.bin"}).encode(),
        [],
        ResponseView(201, {}, json.dumps({"id": "S1", "part_size": 8388608}).encode()),
    )
    assert box == [("S1", "a.bin", 12)]
    graph = mint(
        "POST",
        "https://graph.microsoft.com/v1.0/me/drive/root:/b.txt:/createUploadSession",
        json.dumps({"deferCommit": True}).encode(),
        [],
        ResponseView(200, {}, json.dumps({"uploadUrl": "https://SN3302.up.1drv.com/up/AbC"}).encode()),
    )
    assert graph == [("sn3302.up.1drv.com/up/AbC", "b.txt", None)]
    dropbox = mint(
        "POST",
        "https://api.dropboxapi.com/2/files/upload_session/start_batch",
        b'{"num_sessions": 2}',
        [],
        ResponseView(200, {}, b'{"session_ids": ["A", "B"]}'),
    )
    assert [s for s, _, _ in dropbox] == ["A", "B"]
    slack = mint(
        "POST",
        "https://slack.com/api/files.getUploadURLExternal",
        b"filename=%E9%A1%A7%E5%AE%A2.txt&length=42",
        [("Content-Type", "application/x-www-form-urlencoded")],
        ResponseView(
            200,
            {},
            json.dumps(
                {"ok": True, "upload_url": "https://files.slack.com/upload/v1/Q", "file_id": "F1"}
            ).encode(),
        ),
    )
    assert slack == [("F1", "顧客.txt", 42)]
    failed = mint(
        "POST",
        "https://slack.com/api/files.getUploadURLExternal",
        b"",
        [],
        ResponseView(200, {}, b'{"ok": false, "error": "not_authed"}'),
    )
    assert failed == []


def test_finishing_requests_that_name_their_files_in_the_body() -> None:
    complete = RequestView.make(
        "POST",
        "https://slack.com/api/files.completeUploadExternal",
        [("Content-Type", "application/json")],
        json.dumps({"files": [{"id": "F1", "title": "a"}, {"id": "F2"}], "channel_id": "C9"}).encode(),
    )
    found = CATALOG.match(complete)
    assert found is not None and found.route.refine is not None
    refined = found.route.refine(complete, found.shape)
    assert refined.sessions == ("F1", "F2") and refined.destination == "C9"
    batch = RequestView.make(
        "POST",
        "https://api.dropboxapi.com/2/files/upload_session/finish_batch_v2",
        [("Content-Type", "application/json")],
        json.dumps(
            {"entries": [{"cursor": {"session_id": "D1", "offset": 3}, "commit": {"path": "/名簿.csv"}}]}
        ).encode(),
    )
    found = CATALOG.match(batch)
    assert found is not None and found.route.refine is not None
    refined = found.route.refine(batch, found.shape)
    assert refined.sessions == ("D1",) and refined.extra["paths"] == {"D1": "/名簿.csv"}


def test_helpers() -> None:
    assert content_range("bytes 9-3/10") is None  # last before first
    assert canonical_url("https://a.example:443/p?q=1") == "a.example/p?q=1"
    assert session_key("slack", "F1") != session_key("slack", "alias:F1")


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("/a/b", "/a/b"),
        ("//a///b", "/a/b"),
        ("/a/./b/../c", "/a/c"),
        ("/a/%2e%2E/c", "/c"),
        ("/../../a", "/a"),
        ("/a/b/", "/a/b/"),
        ("/a/..", "/"),
        ("", "/"),
    ],
)
def test_a_request_path_is_read_as_a_server_reads_it(written: str, read: str) -> None:
    assert RequestView.make("POST", f"https://chat.example{written}").path == read
