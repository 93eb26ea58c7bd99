"""The general inspection: worker processes scheduled as batch work, warmed up, classifying mail
and files (by bytes or by a spooled path) for the same policy."""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.mail import inspect_mail
from gateway.pipeline import FileContent, Inspector, KnownDomains, MailContent
from policies import Action, Envelope, PolicyHolder
from tests.gateway.conftest import make_mail

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
MY_NUMBER = "個人番号 1234 5678 9018\n"
UPLOAD = Envelope(
    direction="upload", sender="taro@example.co.jp", recipients=(), service="box", host="upload.box.com"
)


@pytest.fixture
def inspector() -> Iterator[Inspector]:
    found = Inspector(PolicyHolder(ROOT / "policies" / "default.yaml"), scan_time=10, workers=0)
    yield found
    found.close()


async def test_workers_run_as_batch_work_and_classify(tmp_path: Path) -> None:
    inspector = Inspector(PolicyHolder(ROOT / "policies" / "default.yaml"), scan_time=10, workers=1)
    try:
        # A worker process as the pool starts it: its initializer has run.
        assert inspector._pool is not None
        policy = await inspector._pool.call(os.sched_getscheduler, 0, kill_after=30)
        assert policy == os.SCHED_BATCH
        assert os.sched_getscheduler(0) != os.SCHED_BATCH, "the relay itself keeps its policy"
        mail = MailContent(make_mail(to=["a@example.co.jp"], body=MY_NUMBER))
        scan = await inspector.classify(mail)
        assert [f.type for f in scan.findings] == ["my_number"]
        # A spooled file crosses the process boundary as its path; the worker reads it.
        spooled = tmp_path / "part-0001"
        spooled.write_text("氏名,個人番号\n山田太郎,123456789018\n", encoding="utf-8")
        scan = await inspector.classify(FileContent("顧客.csv", "text/csv", path=str(spooled)))
        assert "my_number" in {f.type for f in scan.findings}
    finally:
        inspector.close()


async def test_a_mail_is_inspected_through_the_mail_adapter(inspector: Inspector) -> None:
    raw = make_mail(to=["tanaka@partner.example"], body=MY_NUMBER)
    inspection = await inspect_mail(
        inspector, raw, "taro@example.co.jp", ["tanaka@partner.example"], known_domains=(), now=NOW
    )
    assert inspection.decision.action is Action.BLOCK
    assert inspection.envelope.recipients == ("tanaka@partner.example",)
    assert inspection.envelope.to == ("tanaka@partner.example",)


@pytest.mark.parametrize("by", ["data", "path"])
async def test_an_upload_is_inspected_with_the_same_policy(
    inspector: Inspector, tmp_path: Path, by: str
) -> None:
    body = MY_NUMBER.encode()
    if by == "data":
        content = FileContent("memo.txt", "text/plain", data=body)
    else:
        (tmp_path / "spool").write_bytes(body)
        content = FileContent("memo.txt", "text/plain", path=str(tmp_path / "spool"))
    inspection = await inspector.inspect(
        content, UPLOAD, history=KnownDomains("taro@example.co.jp", ()), now=NOW
    )
    assert inspection.decision.action is Action.BLOCK
    assert "block-my-number-external" in inspection.decision.rule_ids
    clean = FileContent("memo.txt", "text/plain", data="議事録です。\n".encode())
    passed = await inspector.inspect(clean, UPLOAD, history=KnownDomains("taro@example.co.jp", ()), now=NOW)
    assert passed.decision.action is Action.DELIVER


async def test_names_found_inside_are_added_to_the_envelope(inspector: Inspector) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("中身/名簿.csv", "a,b\n")
    content = FileContent("archive.zip", "application/zip", data=buf.getvalue())
    envelope = dataclasses.replace(UPLOAD, attachment_names=("archive.zip",))
    inspection = await inspector.inspect(content, envelope, history=KnownDomains("x@y.jp", ()), now=NOW)
    assert inspection.envelope.attachment_names[0] == "archive.zip"
    assert any(n.endswith("名簿.csv") for n in inspection.envelope.attachment_names)


async def test_a_spooled_file_that_is_gone_is_not_fully_inspected(
    inspector: Inspector, tmp_path: Path
) -> None:
    content = FileContent("gone.csv", "text/csv", path=str(tmp_path / "missing"))
    scan = await inspector.classify(content)
    assert not scan.fully_inspected
    assert scan.errors and "cannot read the spooled file" in scan.errors[0]


def test_file_content_takes_bytes_or_a_path() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FileContent("a.txt")
    with pytest.raises(ValueError, match="exactly one"):
        FileContent("a.txt", data=b"x", path="/tmp/x")
