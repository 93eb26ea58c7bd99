"""How each provider's own client uploads, step by step, through the gateway (httpx with the
gateway as its proxy). Each function returns the answers it got, in order."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping

import httpx

from tests.gateway.proxy.fakes import GRAPH_UPLOAD

DRIVE_UPLOAD = "https://www.googleapis.com/upload/drive/v3/files"


async def drive_media(c: httpx.AsyncClient, data: bytes) -> httpx.Response:
    return await c.post(
        DRIVE_UPLOAD, params={"uploadType": "media"}, content=data, headers={"Content-Type": "text/plain"}
    )


def related(meta: dict[str, object], data: bytes, content_type: str = "text/plain") -> tuple[bytes, str]:
    boundary = "sekimori" + uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps(meta)}\r\n"
            f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--".encode()
    )
    return body, f"multipart/related; boundary={boundary}"


async def drive_multipart(
    c: httpx.AsyncClient, name: str, data: bytes, host: str = "www.googleapis.com", version: str = "v3"
) -> httpx.Response:
    body, ctype = related({"name": name, "parents": ["folder1"]}, data)
    url = f"https://{host}/upload/drive/{version}/files"
    return await c.post(
        url, params={"uploadType": "multipart"}, content=body, headers={"Content-Type": ctype}
    )


async def drive_resumable(
    c: httpx.AsyncClient, name: str, chunks: list[bytes], *, unknown_total: bool = False
) -> list[httpx.Response]:
    total = sum(len(x) for x in chunks)
    start = await c.post(
        DRIVE_UPLOAD,
        params={"uploadType": "resumable"},
        json={"name": name},
        headers={"X-Upload-Content-Type": "text/csv", "X-Upload-Content-Length": str(total)},
    )
    answers = [start]
    location = start.headers["location"]
    offset = 0
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1
        size = str(total) if last or not unknown_total else "*"
        rng = f"bytes {offset}-{offset + len(chunk) - 1}/{size}"
        answers.append(await c.put(location, content=chunk, headers={"Content-Range": rng}))
        offset += len(chunk)
    return answers


def box_form(name: str, data: bytes, *, file_first: bool = False) -> tuple[bytes, str]:
    boundary = "----box" + uuid.uuid4().hex
    attributes = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attributes"\r\n\r\n'
        + json.dumps({"name": name, "parent": {"id": "0"}})
        + "\r\n"
    ).encode()
    file_part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )
    parts = file_part + attributes if file_first else attributes + file_part
    return parts + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def box_direct(
    c: httpx.AsyncClient, name: str, data: bytes, *, file_first: bool = False
) -> httpx.Response:
    body, ctype = box_form(name, data, file_first=file_first)
    return await c.post(
        "https://upload.box.com/api/2.0/files/content", content=body, headers={"Content-Type": ctype}
    )


def _sha(data: bytes) -> str:
    return "sha=" + base64.b64encode(hashlib.sha1(data).digest()).decode()


async def box_chunked(c: httpx.AsyncClient, name: str, parts: list[bytes]) -> list[httpx.Response]:
    total = sum(len(p) for p in parts)
    created = await c.post(
        "https://upload.box.com/api/2.0/files/upload_sessions",
        json={"folder_id": "0", "file_size": total, "file_name": name},
    )
    answers = [created]
    session = created.json()
    offset = 0
    listed = []
    for part in parts:
        rng = f"bytes {offset}-{offset + len(part) - 1}/{total}"
        r = await c.put(
            session["session_endpoints"]["upload_part"],
            content=part,
            headers={"Digest": _sha(part), "Content-Range": rng},
        )
        answers.append(r)
        listed.append(r.json()["part"])
        offset += len(part)
    whole = b"".join(parts)
    answers.append(
        await c.post(
            session["session_endpoints"]["commit"], json={"parts": listed}, headers={"Digest": _sha(whole)}
        )
    )
    return answers


GRAPH_ITEM = "https://graph.microsoft.com/v1.0/me/drive/root:/Documents/{name}:/"


async def graph_put(c: httpx.AsyncClient, name: str, data: bytes, token: str = "") -> httpx.Response:
    headers = {"Content-Type": "text/plain"} | ({"Authorization": f"Bearer {token}"} if token else {})
    return await c.put(GRAPH_ITEM.format(name=name) + "content", content=data, headers=headers)


async def graph_session(
    c: httpx.AsyncClient, name: str, chunks: list[bytes], *, defer: bool = False, token: str = ""
) -> list[httpx.Response]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict[str, object] = {"item": {"@microsoft.graph.conflictBehavior": "replace"}}
    if defer:
        body["deferCommit"] = True
    created = await c.post(GRAPH_ITEM.format(name=name) + "createUploadSession", json=body, headers=auth)
    answers = [created]
    url = created.json()["uploadUrl"]
    assert GRAPH_UPLOAD in url
    total = sum(len(x) for x in chunks)
    offset = 0
    for chunk in chunks:  # no Authorization on the uploadUrl, as Microsoft's documentation says
        rng = f"bytes {offset}-{offset + len(chunk) - 1}/{total}"
        answers.append(await c.put(url, content=chunk, headers={"Content-Range": rng}))
        offset += len(chunk)
    if defer:
        answers.append(await c.post(url, content=b""))
    return answers


def dropbox_arg(value: dict[str, object]) -> str:
    """As Dropbox's SDKs send it: JSON with every non-ASCII character as a \\uXXXX escape."""
    return json.dumps(value, ensure_ascii=True)


