"""The audit log: filters, exports in one schema, verification."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.auditexport import EXPORT_FIELDS
from gateway.cli import main
from tests.quarantine_ui.features.people import (
    AUDITOR,
    HANAKO,
    TARO,
    api_headers,
    client_for,
    csrf,
)
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import MailEnv
from tests.quarantine_ui.mailfix import mail as mail


def test_auditor_reads_filters_exports_and_verifies(mail: MailEnv, people: Any) -> None:
    held = mail.put(TARO, ["x@partner.example"])
    taro = client_for(mail, people, TARO)
    taro.post(f"/messages/{held.id}/cancel", data={"csrf_token": csrf(taro)})
    auditor = client_for(mail, people, AUDITOR)
    page = auditor.get(f"/audit?actor=sender:{TARO}").text
    assert "cancelled by the sender" in page and "policy: hold" not in page
    lines = auditor.get(f"/audit/export?format=jsonl&msg_id={held.id}").text.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["accept", "transition", "transition"]
    exported = auditor.get("/api/audit/export?format=csv").content
    # UTF-8 with a BOM, so that Excel in Japanese Windows reads it as UTF-8, not Shift_JIS.
    assert exported.startswith(b"\xef\xbb\xbfseq,at,actor,action,") and b"\r\n" in exported
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    mail_rows = [r for r in rows[1:] if r[4] == held.id]
    assert rows[0][:4] == ["seq", "at", "actor", "action"] and len(mail_rows) == 3
    assert {r[3] for r in rows[1:] if r[4] == "accounts"} == {"login_success"}
    assert auditor.get("/api/audit/verify").json()["ok"] is True
    assert (
        "改ざん検証" in auditor.get("/audit?verify=1").text
        and 'id="verify-result"' in auditor.get("/audit?verify=1").text
    )
    # Read-only: the auditor cannot act on mail.
    r = auditor.post(f"/api/messages/{held.id}/release", json={}, headers=api_headers(auditor))
    assert r.status_code in (403, 404)


def test_every_audit_export_names_the_fields_alike(
    mail: MailEnv, people: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``sekimori audit list --format jsonl`` wrote ``from``/``to`` where the UI's
    export wrote ``from_state``/``to_state``. One documented schema for CLI, UI and API."""
    held = mail.put(TARO, ["x@partner.example"])
    auditor = client_for(mail, people, AUDITOR)
    ui_jsonl = [json.loads(line) for line in auditor.get("/audit/export?format=jsonl").text.splitlines()]
    api_jsonl = [json.loads(line) for line in auditor.get("/api/audit/export").text.splitlines()]
    header = next(
        csv.reader(io.StringIO(auditor.get("/audit/export?format=csv").content.decode("utf-8-sig")))
    )
    api_list = auditor.get("/api/audit").json()["events"]
    assert main(["audit", "list", "--var", str(tmp_path / "gw"), "--format", "jsonl", "--msg", held.id]) == 0
    cli_jsonl = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = ["seq", "at", "actor", "action", "msg_id", "from_state", "to_state", "reason", "extra"]
    names += ["prev_hash", "hash"]
    assert names == list(EXPORT_FIELDS)
    assert header == names
    for doc in (*ui_jsonl, *api_jsonl, *api_list, *cli_jsonl):
        assert list(doc) == names
    held_ui = [doc for doc in ui_jsonl if doc["msg_id"] == held.id]
    held_api = [doc for doc in api_list if doc["msg_id"] == held.id]
    assert held_ui[-1] == cli_jsonl[-1] == held_api[0]


def test_logins_failures_and_lockouts_are_in_the_audit_trail(mail: MailEnv, people: Any) -> None:
    client = client_for(mail, people, TARO)
    assert client.get("/").status_code == 200
    stranger = mail.env.client()
    for _ in range(5):
        stranger.get("/login")
        token = csrf(stranger, "/login")
        stranger.post("/login", data={"csrf_token": token, "address": HANAKO, "password": "wrong password!"})
    events = [(e.action, e.actor, e.extra["address"]) for e in mail.events("accounts")]
    assert ("login_success", f"user:{TARO}", TARO) in events
    assert events.count(("login_failure", f"user:{HANAKO}", HANAKO)) == 5
    assert ("lockout", f"user:{HANAKO}", HANAKO) in events
    # Never a password in the trail.
    assert not any("wrong password" in str(e.extra) + e.reason for e in mail.events("accounts"))
