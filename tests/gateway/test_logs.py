"""The logs of a whole run (``sekimori run`` as a real process: SMTP, delivery, notices, the UI with
logins and the signed links of a notice, in text and in JSON): no token, signed link, password,
secret, scanned value or message text on any line; JSON logs are one object a line."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from gateway.cli import main
from gateway.logs import Redact
from tests.gateway.conftest import SECRET, Sink, free_port, make_mail, send, write_config

SENDER = "taro@example.co.jp"
PASSWORD = "correct horse battery staple"
MY_NUMBER = "1234 5678 9018"
PHONE = "090-1234-5678"
BODY = "極秘の見積もり本文です"


def test_redaction_of_links_tokens_and_secrets() -> None:
    r = Redact([SECRET])
    line = f'1.2.3.4 - "GET /a/{"x" * 30}.{"y" * 43} HTTP/1.1" 200 secret={SECRET} /l/abc?code=123456'
    out = r.scrub(line)
    assert "x" * 30 not in out and SECRET not in out and "123456" not in out and "/l/abc" not in out
    # An approval link on its way through the login carries its token in the next parameter.
    token = f"{'x' * 30}.{'y' * 43}"
    out = r.scrub(f'"GET /login/mfa?next=%2Fa%2F{token} HTTP/1.1" 200')
    assert "x" * 30 not in out and "y" * 43 not in out


async def _full_run(tmp_path: Path, sink: Sink, fmt: str) -> str:
    ui_port = free_port()
    links = free_port()
    extra = f"log: {{format: {fmt}}}\nlinks: {{port: {links}, base_url: 'http://127.0.0.1:{links}'}}\n"
    config = write_config(tmp_path, upstream_port=sink.port, extra=extra)
    text = config.read_text(encoding="utf-8").replace(
        "ui: {port:", f"ui: {{base_url: 'http://127.0.0.1:{ui_port}', port:"
    )
    text = re.sub(r"ui: \{base_url: '([^']+)', port: \d+", rf"ui: {{base_url: '\1', port: {ui_port}", text)
    config.write_text(text, encoding="utf-8")
    var = tmp_path / "var"
    assert main(["user", "add", SENDER, "--name", "山田 太郎", "--role", "sender", "--var", str(var)]) == 0
    stdin = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "user", "set-password", SENDER, "--var", str(var), stdin=stdin
    )
    await proc.communicate(PASSWORD.encode() + b"\n")
    gw = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "run", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert gw.stdout is not None
    started = await asyncio.wait_for(gw.stdout.readline(), 60)
    assert b"SMTP relay on" in started, (started, await gw.stderr.read() if gw.stderr else b"")
    smtp_port = int(re.search(rb"SMTP relay on 127\.0\.0\.1:(\d+)", started).group(1))  # type: ignore[union-attr]
    try:
        body = f"{BODY}\nマイナンバー {MY_NUMBER}\n電話 {PHONE}\n"
        code, _ = await send(
            smtp_port, SENDER, ["z@partner.test"], make_mail(to=["z@partner.test"], body=body)
        )
        assert code == 550  # My Number to the outside: blocked
        held = f"{BODY}\n電話 {PHONE}\n"
        code, _ = await send(smtp_port, SENDER, ["x@hold.test"], make_mail(to=["x@hold.test"], body=held))
        assert code == 250
        await sink.wait_for(
            lambda: any("【送信を取り消す】" in m.text for m in sink.notifications(SENDER)), 30
        )
        notice = next(m.text for m in sink.notifications(SENDER) if "【送信を取り消す】" in m.text)
        link = re.search(r"【送信を取り消す】\n(\S+)", notice).group(1)  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ui_port}", timeout=30) as ui:
            assert (await ui.get(link)).status_code == 200
            assert (await ui.post(link)).status_code == 200
            page = await ui.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            for pw in ("wrong password 123", PASSWORD):
                await ui.post(
                    f"/login?password={pw.replace(' ', '+')}",
                    data={"csrf_token": token, "address": SENDER, "password": pw},
                )
            assert (await ui.get("/readyz")).status_code in (200, 503)
            assert (await ui.get("/metrics")).status_code == 200
    finally:
        gw.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(gw.communicate(), 60)
    log = err.decode("utf-8", "replace")
    assert "GET /a/[redacted]" in log, "the access log names the route, not the token"
    token = link.rsplit("/", 1)[1]
    for secret in (token, token.split(".")[0], SECRET, PASSWORD, "wrong password 123", "wrong+password+123"):
        assert secret not in log, f"a secret in the log: {secret[:12]}…"
    for value in (MY_NUMBER, MY_NUMBER.replace(" ", ""), PHONE, BODY):
        assert value not in log, f"a scanned value in the log: {value}"
    # Each message's verdict is a line, as each upload's is: its id, the envelope, the rules.
    verdicts = re.findall(
        r"mail [0-9A-Z]{26}: from (\S+) to 1 recipient\(s\), \d+ bytes -> (\w+) rules=\S+", log
    )
    assert [v for v in verdicts if v[0] == SENDER] == [(SENDER, "block"), (SENDER, "hold")], verdicts
    return log


@pytest.mark.slow
async def test_text_logs_of_a_full_run_hold_no_secret(tmp_path: Path, sink: Sink) -> None:
    log = await _full_run(tmp_path, sink, "text")
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO ", log, re.M)


@pytest.mark.slow
async def test_json_logs_are_one_object_a_line_and_hold_no_secret(tmp_path: Path, sink: Sink) -> None:
    log = await _full_run(tmp_path, sink, "json")
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines
    for line in lines:
        doc = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(doc), line
    assert any(json.loads(line)["logger"] == "sekimori.access" for line in lines)
