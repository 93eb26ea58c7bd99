"""The outside world for the upload gate's tests: one HTTPS server on loopback that speaks each
provider's documented request and response shapes (Drive, Box, Graph, Dropbox, Slack, a chat
service and a plain web site), with a certificate from a test "public" CA. It records every
request it received (so a test can assert a refused body never arrived) and the files each
service ended up holding (so a refused session leaves no finished file).

Shapes follow the providers' documentation cited in ``gateway/proxy/services/*``; the fakes
check what the real services check where a test depends on it (Box's attributes-before-file
order and SHA-1 digests, Drive's and Graph's in-order ranges, Dropbox's offsets).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import email
import email.message
import email.policy
import hashlib
import ipaddress
import itertools
import json
import re
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DRIVE = ("www.googleapis.com", "clients6.google.com")
BOX = ("upload.box.com",)
BOX_API = "api.box.com"
GRAPH = ("graph.microsoft.com",)
GRAPH_UPLOAD = "sn3302.up.1drv.com"
DROPBOX = ("content.dropboxapi.com", "api.dropboxapi.com")
SLACK = ("slack.com", "files.slack.com")
CHAT = "chat.example"
#: The web endpoints of the generative-AI chats in ``sekimori.example.yaml``'s commented rules.
AI_CHATS = ("chatgpt.com", "claude.ai", "gemini.google.com", "copilot.microsoft.com")
#: A site with a plain upload form (``proxy.rules`` with ``body: multipart`` or ``raw``).
PARTNER = "files.partner.example"
PLAIN = "www.example.org"
LOGIN = (
    "login.microsoftonline.com",
    "login.live.com",
    "accounts.google.com",
    "www.dropbox.com",
    "app.slack.com",
)
ALL_HOSTS = (
    *DRIVE,
    *BOX,
    BOX_API,
    *GRAPH,
    GRAPH_UPLOAD,
    *DROPBOX,
    *SLACK,
    CHAT,
    *AI_CHATS,
    PARTNER,
    PLAIN,
    *LOGIN,
)


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass(frozen=True)
class OriginCerts:
    """A test public CA and a server certificate for every fake host."""

    ca_pem: Path
    chain: Path

    @classmethod
    def make(cls, folder: Path) -> OriginCerts:
        folder.mkdir(parents=True, exist_ok=True)
        ca_key, ca_cert = _ca("Test Public Root CA")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in ALL_HOSTS]
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PLAIN)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        ca_pem = folder / "origin-ca.pem"
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        chain = folder / "origin.pem"
        chain.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cls(ca_pem, chain)


@dataclass
class Seen:
    """One request as the origin received it."""

    method: str
    host: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: Every header line as received, in order (``headers`` keeps one value per name).
    lines: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.lines if k == name.lower()]

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
        return cls(
            status, json.dumps(value).encode(), [("content-type", "application/json"), *(headers or [])]
        )


Handler = Callable[[Seen], Reply]


@dataclass
class Stored:
    name: str
    data: bytes


@dataclass(frozen=True)
class Shared:
    """A sharing change a provider carried out: which service, the request's path and body."""

    service: str
    path: str
    body: Any


_DRIVE_PERMISSIONS = re.compile(r"/drive/v(?:2|3|2beta|2internal)/files/([^/]+)/permissions")
_BOX_ITEM = re.compile(r"/2\.0/(files|folders)/(\d+)")


