"""``sekimori run --demo``: one line says what started, the demo sink shows what it received."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from gateway.config import load_config
from tests.gateway.conftest import free_port, make_mail, send, write_config

ROOT = Path(__file__).resolve().parents[2]


async def test_run_demo_shows_the_whole_path(tmp_path: Path) -> None:
    cfg_path = write_config(tmp_path, upstream_port=free_port())
    cfg = load_config(cfg_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--demo",
        "--config",
        str(cfg_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    try:
        started = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert started.startswith(f"sekimori: SMTP relay on 127.0.0.1:{cfg.smtp.port}")
        assert f"demo sink on 127.0.0.1:{cfg.upstream.port}" in started
        assert f"quarantine UI on http://127.0.0.1:{cfg.ui.port}/" in started
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", cfg.ui.port), 30)
        writer.write(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
        assert status.startswith(b"HTTP/1.1 200"), status
        data = make_mail(to=["hanako@example.co.jp"], subject="はじめての送信")
        code, _ = await send(cfg.smtp.port, "taro@example.co.jp", ["hanako@example.co.jp"], data)
        assert code == 250
        shown = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert shown.startswith("[demo sink] #1 from <taro@example.co.jp> to hanako@example.co.jp")
        assert "はじめての送信" in shown and "verdict=deliver" in shown
        # The line shows no scanned value: a My Number in a subject is masked as in the UI.
        data = make_mail(to=["hanako@example.co.jp"], subject="マイナンバー 1234 5678 9018 の件")
        await send(cfg.smtp.port, "taro@example.co.jp", ["hanako@example.co.jp"], data)
        shown = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert "の件" in shown and "9018" not in shown and "1234" not in shown, shown
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_run_demo_starts_the_upload_gate_with_its_ca_and_pac(tmp_path: Path) -> None:
    """``make run``'s configuration has a proxy: section; ``--demo`` makes a CA on first start, the
    UI serves the PAC file, and an upload with a My Number is refused through the proxy."""
    from tests.gateway.proxy.conftest import UPLOAD_POLICY
    from tests.gateway.proxy.fakes import FakeOrigin, OriginCerts

    origin = FakeOrigin(OriginCerts.make(tmp_path / "origin"))
    await origin.start()
    proxy_port = free_port()
    extra = (
        f"proxy:\n  port: {proxy_port}\n  upstream_trust: {origin.certs.ca_pem}\n"
        f"  rules:\n    - name: files\n      hosts: ['127.0.0.1:{origin.port}']\n      body: raw\n"
    )
    cfg_path = write_config(tmp_path, upstream_port=free_port(), extra=extra)
    cfg = load_config(cfg_path)
    cfg.policy.path.write_text(UPLOAD_POLICY, encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "run",
        "--demo",
        "--config",
        str(cfg_path),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    try:
        made = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert made.startswith("sekimori: created a demo CA in")
        started = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert f"upload gate (HTTP(S) proxy) on 127.0.0.1:{proxy_port}" in started
        assert "(PAC file at /proxy.pac)" in started
        import ssl

        import httpx

        assert cfg.proxy is not None and cfg.proxy.ca is not None
        trust = ssl.create_default_context(cafile=str(cfg.proxy.ca / "mitmproxy-ca-cert.pem"))
        async with httpx.AsyncClient(timeout=30) as ui:
            pac = await ui.get(f"http://127.0.0.1:{cfg.ui.port}/proxy.pac")
        assert pac.headers["content-type"] == "application/x-ns-proxy-autoconfig"
        assert '"upload.box.com"' in pac.text and f"PROXY 127.0.0.1:{proxy_port}" in pac.text
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{proxy_port}", verify=trust, timeout=30) as c:
            r = await c.put(
                f"https://127.0.0.1:{origin.port}/share/顧客.txt",
                content="マイナンバー 1234 5678 9018".encode(),
            )
        assert r.status_code == 403 and r.headers["x-sekimori-verdict"] == "refused"
        assert origin.received == []
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await origin.stop()
