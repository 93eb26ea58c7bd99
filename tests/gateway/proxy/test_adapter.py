"""The upload adapter over both real store backends: each decision leaves its item in the
upload life cycle's state, with the content only where people will look at it, every step in
the audit chain shared with mail."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classifiers import scan_bytes
from gateway import metrics
from gateway.audit import verify_store
from gateway.pipeline import Inspector, scan_summary
from gateway.proxy.adapter import Uploader, UploadItem, UploadJudge
from gateway.store import SQLiteStore, State, Store, UploadFacts
from gateway.store.redis import RedisStore
from policies import PolicyHolder

POLICY = """\
version: 1
organisation: {internal_domains: [example.co.jp]}
rules:
  - id: block-pii
    title: {ja: 禁止, en: Forbidden}
    description: {ja: 禁止, en: Forbidden}
    when: {all: [{direction: upload}, {entity: {type: my_number, min_score: 0.5}}]}
    action: block
  - id: warn-draft
    title: {ja: 確認, en: Check}
    description: {ja: 確認, en: Check}
    when: {direction: upload, attachment: {name: ["*下書き*"]}}
    action: {type: warn, valid_for: 1h}
  - id: review-secret
    title: {ja: 審査, en: Review}
    description: {ja: 審査, en: Review}
    when: {direction: upload, attachment: {name: ["*社外秘*"]}}
    action: quarantine
  - id: share-anyone
    title: {ja: 公開共有, en: Public sharing}
    description: {ja: 公開共有, en: Public sharing}
    when: {direction: upload, sharing_scope: [anyone]}
    action: block
"""


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "redis":
        s: Store = await RedisStore.open(
            request.getfixturevalue("redis_server").url, prefix=f"adapter-{secrets.token_hex(4)}:"
        )
    else:
        s = await SQLiteStore.open(tmp_path / "var")
    yield s
    await s.close()


@pytest.fixture
async def judge(store: Store, tmp_path: Path) -> AsyncIterator[UploadJudge]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    inspector = Inspector(PolicyHolder(policy), scan_time=5, workers=0)
    (tmp_path / "work").mkdir()
    yield UploadJudge(
        inspector, store, instance="test", clock=lambda: datetime.now(UTC), work=tmp_path / "work"
    )
    inspector.close()


def item(name: str, data: bytes) -> UploadItem:
    return UploadItem(UploadFacts(service="box", host="upload.box.com", filename=name), len(data), data=data)


TARO = Uploader("taro@example.co.jp", "10.0.0.5", "basic")


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 640, 480, 8, 2, 0, 0, 0))
    return head + chunk(b"IDAT", secrets.token_bytes(size)) + chunk(b"IEND", b"")


PHOTO = png(200_000)
GIF = b"GIF89a\x10\x00\x10\x00\x80\x00\x00" + bytes(200)


@pytest.mark.parametrize(
    ("name", "data", "state", "kept"),
    [
        ("議事録.txt", "本日の議事録".encode(), State.PASSED, False),
        ("名簿.txt", "マイナンバー 1234 5678 9018".encode(), State.REFUSED, False),
        ("下書き.docx", b"draft", State.HELD, True),
        ("社外秘.pdf", b"secret" * 20_000, State.QUARANTINED, True),  # large: classified by path
        ("写真.png", PHOTO, State.PASSED, False),  # a photo: listed, not read
        ("下書き.png", PHOTO, State.HELD, True),
        ("logo.gif", GIF, State.PASSED, False),
    ],
)
async def test_each_decision_leaves_its_state(
    judge: UploadJudge, store: Store, name: str, data: bytes, state: State, kept: bool
) -> None:
    verdict = await (await judge.judge([item(name, data)], TARO, method="POST")).settled()
    (v,) = verdict.items
    rec = await store.get(v.ref)
    assert rec is not None and rec.state is state and v.state is state
    assert rec.sender == "taro@example.co.jp" and rec.subject == name and rec.upload is not None
    assert rec.meta["content_kept"] is kept and rec.meta["identified_by"] == "basic"
    assert rec.meta["content_size"] == len(data) and len(rec.meta["content_sha256"]) == 64
    if kept:
        assert await store.load_raw(rec.id) == data
    if state is State.HELD:
        assert rec.release_at is not None  # until when the user may go on
    events = await store.audit_events(msg_id=rec.id)
    assert events[0].to_state == "received" and events[-1].to_state == state.value
    assert (await verify_store(store)).ok
    assert list((judge.work or Path()).iterdir()) == []  # no file of the item left behind


@pytest.mark.parametrize(("name", "data"), [("写真.png", PHOTO), ("logo.gif", GIF)])
async def test_a_picture_needs_no_classification_worker(
    store: Store, tmp_path: Path, name: str, data: bytes
) -> None:
    """There is no OCR: a picture whose name claims nothing else is listed, not read, so it is
    judged in the gateway on the scan the workers would have returned (they are never asked:
    here they cannot even start)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    inspector = Inspector(PolicyHolder(policy), scan_time=5, workers=1)
    inspector.close()
    judge = UploadJudge(inspector, store, instance="test", clock=lambda: datetime.now(UTC), work=tmp_path)
    verdict = await (await judge.judge([item(name, data)], TARO, method="PUT")).settled()
    (v,) = verdict.items
    rec = await store.get(v.ref)
    assert rec is not None and rec.state is State.PASSED
    assert rec.scan == scan_summary(scan_bytes(data, name))
    assert rec.meta["content_sha256"] == hashlib.sha256(data).hexdigest() == v.item.sha256