class Providers:
    """The providers' behaviour: sessions in progress and the files each one holds."""

    def __init__(self) -> None:
        self.files: dict[str, list[Stored]] = {
            k: [] for k in ("google_drive", "box", "microsoft_graph", "dropbox", "slack", "chat", "partner")
        }
        self._ids = itertools.count(1000)
        self.drive_sessions: dict[str, dict[str, Any]] = {}
        self.box_sessions: dict[str, dict[str, Any]] = {}
        self.graph_sessions: dict[str, dict[str, Any]] = {}
        self.dropbox_sessions: dict[str, bytearray] = {}
        self.slack_files: dict[str, dict[str, Any]] = {}
        self.slack_shared: list[str] = []
        #: Slack channels and the other organisations each one is shared with (Slack Connect).
        self.slack_channels: dict[str, list[str]] = {"C0123": [], "CEXT1": ["T0PARTNER"]}
        #: Where each completed Slack file was shared: (file id, channel).
        self.slack_posted: list[tuple[str, str]] = []
        #: Every sharing change the providers carried out, in order.
        self.shares: list[Shared] = []

    def new_id(self) -> str:
        return f"ID{next(self._ids)}"

    def handle(self, req: Seen) -> Reply:
        host = req.host
        path = urllib.parse.urlsplit(req.path).path
        shared = self._sharing(req, path)
        if shared is not None:
            return shared
        if host in DRIVE:
            return self._drive(req, path)
        if host in BOX:
            return self._box(req, path)
        if host in GRAPH or host == GRAPH_UPLOAD:
            return self._graph(req, path)
        if host in DROPBOX:
            return self._dropbox(req, path)
        if host in SLACK:
            return self._slack(req, path)
        if host == CHAT or host in AI_CHATS:
            self.files["chat"].append(Stored(host, req.body))
            return Reply.json(200, {"ok": True})
        if host == PARTNER:
            if req.headers.get("content-type", "").startswith("multipart/form-data"):
                for _, filename, data in form_parts(req):
                    if filename is not None:
                        self.files["partner"].append(Stored(filename, data))
            else:
                self.files["partner"].append(Stored(urllib.parse.unquote(path.rsplit("/", 1)[-1]), req.body))
            return Reply.json(201, {"ok": True})
        return Reply(200, b"hello from " + host.encode(), [("content-type", "text/plain")])

    # Sharing (links and invitations) -------------------------------------------------------------

    def _sharing(self, req: Seen, path: str) -> Reply | None:
        """The providers' sharing calls: Drive permissions.create, Box shared links and
        collaborations, Graph createLink and invite, Dropbox shared links and members."""
        host, method = req.host, req.method
        try:
            body = json.loads(req.body) if req.body else None
        except ValueError:  # not a sharing call (an upload's bytes)
            body = None
        if host in DRIVE and method == "POST" and (m := _DRIVE_PERMISSIONS.fullmatch(path)):
            self.shares.append(Shared("google_drive", path, body))
            return Reply.json(200, {"kind": "drive#permission", "id": self.new_id(), **(body or {})})
        if host == BOX_API and method == "PUT" and (m := _BOX_ITEM.fullmatch(path)):
            self.shares.append(Shared("box", path, body))
            return Reply.json(200, {"type": m.group(1)[:-1], "id": m.group(2), **(body or {})})
        if host == BOX_API and method == "POST" and path == "/2.0/collaborations":
            self.shares.append(Shared("box", path, body))
            return Reply.json(
                201, {"type": "collaboration", "id": self.new_id(), "role": (body or {}).get("role")}
            )
        if host in GRAPH and method == "POST" and path.endswith(("/createLink", "/invite")):
            self.shares.append(Shared("microsoft_graph", path, body))
            if path.endswith("/invite"):
                return Reply.json(
                    200, {"value": [{"id": self.new_id(), "roles": (body or {}).get("roles", [])}]}
                )
            link = {
                "type": (body or {}).get("type"),
                "scope": (body or {}).get("scope"),
                "webUrl": "https://1drv.ms/u/s!x",
            }
            return Reply.json(200, {"id": self.new_id(), "roles": ["read"], "link": link})
        if host in DROPBOX and method == "POST" and path.startswith("/2/sharing/"):
            self.shares.append(Shared("dropbox", path, body))
            if path.endswith(("/add_file_member", "/add_folder_member")):
                return Reply.json(200, [] if path.endswith("file_member") else None)
            where = (body or {}).get("path", "/x")
            return Reply.json(
                200,
                {
                    ".tag": "file",
                    "url": "https://www.dropbox.com/scl/fi/x/y",
                    "name": where.rsplit("/", 1)[-1],
                },
            )
        return None

    # Google Drive ------------------------------------------------------------------------------

    def _drive(self, req: Seen, path: str) -> Reply:
        q = req.query
        if "upload_id" in q:
            s = self.drive_sessions.get(q["upload_id"])
            if s is None:
                return Reply.json(404, {"error": {"code": 404, "message": "session not found"}})
            rng = req.headers.get("content-range", "")
            first, _, rest = rng.removeprefix("bytes ").partition("-")
            total = rest.partition("/")[2]
            if not rng:
                first, total = "0", str(len(req.body))
            if int(first) != len(s["data"]):
                return Reply(308, b"", [("range", f"bytes=0-{len(s['data']) - 1}")])
            s["data"] += req.body
            if total != "*" and len(s["data"]) == int(total):
                fid = self.new_id()
                self.files["google_drive"].append(Stored(s["name"], bytes(s["data"])))
                del self.drive_sessions[q["upload_id"]]
                return Reply.json(200, {"kind": "drive#file", "id": fid, "name": s["name"]})
            return Reply(308, b"", [("range", f"bytes=0-{len(s['data']) - 1}")])
        kind = q.get("uploadType")
        if kind == "media":
            self.files["google_drive"].append(Stored("Untitled", req.body))
            return Reply.json(200, {"kind": "drive#file", "id": self.new_id(), "name": "Untitled"})
        if kind == "multipart":
            msg = email.message_from_bytes(
                b"Content-Type: " + req.headers["content-type"].encode() + b"\r\n\r\n" + req.body,
                policy=email.policy.compat32,
            )
            parts = _parts(msg)
            assert len(parts) == 2
            meta = json.loads(_bytes(parts[0]))
            self.files["google_drive"].append(Stored(meta.get("name", "Untitled"), _bytes(parts[1])))
            return Reply.json(200, {"kind": "drive#file", "id": self.new_id(), "name": meta.get("name")})
        if kind == "resumable" and req.method == "POST":
            sid = self.new_id()
            meta = json.loads(req.body or b"{}")
            self.drive_sessions[sid] = {"name": meta.get("name", "Untitled"), "data": bytearray()}
            location = f"https://{req.host}{path}?uploadType=resumable&upload_id={sid}"
            return Reply(200, b"", [("location", location), ("content-length", "0")])
        return Reply.json(400, {"error": "bad request"})

    # Box ---------------------------------------------------------------------------------------

    def _box(self, req: Seen, path: str) -> Reply:
        if path.endswith("/files/content") and req.method == "POST":
            parts = form_parts(req)
            names = [name for name, _, _ in parts]
            if names.index("attributes") > names.index("file"):
                return Reply.json(400, {"type": "error", "code": "metadata_after_file_contents"})
            attrs = json.loads(next(data for name, _, data in parts if name == "attributes"))
            data = next(data for name, _, data in parts if name == "file")
            sha1 = hashlib.sha1(data).hexdigest()
            self.files["box"].append(Stored(attrs["name"], data))
            entry = {"type": "file", "id": self.new_id(), "name": attrs["name"], "sha1": sha1}
            return Reply.json(201, {"total_count": 1, "entries": [entry]})
        if path == "/api/2.0/files/upload_sessions":
            asked = json.loads(req.body)
            sid = self.new_id()
            self.box_sessions[sid] = {"name": asked["file_name"], "size": asked["file_size"], "parts": {}}
            base = f"https://upload.box.com/api/2.0/files/upload_sessions/{sid}"
            return Reply.json(
                201,
                {
                    "id": sid,
                    "type": "upload_session",
                    "part_size": 8 * 1024 * 1024,
                    "total_parts": 1,
                    "session_endpoints": {"upload_part": base, "commit": base + "/commit"},
                },
            )
        if path.startswith("/api/2.0/files/upload_sessions/"):
            sid = path.split("/")[5]
            s = self.box_sessions[sid]
            if req.method == "PUT":
                digest = base64.b64encode(hashlib.sha1(req.body).digest()).decode()
                if req.headers.get("digest") != f"sha={digest}":
                    return Reply.json(412, {"code": "sha1_mismatch"})
                offset = int(req.headers["content-range"].removeprefix("bytes ").split("-")[0])
                part = {
                    "part_id": hashlib.sha1(req.body).hexdigest()[:8].upper(),
                    "offset": offset,
                    "size": len(req.body),
                    "sha1": hashlib.sha1(req.body).hexdigest(),
                }
                s["parts"][offset] = (part, req.body)
                return Reply.json(200, {"part": part})
            if path.endswith("/commit"):
                data = b"".join(s["parts"][o][1] for o in sorted(s["parts"]))
                whole = base64.b64encode(hashlib.sha1(data).digest()).decode()
                if req.headers.get("digest") != f"sha={whole}" or len(data) != s["size"]:
                    return Reply.json(412, {"code": "sha1_mismatch"})
                self.files["box"].append(Stored(s["name"], data))
                del self.box_sessions[sid]
                return Reply.json(
                    201, {"entries": [{"type": "file", "id": self.new_id(), "name": s["name"]}]}
                )
        return Reply.json(404, {"code": "not_found"})

    # Microsoft Graph -----------------------------------------------------------------------------

    def _graph(self, req: Seen, path: str) -> Reply:
        if req.host == GRAPH_UPLOAD:
            sid = path.rsplit("/", 1)[-1]
            s = self.graph_sessions.get(sid)
            if s is None:
                return Reply.json(404, {"error": {"code": "itemNotFound"}})
            if req.method == "POST":  # the deferred commit
                self.files["microsoft_graph"].append(Stored(s["name"], bytes(s["data"])))
                return Reply.json(201, {"id": self.new_id(), "name": s["name"], "size": len(s["data"])})
            first, _, rest = req.headers["content-range"].removeprefix("bytes ").partition("-")
            _, _, total = rest.partition("/")
            if int(first) != len(s["data"]):
                return Reply.json(416, {"error": {"code": "invalidRange"}})
            s["data"] += req.body
            if len(s["data"]) == int(total):
                if s["defer"]:
                    return Reply.json(202, {"nextExpectedRanges": []})
                self.files["microsoft_graph"].append(Stored(s["name"], bytes(s["data"])))
                return Reply.json(201, {"id": self.new_id(), "name": s["name"], "size": len(s["data"])})
            return Reply.json(
                202,
                {"expirationDateTime": "2030-01-01T00:00:00Z", "nextExpectedRanges": [f"{len(s['data'])}-"]},
            )
        name = urllib.parse.unquote(path).split(":/")[-2].rsplit("/", 1)[-1] if ":/" in path else "item"
        if path.endswith("/content") and req.method == "PUT":
            self.files["microsoft_graph"].append(Stored(name, req.body))
            return Reply.json(201, {"id": self.new_id(), "name": name, "size": len(req.body)})
        if path.endswith("/createUploadSession"):
            sid = self.new_id()
            asked = json.loads(req.body or b"{}")
            self.graph_sessions[sid] = {
                "name": name,
                "data": bytearray(),
                "defer": bool(asked.get("deferCommit")),
            }
            return Reply.json(
                200,
                {
                    "uploadUrl": f"https://{GRAPH_UPLOAD}/up/{sid}",
                    "expirationDateTime": "2030-01-01T00:00:00Z",
                },
            )
        return Reply.json(404, {"error": {"code": "itemNotFound"}})

    # Dropbox -------------------------------------------------------------------------------------

    def _dropbox(self, req: Seen, path: str) -> Reply:
        arg = json.loads(req.headers.get("dropbox-api-arg", "{}"))
        if path == "/2/files/upload":
            self.files["dropbox"].append(Stored(arg["path"], req.body))
            return Reply.json(
                200,
                {"name": arg["path"].rsplit("/", 1)[-1], "path_display": arg["path"], "size": len(req.body)},
            )
        if path == "/2/files/upload_session/start":
            sid = self.new_id()
            self.dropbox_sessions[sid] = bytearray(req.body)
            return Reply.json(200, {"session_id": sid})
        cursor = arg.get("cursor", {})
        data = self.dropbox_sessions.get(cursor.get("session_id", ""))
        if data is None:
            return Reply.json(409, {"error_summary": "lookup_failed/not_found/"})
        if cursor.get("offset") != len(data):
            return Reply.json(409, {"error_summary": "lookup_failed/incorrect_offset/"})
        data += req.body
        if path == "/2/files/upload_session/append_v2":
            return Reply(200, b"null", [("content-type", "application/json")])
        if path == "/2/files/upload_session/finish":
            target = arg["commit"]["path"]
            self.files["dropbox"].append(Stored(target, bytes(data)))
            del self.dropbox_sessions[cursor["session_id"]]
            return Reply.json(
                200, {"name": target.rsplit("/", 1)[-1], "path_display": target, "size": len(data)}
            )
        return Reply.json(400, {"error_summary": "bad"})

    # Slack ---------------------------------------------------------------------------------------

    def _slack(self, req: Seen, path: str) -> Reply:
        urlencoded = req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        form = (
            dict(urllib.parse.parse_qsl(req.body.decode())) if urlencoded and req.host == "slack.com" else {}
        )
        form.update(req.query)
        if path == "/api/files.getUploadURLExternal":
            fid = "F" + self.new_id()
            self.slack_files[fid] = {"name": form["filename"], "length": int(form["length"]), "data": None}
            return Reply.json(
                200,
                {
                    "ok": True,
                    "upload_url": f"https://files.slack.com/upload/v1/{fid.lower()}tok",
                    "file_id": fid,
                },
            )
        if req.host == "files.slack.com":
            token = path.rsplit("/", 1)[-1].removesuffix("tok").upper()
            multipart = req.headers.get("content-type", "").startswith("multipart/")
            self.slack_files[token]["data"] = form_parts(req)[0][2] if multipart else req.body
            return Reply(200, f"OK - {len(req.body)}".encode(), [("content-type", "text/plain")])
        if path == "/api/files.upload":  # the retired one-request upload (a form with the file)
            parts = form_parts(req)
            fields = {name: (filename, data) for name, filename, data in parts}
            name = fields.get("filename", (None, b""))[1].decode() or fields["file"][0] or "file"
            self.files["slack"].append(Stored(name, fields["file"][1]))
            self.slack_shared.append(name)
            return Reply.json(200, {"ok": True, "file": {"id": "F" + self.new_id(), "name": name}})
        if path == "/api/files.completeUploadExternal":
            listed = json.loads(form["files"])
            for f in listed:
                entry = self.slack_files[f["id"]]
                self.files["slack"].append(Stored(entry["name"], entry["data"]))
                self.slack_shared.append(f["id"])
                self.slack_posted.append((f["id"], form.get("channel_id", "")))
            return Reply.json(200, {"ok": True, "files": [{"id": f["id"]} for f in listed]})
        if path == "/api/conversations.info":
            return Reply.json(200, {"ok": True, "channel": self._slack_channel(form["channel"])})
        if path == "/api/conversations.list":
            return Reply.json(
                200, {"ok": True, "channels": [self._slack_channel(c) for c in self.slack_channels]}
            )
        if path == "/api/files.sharedPublicURL":
            self.shares.append(Shared("slack", path, form))
            return Reply.json(200, {"ok": True, "file": {"id": form["file"], "public_url_shared": True}})
        return Reply.json(200, {"ok": False, "error": "unknown_method"})

    def _slack_channel(self, cid: str) -> dict[str, Any]:
        """A conversation object as Slack documents it (the fields that say who shares it)."""
        partners = self.slack_channels.get(cid, [])
        return {
            "id": cid,
            "name": cid.lower(),
            "is_channel": True,
            "is_shared": bool(partners),
            "is_ext_shared": bool(partners),
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "context_team_id": "T0OURS",
            "connected_team_ids": ["T0OURS", *partners] if partners else [],
        }


