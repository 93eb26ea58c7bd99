"""Debian's Postfix in front: a private Postfix instance (its own config and queue under a
temporary folder) hands every mail to Sekimori as an after-queue content filter; Sekimori
delivers back to Postfix's reinjection port (no filter there), and Postfix relays to the sink.
Held mail comes out after its grace period; refused mail bounces through Postfix."""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.config import Config, load_config
from tests.gateway.conftest import (
    Gateway,
    Sink,
    eventually,
    free_port,
    make_mail,
    start_gateway,
    write_config,
)

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DAEMONS = "/usr/lib/postfix/sbin"

MASTER_CF = """\
{listen}   inet n - n - - smtpd
{reinject} inet n - n - - smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_relay_restrictions=permit_mynetworks,reject
sekimori   unix - - n - 4 smtp
  -o smtp_send_xforward_command=yes
  -o disable_mime_output_conversion=yes
pickup     unix n - n 60 1 pickup
cleanup    unix n - n - 0 cleanup
qmgr       unix n - n 300 1 qmgr
rewrite    unix - - n - - trivial-rewrite
bounce     unix - - n - 0 bounce
defer      unix - - n - 0 bounce
trace      unix - - n - 0 bounce
verify     unix - - n - 1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n - - proxymap
smtp       unix - - n - - smtp
relay      unix - - n - - smtp
showq      unix n - n - - showq
error      unix - - n - - error
retry      unix - - n - - error
discard    unix - - n - - discard
anvil      unix - - n - 1 anvil
scache     unix - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


class PrivatePostfix:
    def __init__(self, base: Path, *, gateway_port: int, sink_port: int) -> None:
        self.base = base
        self.etc = base / "etc"
        self.listen = free_port()
        self.reinject = free_port()
        self.gateway_port = gateway_port
        self.sink_port = sink_port

    def write(self) -> None:
        self.base.chmod(0o755)  # Postfix daemons run as the postfix user and enter the queue
        self.etc.mkdir()
        (self.base / "spool").mkdir()
        (self.base / "data").mkdir()
        shutil.chown(self.base / "data", "postfix", "postfix")
        main = f"""\
compatibility_level = 3.6
config_directory = {self.etc}
queue_directory = {self.base / "spool"}
data_directory = {self.base / "data"}
daemon_directory = {DAEMONS}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.sekimori.test
mydomain = sekimori.test
myorigin = example.co.jp
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{self.sink_port}
content_filter = sekimori:[127.0.0.1]:{self.gateway_port}
smtpd_relay_restrictions = permit_mynetworks, reject
local_recipient_maps =
alias_maps =
alias_database =
smtp_tls_security_level = none
maillog_file = {self.base / "maillog"}
maillog_file_prefixes = {self.base}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
delay_warning_time = 0
"""
        (self.etc / "main.cf").write_text(main, encoding="utf-8")
        (self.etc / "master.cf").write_text(
            MASTER_CF.format(listen=f"127.0.0.1:{self.listen}", reinject=f"127.0.0.1:{self.reinject}"),
            encoding="utf-8",
        )

    def run(self, *args: str) -> None:
        subprocess.run([POSTFIX, "-c", str(self.etc), *args], check=True, capture_output=True, timeout=60)

    def log(self) -> str:
        p = self.base / "maillog"
        return p.read_text(encoding="utf-8", errors="replace") if p.exists() else ""


@pytest.fixture
async def chain(tmp_path: Path, sink: Sink) -> AsyncIterator[tuple[PrivatePostfix, Gateway]]:
    gateway_port = free_port()
    # Not under tmp_path: pytest makes its parents 0700, and Postfix's daemons are not root.
    base = Path(tempfile.mkdtemp(prefix="sekimori-postfix-", dir="/tmp"))
    pf = PrivatePostfix(base, gateway_port=gateway_port, sink_port=sink.port)
    cfg: Config = load_config(write_config(tmp_path, upstream_port=pf.reinject))
    cfg = cfg.model_copy(update={"smtp": cfg.smtp.model_copy(update={"port": gateway_port})})
    gw = await start_gateway(cfg)
    pf.write()
    pf.run("check")
    pf.run("start")
    try:
        yield pf, gw
    finally:
        try:
            pf.run("stop")
        finally:
            await gw.stop()
            shutil.rmtree(base, ignore_errors=True)


def submit(port: int, sender: str, rcpts: list[str], data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, rcpts, data)


async def test_postfix_content_filter_round_trip(chain: tuple[PrivatePostfix, Gateway], sink: Sink) -> None:
    pf, _ = chain
    sender = "taro@example.co.jp"
    ok = make_mail(to=["hanako@example.co.jp"], subject="through postfix")
    held = make_mail(to=["x@hold.test"], subject="held via postfix")
    refused = make_mail(to=["z@partner.test"], subject="refused", body="マイナンバー 1234 5678 9018\n")
    for rcpt, data in (("hanako@example.co.jp", ok), ("x@hold.test", held), ("z@partner.test", refused)):
        await asyncio.to_thread(submit, pf.listen, sender, [rcpt], data)

    def have(rcpt: str, subject_part: str) -> bool:
        return any(subject_part in str(m.message["Subject"]) for m in sink.to(rcpt))

    try:
        await eventually(lambda: _true(have("hanako@example.co.jp", "through postfix")), within=60)
        await eventually(lambda: _true(have("x@hold.test", "held via postfix")), within=60)
        # Postfix bounces what Sekimori refused (550 5.7.1), and Sekimori tells the sender too.
        await eventually(
            lambda: _true(
                any(
                    m.mail_from == "<>" and "Undelivered" in str(m.message["Subject"])
                    for m in sink.to(sender)
                )
            ),
            within=60,
        )
        await eventually(
            lambda: _true(any("送信を停止しました" in str(m.message["Subject"]) for m in sink.to(sender))),
            within=60,
        )
    except AssertionError:
        raise AssertionError(pf.log()[-4000:]) from None
    got = next(m for m in sink.to("hanako@example.co.jp") if "through postfix" in str(m.message["Subject"]))
    assert got.message["X-Sekimori-Verdict"].startswith("deliver")
    received = got.message.get_all("Received") or []
    assert len(received) >= 3, "postfix -> sekimori -> postfix reinjection"
    assert not sink.to("z@partner.test")
    bounce = next(
        m for m in sink.to(sender) if m.mail_from == "<>" and "Undelivered" in str(m.message["Subject"])
    )
    assert "5.7.1" in bounce.data.decode("utf-8", "replace")


async def _true(value: bool) -> bool:
    return value
