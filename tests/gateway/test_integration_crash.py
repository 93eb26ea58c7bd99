"""Crash safety: the gateway process is killed with SIGKILL at random moments while a few
hundred messages flow, then restarted. Every message that got 250 must end delivered or in the
state its policy chose; duplicates are counted and bounded by what was in flight at the kills."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import aiosmtplib
import pytest

from gateway.config import load_config
from gateway.store import State
from gateway.store.sqlite import SQLiteStore
from tests.gateway.conftest import Sink, eventually, make_mail, write_config

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 240
CLIENTS = 8
KILLS = 3


class GatewayProcess:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "run",
            "--config",
            str(self.config),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        assert line.startswith(b"sekimori: SMTP relay on"), line

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                await self.kill()


def kind_of(n: int) -> str:
    return ("deliver", "deliver", "deliver", "hold", "quarantine")[n % 5]


RCPT = {
    "deliver": "user{n}@example.co.jp",
    "hold": "user{n}@hold.test",
    "quarantine": "user{n}@quarantine.test",
}


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path, sink: Sink) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    cfg_path = write_config(tmp_path, upstream_port=sink.port)
    cfg = load_config(cfg_path)
    gw = GatewayProcess(cfg_path)
    await gw.start()
    accepted: dict[str, str] = {}
    todo = list(range(MESSAGES))

    async def client() -> None:
        while todo:
            n = todo.pop(0)
            kind = kind_of(n)
            rcpt = RCPT[kind].format(n=n)
            tag = f"T{n:04d}"
            data = make_mail(to=[rcpt], subject=tag, body=f"message {tag}\n")
            try:
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=cfg.smtp.port, timeout=20, start_tls=False)
                await smtp.connect()
                try:
                    await smtp.sendmail("taro@example.co.jp", [rcpt], data)
                finally:
                    smtp.close()
            except (aiosmtplib.SMTPException, OSError):
                todo.append(n)  # no 250: the client keeps the message and retries, as an MTA does
                await asyncio.sleep(0.1)
                continue
            accepted[tag] = kind

    async def killer() -> None:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            await gw.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            await gw.start()

    try:
        await asyncio.gather(killer(), *(client() for _ in range(CLIENTS)))
        assert len(accepted) == MESSAGES, f"seed {seed}"
        await gw.kill()  # one more crash after the last 250, then the final run
        await gw.start()

        def user_mail() -> Counter[str]:
            return Counter(
                str(m.message["Subject"]) for m in sink.messages if not m.message["Auto-Submitted"]
            )

        must_arrive = {t for t, k in accepted.items() if k in ("deliver", "hold")}

        async def all_arrived() -> bool:
            return must_arrive <= set(user_mail())

        try:
            await eventually(all_arrived, within=90)
        except AssertionError:
            missing = sorted(must_arrive - set(user_mail()))
            store = await SQLiteStore.open(cfg.store.path)
            try:
                recs = [r for r in await store.list_messages(limit=100_000) if r.subject in missing]
            finally:
                await store.close()
            detail = [(r.subject, r.state.value, r.owner, r.lease_until, r.last_error) for r in recs]
            raise AssertionError(f"seed {seed}: {len(missing)} not delivered: {detail[:10]}") from None
    finally:
        await gw.stop()

    store = await SQLiteStore.open(cfg.store.path)
    try:
        records = await store.list_messages(limit=100_000)
    finally:
        await store.close()
    by_subject: dict[str, list[State]] = {}
    for rec in records:
        by_subject.setdefault(rec.subject, []).append(rec.state)
    for tag, kind in accepted.items():
        if kind == "quarantine":
            assert State.QUARANTINED in by_subject.get(tag, []), f"{tag} lost (seed {seed})"
        else:
            assert State.DELIVERED in by_subject.get(tag, []), f"{tag} not recorded delivered (seed {seed})"
    counts = user_mail()
    assert not any(tag.startswith("T") and kind_of(int(tag[1:])) == "quarantine" for tag in counts)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    in_flight_bound = (KILLS + 1) * (cfg.upstream.concurrency + CLIENTS)
    print(f"seed={seed} accepted={len(accepted)} duplicates={duplicates} bound={in_flight_bound}")
    assert duplicates <= in_flight_bound, f"seed {seed}"
