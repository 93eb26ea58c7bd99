"""``sekimori ui``: the UI served over the gateway's store with the gateway's settings."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import httpx

from gateway.commands import ui
from gateway.config import load_config
from gateway.store.sqlite import SQLiteStore
from tests.gateway.conftest import free_port, write_config


def test_bad_config_is_refused(tmp_path: Path, capsys) -> None:
    args = argparse.Namespace(
        config=str(tmp_path / "missing.yaml"), host="127.0.0.1", port=1, insecure_cookies=True
    )
    assert ui.main(args) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_ui_config_shares_state_and_link_secret(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, upstream_port=free_port()))
    derived = ui.ui_config(config)
    assert derived.var_dir == config.store.path and derived.secret == config.secret_bytes
    assert derived.secure_cookies


async def test_serve_ui_answers_until_stopped(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, upstream_port=free_port()))
    store = await SQLiteStore.open(config.store.path)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(
        ui.serve_ui(config, store, None, host="127.0.0.1", port=port, stop=stop, secure_cookies=False)
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    r = await client.get("/login")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            assert r.status_code == 200 and "ログイン" in r.text
            assert (await client.get("/messages")).status_code == 303
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await store.close()
    assert (config.store.path / "ui.sqlite3").is_file()