def form_parts(req: Seen) -> list[tuple[str, str | None, bytes]]:
    """``(name, filename, data)`` of each part of a multipart/form-data body, in order (parsed
    with the standard library, independently of the gateway's parser)."""
    head = b"Content-Type: " + req.headers["content-type"].encode() + b"\r\n\r\n"
    msg = email.message_from_bytes(head + req.body, policy=email.policy.compat32)
    out: list[tuple[str, str | None, bytes]] = []
    for part in _parts(msg):
        name = part.get_param("name", header="content-disposition") or ""
        filename = part.get_filename()
        raw = next((v for k, v in part._headers if k.lower() == "content-disposition"), "")  # type: ignore[attr-defined]
        if filename is not None and isinstance(raw, str) and not raw.isascii():
            # a browser's raw UTF-8 name: the parser keeps its bytes as surrogates
            found = re.search(r'filename="([^"]*)"', raw)
            if found:
                filename = found.group(1).encode("ascii", "surrogateescape").decode("utf-8")
        out.append((str(name), filename, _bytes(part)))
    return out


def _send(conn: h11.Connection, event: h11.Event) -> bytes:
    data = conn.send(event)
    assert data is not None
    return data


def _parts(msg: email.message.Message) -> list[email.message.Message]:
    payload = msg.get_payload()
    assert isinstance(payload, list)
    return [p for p in payload if isinstance(p, email.message.Message)]


