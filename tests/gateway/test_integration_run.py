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
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