async def test_a_passing_photo_is_recorded_and_logged_once_whether_or_not_anyone_waits(
    judge: UploadJudge, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A passing photo's record is written while the request goes on (in one write, its digest
    computed by the store): it is recorded, counted and logged once, also when nobody waits
    for it (the client went away), and the verdict waited for carries the record."""
    before = metrics.UPLOADS.labels("box", "deliver")._value.get()
    caplog.set_level(logging.INFO, logger="sekimori.proxy")
    alone = await judge.judge([item("写真.png", PHOTO)], TARO, method="PUT")
    waited = await judge.judge([item("写真2.png", PHOTO)], TARO, method="PUT")
    (v,) = (await waited.settled()).items
    assert (
        v.record is not None
        and v.record.state is State.PASSED
        and v.item.sha256 == v.record.meta["content_sha256"]
    )
    assert alone.recording is not None
    for _ in range(200):  # nobody awaits it: it still completes
        if alone.recording.done():
            break
        await asyncio.sleep(0.01)
    rec = await store.get(alone.reference)
    assert rec is not None and rec.state is State.PASSED
    assert rec.meta["content_sha256"] == hashlib.sha256(PHOTO).hexdigest()
    await asyncio.sleep(0)  # the done callbacks run in the loop's next turn
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("upload ")]
    assert sorted(line.split(":")[0] for line in lines) == sorted([f"upload {rec.id}", f"upload {v.ref}"])
    assert metrics.UPLOADS.labels("box", "deliver")._value.get() == before + 2
    assert (await verify_store(store)).ok


async def test_a_picture_named_as_a_list_is_classified_as_one(judge: UploadJudge, store: Store) -> None:
    """A picture the name says is something else is read as both by the workers, and the
    disguise is shown."""
    verdict = await (await judge.judge([item("顧客.csv", PHOTO)], TARO, method="PUT")).settled()
    rec = await store.get(verdict.items[0].ref)
    assert rec is not None and rec.scan["parts"][0]["type_mismatch"] == ["name .csv"]


async def test_the_sharing_scope_a_service_reads_reaches_the_policy(judge: UploadJudge) -> None:
    facts = UploadFacts(service="box", host="api.box.com", filename="x", sharing_scope="anyone")
    verdict = await judge.judge([UploadItem(facts, 2, data=b"{}")], TARO)
    assert verdict.items[0].state is State.REFUSED
    assert verdict.items[0].inspection.decision.rule_ids == ("share-anyone",)


async def test_a_request_passes_only_if_every_item_does(judge: UploadJudge) -> None:
    verdict = await judge.judge(
        [item("a.txt", b"ok"), item("b.txt", "マイナンバー 1234 5678 9018".encode())], TARO
    )
    assert not verdict.allowed and [v.state for v in verdict.items] == [State.PASSED, State.REFUSED]
    assert verdict.reference == verdict.items[1].ref