async def dropbox_upload(c: httpx.AsyncClient, path: str, data: bytes) -> httpx.Response:
    return await c.post(
        "https://content.dropboxapi.com/2/files/upload",
        content=data,
        headers={
            "Dropbox-API-Arg": dropbox_arg({"path": path, "mode": "add"}),
            "Content-Type": "application/octet-stream",
        },
    )


async def dropbox_session(c: httpx.AsyncClient, path: str, chunks: list[bytes]) -> list[httpx.Response]:
    base = "https://content.dropboxapi.com/2/files/upload_session/"
    octet = {"Content-Type": "application/octet-stream"}
    start = await c.post(
        base + "start", content=chunks[0], headers=octet | {"Dropbox-API-Arg": dropbox_arg({"close": False})}
    )
    answers = [start]
    sid = start.json()["session_id"]
    offset = len(chunks[0])
    for chunk in chunks[1:-1]:
        arg = dropbox_arg({"cursor": {"session_id": sid, "offset": offset}, "close": False})
        answers.append(
            await c.post(base + "append_v2", content=chunk, headers=octet | {"Dropbox-API-Arg": arg})
        )
        offset += len(chunk)
    arg = dropbox_arg(
        {"cursor": {"session_id": sid, "offset": offset}, "commit": {"path": path, "mode": "add"}}
    )
    last = chunks[-1] if len(chunks) > 1 else b""
    answers.append(await c.post(base + "finish", content=last, headers=octet | {"Dropbox-API-Arg": arg}))
    return answers


async def slack_upload(
    c: httpx.AsyncClient, name: str, data: bytes, *, multipart: bool = False, channel: str = "C0123"
) -> list[httpx.Response]:
    got = await c.post(
        "https://slack.com/api/files.getUploadURLExternal", data={"filename": name, "length": str(len(data))}
    )
    answers = [got]
    url, fid = got.json()["upload_url"], got.json()["file_id"]
    if multipart:
        answers.append(await c.post(url, files={"filename": (name, data, "application/octet-stream")}))
    else:
        answers.append(await c.post(url, content=data, headers={"Content-Type": "application/octet-stream"}))
    answers.append(
        await c.post(
            "https://slack.com/api/files.completeUploadExternal",
            data={"files": json.dumps([{"id": fid, "title": name}]), "channel_id": channel},
        )
    )
    return answers


async def slack_channel(c: httpx.AsyncClient, channel: str) -> httpx.Response:
    """``conversations.info``, as Slack's client asks when a channel is opened."""
    return await c.get("https://slack.com/api/conversations.info", params={"channel": channel})


async def slack_public_url(c: httpx.AsyncClient, file_id: str) -> httpx.Response:
    """``files.sharedPublicURL``: a file open to anyone with its link."""
    return await c.post("https://slack.com/api/files.sharedPublicURL", data={"file": file_id})


# -- sharing -------------------------------------------------------------------------------------


async def drive_share(
    c: httpx.AsyncClient,
    file_id: str,
    body: Mapping[str, object],
    *,
    host: str = "www.googleapis.com",
    version: str = "v3",
) -> httpx.Response:
    """``permissions.create`` (the web client: ``clients6.google.com``, ``v2internal``)."""
    return await c.post(f"https://{host}/drive/{version}/files/{file_id}/permissions", json=body)


async def box_share(
    c: httpx.AsyncClient, kind: str, item_id: str, body: Mapping[str, object]
) -> httpx.Response:
    """``PUT /2.0/files|folders/{id}`` (a shared link is part of the item)."""
    return await c.put(
        f"https://api.box.com/2.0/{kind}/{item_id}", params={"fields": "shared_link"}, json=body
    )


async def box_invite(
    c: httpx.AsyncClient, kind: str, item_id: str, login: str, role: str = "editor"
) -> httpx.Response:
    body = {
        "item": {"type": kind, "id": item_id},
        "accessible_by": {"type": "user", "login": login},
        "role": role,
    }
    return await c.post("https://api.box.com/2.0/collaborations", json=body)


async def graph_link(
    c: httpx.AsyncClient, item_id: str, body: Mapping[str, object], token: str = ""
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await c.post(
        f"https://graph.microsoft.com/v1.0/me/drive/items/{item_id}/createLink", json=body, headers=headers
    )


async def graph_invite(c: httpx.AsyncClient, item_id: str, body: Mapping[str, object]) -> httpx.Response:
    return await c.post(f"https://graph.microsoft.com/v1.0/me/drive/items/{item_id}/invite", json=body)


async def dropbox_sharing(c: httpx.AsyncClient, route: str, body: Mapping[str, object]) -> httpx.Response:
    """An RPC of the sharing namespace (``create_shared_link_with_settings`` ...)."""
    return await c.post(f"https://api.dropboxapi.com/2/sharing/{route}", json=body)