def _bytes(part: email.message.Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


class FakeOrigin:
    """The HTTPS server every fake host resolves to (through the test's host map)."""

    def __init__(self, certs: OriginCerts) -> None:
        self.certs = certs
        self.providers = Providers()
        self.received: list[Seen] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.certs.chain)
        ctx.set_alpn_protocols(["http/1.1"])
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ctx)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def saw(self, host: str, needle: bytes | None = None) -> list[Seen]:
        """Requests to ``host`` (whose body contains ``needle``, when given)."""
        return [s for s in self.received if s.host == host and (needle is None or needle in s.body)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request: h11.Request | None = None
                body = bytearray()
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(65536)
                        conn.receive_data(data)
                        if not data and conn.their_state is not h11.DONE:
                            return
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                    elif isinstance(event, h11.EndOfMessage):
                        break
                    else:
                        return
                assert request is not None
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                seen = Seen(
                    request.method.decode(),
                    headers.get("host", "").split(":")[0],
                    request.target.decode(),
                    headers,
                    bytes(body),
                    [(k.decode().lower(), v.decode()) for k, v in request.headers],
                )
                self.received.append(seen)
                reply = self.providers.handle(seen)
                head = [*reply.headers]
                if not any(k == "content-length" for k, _ in head):
                    head.append(("content-length", str(len(reply.body))))
                writer.write(_send(conn, h11.Response(status_code=reply.status, headers=head)))
                if reply.body:
                    writer.write(_send(conn, h11.Data(data=reply.body)))
                writer.write(_send(conn, h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, ssl.SSLError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class MapHosts:
    """A mitmproxy addon standing in for DNS: every fake host's connections go to the fake
    origin on loopback, while mitmproxy still sees (and verifies TLS for) the real name."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._names: dict[str, tuple[str, int]] = {}

    def server_connect(self, data: Any) -> None:
        address = data.server.address
        if address is not None and address[0] in ALL_HOSTS:
            self._names[data.server.id] = address
            data.server.address = ("127.0.0.1", self.port)

    def server_connected(self, data: Any) -> None:
        name = self._names.pop(data.server.id, None)
        if name is not None:
            # mitmproxy refuses to change the address of an open connection; restore the name
            # directly so that it reuses this connection for the next request to the same host.
            data.server.__dict__["address"] = name
