"""``sekimori queue``: the operator's view of the queue, through ``gateway.cli.main``."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import actions
from gateway.cli import main
from gateway.store import ItemKind, MessageRecord, SQLiteStore, State, UploadFacts
from tests.gateway.conftest import Gateway, Sink, make_mail, queue_id, send

RAW = b"Subject: test\r\n\r\nbody\r\n"
OPERATOR = f"operator:{getpass.getuser()}"


def _seed(var: Path, states: list[State]) -> list[MessageRecord]:
    """One message per state (reached through allowed transitions), in this order."""
    paths = {
        State.RECEIVED: [],
        State.HELD: [State.HELD],
        State.PENDING_APPROVAL: [State.PENDING_APPROVAL],
        State.QUARANTINED: [State.QUARANTINED],
        State.DELIVERING: [State.DELIVERING],
        State.DELIVERED: [State.DELIVERING, State.DELIVERED],
    }

    async def go() -> list[MessageRecord]:
        store = await SQLiteStore.open(var)
        out = []
        try:
            for i, state in enumerate(states):
                rec = await store.accept(
                    RAW, sender=f"user{i}@example.co.jp", recipients=["x@partner.example"], subject=f"件名{i}"
                )
                for step in paths[state]:
                    rec = await store.transition(rec.id, step, actor="policy", reason="seed")
                out.append(rec)
        finally:
            await store.close()
        return out

    return asyncio.run(go())


def _get(var: Path, msg_id: str) -> MessageRecord:
    async def go() -> MessageRecord:
        store = await SQLiteStore.open(var)
        try:
            rec = await store.get(msg_id)
        finally:
            await store.close()
        assert rec is not None
        return rec

    return asyncio.run(go())


def _events(var: Path, msg_id: str) -> list[tuple[str, str, str, str]]:
    async def go() -> list[tuple[str, str, str, str]]:
        store = await SQLiteStore.open(var)
        try:
            return [
                (e.from_state, e.to_state, e.actor, e.reason) for e in await store.audit_events(msg_id=msg_id)
            ]
        finally:
            await store.close()

    return asyncio.run(go())


def test_list_table_and_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    held, quarantined, done = _seed(tmp_path, [State.HELD, State.QUARANTINED, State.DELIVERED])
    assert main(["queue", "list", "--var", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ID")
    assert [line.split()[0] for line in lines[1:4]] == [done.id, quarantined.id, held.id]
    assert [line.split()[1] for line in lines[1:4]] == ["delivered", "quarantined", "held"]
    assert "件名0" in lines[3]
    assert lines[-1] == "(3 message(s))"
    assert main(["queue", "list", "--var", str(tmp_path), "--state", "held", "--state", "quarantined"]) == 0
    out = capsys.readouterr().out
    assert held.id in out
    assert quarantined.id in out
    assert done.id not in out


def test_list_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (held,) = _seed(tmp_path, [State.HELD])
    assert main(["queue", "list", "--var", str(tmp_path), "--format", "jsonl"]) == 0
    (doc,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert doc["id"] == held.id
    assert doc["state"] == "held"
    assert doc["recipients"] == ["x@partner.example"]
    assert doc["subject"] == "件名0"


def test_show_prints_record_and_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (held,) = _seed(tmp_path, [State.HELD])
    assert main(["queue", "show", "--var", str(tmp_path), held.id]) == 0
    out = capsys.readouterr().out
    assert f"id:           {held.id}" in out
    assert "state:        held" in out
    assert "accept" in out
    assert "received -> held" in out
    assert "policy  seed" in out


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_local_with_their_zone_and_the_decision_is_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokyo: None
) -> None:
    (held,) = _seed(tmp_path, [State.RECEIVED])
    decision = {
        "action": "hold",
        "transforms": ["bcc"],
        "matches": [
            {
                "rule_id": "hold-external",
                "title_en": "Grace period for external mail",
                "action": "hold",
                "evidence": [
                    {"code": "external_recipients", "count": 1, "values": ["partner.example"], "locations": []},
                    {"code": "entity", "params": {"type": "my_number", "n": 2}, "count": 2,
                     "values": ["**** **** 9018"], "locations": ["list.csv!R2"]},
                ],
            }
        ],
    }  # fmt: skip

    async def decide() -> None:
        store = await SQLiteStore.open(tmp_path)
        try:
            await store.transition(held.id, State.HELD, actor="policy", reason="seed", decision=decision)
        finally:
            await store.close()

    asyncio.run(decide())
    assert main(["queue", "list", "--var", str(tmp_path)]) == 0
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST", capsys.readouterr().out)
    assert main(["queue", "show", "--var", str(tmp_path), held.id]) == 0
    out = capsys.readouterr().out
    assert re.search(r"received:     \d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST", out)
    assert "decision:     hold + bcc\n" in out
    assert "  hold-external: Grace period for external mail (hold)" in out
    assert "external recipients (1): partner.example" in out
    assert "2 × My Number: **** **** 9018 (in list.csv › row 2)" in out
    assert '"matches"' not in out
    assert main(["queue", "show", "--var", str(tmp_path), held.id, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"] == decision and doc["received_at"].endswith("+00:00")
    assert [e["action"] for e in doc["history"]] == ["accept", "transition"]
    assert main(["queue", "list", "--var", str(tmp_path), "--format", "json"]) == 0
    assert [d["id"] for d in json.loads(capsys.readouterr().out)] == [held.id]


def test_show_raw(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    (rec,) = _seed(tmp_path, [State.HELD])
    assert main(["queue", "show", "--var", str(tmp_path), "--raw", rec.id]) == 0
    assert capsysbinary.readouterr().out == RAW


@pytest.mark.parametrize("state", [State.HELD, State.QUARANTINED, State.PENDING_APPROVAL])
def test_release_hands_the_message_to_the_delivery_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: State
) -> None:
    (rec,) = _seed(tmp_path, [state])
    before = datetime.now(UTC)
    assert main(["queue", "release", "--var", str(tmp_path), rec.id, "--reason", "checked by phone"]) == 0
    assert capsys.readouterr().out == f"{rec.id}: delivering\n"
    after = _get(tmp_path, rec.id)
    assert after.state is State.DELIVERING
    assert after.owner is None
    assert after.next_attempt_at is not None
    assert before <= after.next_attempt_at <= datetime.now(UTC)
    *_, released, told = _events(tmp_path, rec.id)
    assert released == (state.value, "delivering", OPERATOR, "checked by phone")
    assert told == ("delivering", "delivering", "notify", "sender told of release")

    async def due() -> list[str]:
        store = await SQLiteStore.open(tmp_path)
        try:
            return [r.id for r in await store.due(datetime.now(UTC) + timedelta(seconds=1))]
        finally:
            await store.close()

    assert rec.id in asyncio.run(due())


@pytest.mark.parametrize(
    ("state", "action", "to"),
    [
        (State.HELD, "cancel", State.CANCELLED),
        (State.PENDING_APPROVAL, "cancel", State.REJECTED),
        (State.QUARANTINED, "delete", State.DELETED),
    ],
)
def test_cancel_and_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: State, action: str, to: State
) -> None:
    (rec,) = _seed(tmp_path, [state])
    assert main(["queue", action, "--var", str(tmp_path), rec.id]) == 0
    capsys.readouterr()
    after = _get(tmp_path, rec.id)
    assert after.state is to
    moves = [e for e in _events(tmp_path, rec.id) if e[0] != e[1]]
    assert moves[-1] == (state.value, to.value, OPERATOR, f"{action} by operator")
    assert after.has_raw is (to is not State.DELETED)


def test_delete_purges_body_of_finished_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (rec,) = _seed(tmp_path, [State.DELIVERED])
    assert main(["queue", "delete", "--var", str(tmp_path), rec.id, "--reason", "retention"]) == 0
    assert capsys.readouterr().out == f"{rec.id}: delivered (body removed)\n"
    after = _get(tmp_path, rec.id)
    assert (after.state, after.has_raw) == (State.DELIVERED, False)
    assert _events(tmp_path, rec.id)[-1] == ("delivered", "delivered", OPERATOR, "retention")


@pytest.mark.parametrize(
    ("state", "action", "says"),
    [
        (State.DELIVERED, "release", "cannot release a delivered message"),
        (State.DELIVERING, "cancel", "cannot cancel a delivering message"),
        (State.QUARANTINED, "cancel", "cannot cancel a quarantined message"),
        (State.HELD, "delete", "cannot delete a held message (cancel it first)"),
    ],
)
def test_refused_actions_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], state: State, action: str, says: str
) -> None:
    (rec,) = _seed(tmp_path, [state])
    history = _events(tmp_path, rec.id)
    assert main(["queue", action, "--var", str(tmp_path), rec.id]) == 1
    err = capsys.readouterr().err
    assert says in err
    assert 0 <= err.find("ません") < err.index(says)  # Japanese first, then English
    assert _get(tmp_path, rec.id) == rec
    assert _events(tmp_path, rec.id) == history


def test_unknown_id_and_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(tmp_path, [State.HELD])
    assert main(["queue", "release", "--var", str(tmp_path), "01NOPE"]) == 1
    assert "no such message: 01NOPE" in capsys.readouterr().err
    assert main(["queue", "list", "--var", str(tmp_path / "elsewhere")]) == 1
    assert "no Sekimori store here" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


def test_store_path_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    var = tmp_path / "spoolhere"
    (rec,) = _seed(var, [State.HELD])
    cfg = tmp_path / "sekimori.yaml"
    cfg.write_text(f"secret: {'s' * 40}\nstore:\n  path: {var}\n", encoding="utf-8")
    assert main(["queue", "list", "--config", str(cfg)]) == 0
    assert rec.id in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"secret: {'s' * 40}\nstore:\n  pth: x\n", encoding="utf-8")
    assert main(["queue", "list", "--config", str(bad)]) == 1
    assert f"{bad}:3" in capsys.readouterr().err


def test_purge_removes_old_finished_bodies_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    held, done, done2 = _seed(tmp_path, [State.HELD, State.DELIVERED, State.DELIVERED])
    assert main(["queue", "purge", "--var", str(tmp_path), "--older-than", "1d"]) == 0
    assert capsys.readouterr().out == "0 body(ies) removed\n"
    assert all(_get(tmp_path, r.id).has_raw for r in (held, done, done2))
    assert main(["queue", "purge", "--var", str(tmp_path), "--older-than", "0s"]) == 0
    assert capsys.readouterr().out == "2 body(ies) removed\n"
    assert _get(tmp_path, held.id).has_raw
    for rec in (done, done2):
        after = _get(tmp_path, rec.id)
        assert (after.state, after.has_raw) == (State.DELIVERED, False)
        assert _events(tmp_path, rec.id)[-1][2:] == (OPERATOR, "retention: finished more than 0s ago")


def test_purge_needs_a_valid_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["queue", "purge", "--var", str(tmp_path), "--older-than", "soon"])
    assert exc.value.code == 2
    assert "not a duration" in capsys.readouterr().err


async def test_cancel_of_a_message_waiting_for_approval_tells_the_sender(
    gateway: Gateway, sink: Sink, tmp_path: Path
) -> None:
    """Regression: `queue cancel` rejected a message waiting for approval without telling the
    sender, while rejecting it in the UI tells them. Both are the table's ``reject`` now."""
    sender = "taro@example.co.jp"
    code, reply = await send(gateway.port, sender, ["a@approval.test"], make_mail(to=["a@approval.test"]))
    assert code == 250
    msg_id = queue_id(reply)
    config = str(tmp_path / "sekimori.yaml")
    assert await asyncio.to_thread(main, ["queue", "cancel", "--config", config, msg_id]) == 0
    rec = await gateway.store.get(msg_id)
    assert rec is not None and rec.state is State.REJECTED
    # The notice is queued in the store; the running gateway delivers it like any other.
    await gateway.scheduler.tick()

    def told() -> bool:
        return any("送信されませんでした" in str(m.message["Subject"]) for m in sink.notifications(sender))

    await sink.wait_for(told)
    notes = [e for e in await gateway.store.audit_events(msg_id=msg_id) if e.action == "notify"]
    assert notes[-1].reason == "sender told of rejection"
    assert not sink.user_mail("a@approval.test")


