"""``sekimori proxy``: the upload gate alone; it will not start without its section or its CA."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path

import httpx
import pytest

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_refuses_without_a_proxy_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"secret: {'s' * 40}\n", encoding="utf-8")
    assert main(["proxy", "--config", str(cfg)]) == 2
    assert "no proxy: section" in capsys.readouterr().err


def test_refuses_without_a_ca_and_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"secret: {'s' * 40}\nstore: {{path: {tmp_path / 'var'}}}\nproxy: {{}}\n", encoding="utf-8"
    )
    assert main(["proxy", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "proxy.ca" in err and "sekimori ca init" in err
    assert not (tmp_path / "var" / "proxy-ca").exists()  # mitmproxy never made one silently


async def test_runs_the_upload_gate_alone_with_worker_processes(tmp_path: Path) -> None:
    """The real entry point in its own process, classifying in its worker pool (``scan.workers:
    1``, a process, not the event loop): a clean upload reaches the origin byte for byte, one with
    a My Number is refused before it, and both verdicts are in the store the command opened."""
    from gateway.audit import verify_store
    from gateway.config import load_config
    from gateway.store import ItemKind, State, open_store
    from tests.gateway.proxy.conftest import CLEAN, MY_NUMBER, make_ca, write_config
    from tests.gateway.proxy.fakes import FakeOrigin, OriginCerts

    origin = FakeOrigin(OriginCerts.make(tmp_path / "origin"))
    await origin.start()
    rule = f"    - {{name: files, hosts: ['127.0.0.1:{origin.port}'], methods: [PUT], body: raw}}\n"
    cfg_path = write_config(tmp_path, origin, rules=rule)
    cfg_path.write_text(cfg_path.read_text().replace("workers: 0", "workers: 1"), encoding="utf-8")
    config = load_config(cfg_path)
    assert config.proxy is not None and config.proxy.ca is not None and config.scan.worker_count == 1
    make_ca(config)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "proxy",
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
        assert f"upload gate (HTTP(S) proxy) on 127.0.0.1:{config.proxy.port}" in started
        trust = ssl.create_default_context(cafile=str(config.proxy.ca / "mitmproxy-ca-cert.pem"))
        trust.load_verify_locations(str(origin.certs.ca_pem))
        url = f"https://127.0.0.1:{origin.port}/share/"
        async with httpx.AsyncClient(proxy=f"http://127.0.0.1:{config.proxy.port}", verify=trust) as c:
            ok = await c.put(url + "議事録.txt", content=CLEAN)
            bad = await c.put(url + "顧客.txt", content=MY_NUMBER)
        assert ok.status_code == 200 and ok.headers["x-sekimori-inspection"] == "complete"
        assert bad.status_code == 403 and bad.headers["x-sekimori-verdict"] == "refused"
        assert [s.body for s in origin.received] == [CLEAN]
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)  # reads stdout to its end: no pipe left open
        assert proc.returncode == 0
        await origin.stop()
    store = await open_store(config.store)
    try:
        recs = {r.subject: r for r in await store.list_messages(kinds={ItemKind.UPLOAD})}
        assert (recs["議事録.txt"].state, recs["顧客.txt"].state) == (State.PASSED, State.REFUSED)
        assert (await verify_store(store)).ok
    finally:
        await store.close()
