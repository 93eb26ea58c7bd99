"""How fast the download listener serves a file, against a plain static file on the same stack.

One server process runs uvicorn with two apps on two ports: the download listener
(``gateway.links.web``) over a real SQLite store holding a 10 MB attachment, made the way
delivery makes it (sealed with AES-256-GCM, one link for one outside recipient), and a bare
Starlette app serving the same 10 MB from a plain file with ``FileResponse`` (the baseline). The
client, in this process, fetches the file over loopback with httpx: each download through the
link is a real one (the grant checked, the download counted and audited in the store, the file
opened and decrypted). Three alternating rounds of 12 downloads each; the best round of each
side counts. Printed as a ratio to the static file; the target is at least 0.5.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SIZE = 10 * 1000 * 1000
PER_ROUND, ROUNDS = 12, 3
RCPT = "kyaku@bench.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail(data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "taro@example.co.jp"
    msg["To"] = RCPT
    msg["Subject"] = "図面データ"
    msg.set_content("図面をお送りします。\n")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="図面.bin")
    return msg.as_bytes()


async def _prepare(tmp: Path, port: int, data: bytes) -> tuple[object, str, str]:
    """A store with one message delivered through a link: the Links service, the file's path on
    the download listener and a grant for it."""
    from gateway.config import load_config
    from gateway.links.service import Links
    from gateway.store import State, open_store
    from policies.model import AttachmentSelect, LinkPlan

    cfg = tmp / "bench.yaml"
    cfg.write_text(
        f"store: {{path: {tmp}/var}}\nui: {{enabled: false}}\n"
        f"links: {{base_url: 'http://127.0.0.1:{port}', port: {port}, max_downloads: 100,"
        f" open_domains: [bench.example], notify_first_download: false}}\nsecret: {'b' * 40}\n",
        encoding="utf-8",
    )
    config = load_config(cfg)
    store = await open_store(config.store)
    raw = _mail(data)
    rec = await store.accept(raw, sender="taro@example.co.jp", recipients=[RCPT], subject="図面データ")
    plan = LinkPlan((RCPT,), (AttachmentSelect(),))
    rec = await store.transition(
        rec.id,
        State.DELIVERING,
        actor="bench",
        reason="bench",
        decision={"action": "link_attachments", "link": plan.to_dict()},
    )
    links = Links(config, store, clock=lambda: datetime.now(UTC))
    rec, copies = await links.prepare(rec, raw, [RCPT])
    assert copies, "the attachment became a link"
    link_id = rec.meta["links"]["to"][RCPT]
    return links, f"/l/{links.token(link_id)}/files/0", links.grant(link_id)


def _serve(tmp: str, link_port: int, static_port: int, pipe: Connection) -> None:
    import uvicorn
    import uvloop
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    from gateway.links.web import build_server

    data = os.urandom(SIZE)
    plain = Path(tmp) / "plain.bin"
    plain.write_bytes(data)

    async def main() -> None:
        links, path, grant = await _prepare(Path(tmp), link_port, data)
        downloads = build_server(links, "127.0.0.1", link_port)  # type: ignore[arg-type]
        static = Starlette(
            routes=[Route("/file", lambda request: FileResponse(plain), methods=["GET", "POST"])]
        )
        baseline = uvicorn.Server(
            uvicorn.Config(
                static,
                host="127.0.0.1",
                port=static_port,
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
            )
        )
        tasks = [asyncio.create_task(downloads.serve()), asyncio.create_task(baseline.serve())]
        for _ in range(3000):  # until both listen
            if downloads.started and baseline.started:
                break
            await asyncio.sleep(0.02)
        pipe.send((path, grant, data[:64]))
        await asyncio.gather(*tasks)

    uvloop.run(main())


def _round(client: httpx.Client, method: str, url: str, form: dict[str, str], head: bytes) -> float:
    t0 = time.perf_counter()
    for _ in range(PER_ROUND):
        r = client.request(method, url, data=form or None)
        if r.status_code != 200 or len(r.content) != SIZE or r.content[:64] != head:
            raise RuntimeError(f"{url}: {r.status_code}, {len(r.content)} bytes")
    return PER_ROUND * SIZE / (time.perf_counter() - t0) / 1e6


def main() -> int:
    ctx = multiprocessing.get_context("spawn")
    link_port, static_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        parent, child = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(tmp, link_port, static_port, child), daemon=True)
        server.start()
        try:
            if not parent.poll(120):
                raise RuntimeError("the download listener did not start")
            path, grant, head = parent.recv()
            link_url, static_url = (
                f"http://127.0.0.1:{link_port}{path}",
                f"http://127.0.0.1:{static_port}/file",
            )
            best_link = best_static = 0.0
            with httpx.Client(timeout=60) as client:
                _round(client, "GET", static_url, {}, head)  # warm up both
                client.post(link_url, data={"grant": grant})
                for _ in range(ROUNDS):
                    best_static = max(best_static, _round(client, "GET", static_url, {}, head))
                    best_link = max(best_link, _round(client, "POST", link_url, {"grant": grant}, head))
            print(
                f"bench_downloads: a {SIZE // 1_000_000} MB attachment over loopback, uvicorn + Starlette both"
            )
            print(
                f"  download page {best_link:7.1f} MB/s vs static file {best_static:7.1f} MB/s"
                f" = {best_link / best_static:4.2f}x (target >= 0.5)"
            )
        finally:
            server.terminate()
            server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