@pytest.mark.parametrize(
    ("path", "verb", "to"),
    [
        ([State.QUARANTINED], "release", State.APPROVED),
        ([State.PENDING_APPROVAL], "cancel", State.REJECTED),
        ([State.QUARANTINED], "delete", State.DELETED),
    ],
)
def test_the_commands_act_on_uploads_through_the_same_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: list[State], verb: str, to: State
) -> None:
    async def seed() -> MessageRecord:
        store = await SQLiteStore.open(tmp_path)
        try:
            rec = await store.accept(RAW, kind=ItemKind.UPLOAD, sender="u@example.co.jp", recipients=())
            for step in path:
                rec = await store.transition(rec.id, step, actor="policy", reason="seed")
            return rec
        finally:
            await store.close()

    rec = asyncio.run(seed())
    assert main(["queue", verb, "--var", str(tmp_path), rec.id]) == 0
    assert capsys.readouterr().out.startswith(f"{rec.id}: {to.value}")
    assert _get(tmp_path, rec.id).state is to


def test_list_and_show_uploads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = UploadFacts(service="box", host="upload.box.com", filename="顧客.csv", tenant="4711")

    async def seed() -> MessageRecord:
        store = await SQLiteStore.open(tmp_path)
        try:
            await store.accept(RAW, sender="u@example.co.jp", recipients=["x@partner.example"])
            rec = await store.accept(
                b"a,b\r\n",
                kind=ItemKind.UPLOAD,
                sender="u@example.co.jp",
                recipients=(),
                subject=facts.filename,
                meta={"upload": facts.to_meta()},
            )
            rec = await store.transition(rec.id, State.QUARANTINED, actor="policy", reason="seed")
            return await actions.perform(
                store,
                rec,
                "release",
                actions.Actor(actions.Role.OPERATOR, "root"),
                now=rec.received_at,
                via="cli",
            )
        finally:
            await store.close()

    rec = asyncio.run(seed())
    assert main(["queue", "list", "--var", str(tmp_path), "--kind", "upload", "--format", "jsonl"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    listed = json.loads(line)
    assert (listed["id"], listed["kind"], listed["upload"]["service"], listed["pass"]["uses"]) == (
        rec.id,
        "upload",
        "box",
        1,
    )
    assert main(["queue", "show", "--var", str(tmp_path), rec.id]) == 0
    shown = capsys.readouterr().out
    assert "upload:       box upload.box.com tenant 4711" in shown
    assert "pass:         used 0 of 1, by operator:root" in shown


def _link(var: Path) -> MessageRecord:
    async def go() -> MessageRecord:
        store = await SQLiteStore.open(var)
        try:
            return await store.create(
                ItemKind.LINK,
                None,
                sender="taro@example.co.jp",
                recipients=("a@partner.example",),
                subject="図面",
                meta={
                    "link": {"mail": "M", "recipient": "a@partner.example", "files": [], "max_downloads": 5}
                },
                expires_at=datetime.now(UTC) + timedelta(days=7),
                actor="delivery",
                reason="link",
            )
        finally:
            await store.close()

    return asyncio.run(go())


def test_an_operator_extends_and_revokes_a_download_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = _link(tmp_path)
    assert main(["queue", "list", "--var", str(tmp_path), "--kind", "link"]) == 0
    assert link.id in capsys.readouterr().out
    later = (datetime.now() + timedelta(days=20)).date().isoformat()
    assert main(["queue", "extend", "--var", str(tmp_path), link.id, "--until", later]) == 0
    assert capsys.readouterr().out == f"{link.id}: open\n"
    assert _get(tmp_path, link.id).expires_at > link.expires_at + timedelta(days=12)  # type: ignore[operator]
    assert main(["queue", "shorten", "--var", str(tmp_path), link.id, "--until", later]) == 1
    assert "bad_expiry" in capsys.readouterr().err
    assert (
        main(["queue", "revoke", "--var", str(tmp_path), link.id, "--reason", "mis-sent, reported by phone"])
        == 0
    )
    assert _get(tmp_path, link.id).state is State.REVOKED
    assert _events(tmp_path, link.id)[-1] == ("open", "revoked", OPERATOR, "mis-sent, reported by phone")
    assert main(["queue", "revoke", "--var", str(tmp_path), link.id]) == 1
    assert "cannot revoke a revoked item" in capsys.readouterr().err


def test_control_characters_in_data_are_escaped_in_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: queue list printed CR/LF of subjects raw into the terminal."""

    async def go() -> MessageRecord:
        store = await SQLiteStore.open(tmp_path)
        try:
            return await store.accept(
                RAW, sender="taro@example.co.jp", recipients=["x@partner.example"],
                subject="件名\r\n偽の行\x1b[31m\u202e",
            )  # fmt: skip
        finally:
            await store.close()

    rec = asyncio.run(go())
    for argv in (["list"], ["list", "--format", "jsonl"], ["show", rec.id]):
        assert main(["queue", argv[0], "--var", str(tmp_path), *argv[1:]]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out, argv
        assert len([line for line in out.splitlines() if "偽の行" in line]) == 1, argv
