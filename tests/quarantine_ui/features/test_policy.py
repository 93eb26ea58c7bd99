"""The policy editor: validation, simulation, activation and rollback, as pages and API."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.cli import main
from tests.quarantine_ui.features.people import (
    SEC,
    TARO,
    api_headers,
    client_for,
    csrf,
)
from tests.quarantine_ui.features.people import people as people
from tests.quarantine_ui.mailfix import POLICY, MailEnv
from tests.quarantine_ui.mailfix import mail as mail

POLICY_BROKEN = """\
version: 1
organisation:
  internal_domains: [example.jp]
rules:
  - id: hold-external
    title: {ja: 保留, en: Hold}
    description: {ja: 保留します, en: Held}
    when: {recipients: external}
    action: {type: hold, grace: 15m}
  - id: oops
    title: {ja: 誤り, en: Typo}
    description: {ja: 誤り, en: Typo}
    when: {recipients: external}
    action: {type: blok}
"""

POLICY_STRICT = """\
version: 1
organisation:
  internal_domains: [example.jp]
rules:
  - id: hold-external
    title: {ja: 社外宛て送信保留, en: Grace period for external mail}
    description: {ja: 保留します, en: Held}
    when: {recipients: external}
    action: {type: hold, grace: 15m}
  - id: quarantine-partner
    title: {ja: 取引先宛て隔離, en: Quarantine mail to the partner}
    description: {ja: 隔離します, en: Quarantined}
    when: {recipient_domain: {in: [partner.example]}}
    action: quarantine
"""


def test_policy_editor_validation_simulation_activation_and_rollback(
    mail: MailEnv, people: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mail.put(TARO, ["x@partner.example"], subject="取引先宛")
    mail.put(TARO, ["y@other.example"], subject="他社宛")
    sec = client_for(mail, people, SEC)
    assert "hold-external" in sec.get("/policy").text
    token = csrf(sec, "/policy")
    r = sec.post("/policy", data={"csrf_token": token, "text": POLICY_BROKEN, "op": "validate"})
    assert r.status_code == 422
    assert 'class="bad-line" id="line-14"' in r.text and "14 行目" in r.text and "blok" in r.text
    # The excerpt keeps each line's indentation (shown as written: white-space: pre).
    assert '<li value="14" class="bad-line" id="line-14"><code>    action: {type: blok}</code></li>' in r.text
    assert '<li value="13"><code>    when: {recipients: external}</code></li>' in r.text
    assert ".listing code { white-space: pre; }" in sec.get("/static/style.css").text
    r = sec.post("/policy", data={"csrf_token": token, "text": POLICY_STRICT, "op": "simulate"})
    assert r.status_code == 200 and 'id="simulation"' in r.text
    assert "最近のメール 2 通のうち 1 通で判定が変わります" in r.text
    # Action names and rule titles in the page's language; the rule id on hover.
    simulation = r.text.split('id="simulation"', 1)[1].split("</section>", 1)[0]
    assert "取引先宛" in simulation and "<strong>隔離</strong>" in simulation
    assert '<span class="rule" title="quarantine-partner">取引先宛て隔離</span>' in simulation
    assert "quarantine" not in simulation.replace('title="quarantine-partner"', "")
    r = sec.post(
        "/policy", data={"csrf_token": token, "text": POLICY_STRICT, "op": "activate", "comment": "取引先"}
    )
    assert r.status_code == 303
    # The configured file is never rewritten: the version in force is kept in the versions folder.
    active = mail.env.ui.config.var_dir / "policies" / "active.yaml"
    assert mail.policy_path.read_text(encoding="utf-8") == POLICY
    assert active.read_text(encoding="utf-8") == POLICY_STRICT
    assert mail.env.ui.mailroom is not None and mail.env.ui.mailroom.policy is not None
    assert mail.env.ui.mailroom.policy.source == active
    # ``sekimori policy`` lists and exports the versions.
    var = str(mail.env.ui.config.var_dir)
    assert main(["policy", "export", "--var", var]) == 0
    assert capsys.readouterr().out == POLICY_STRICT
    assert main(["policy", "versions", "--var", var]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("  v1 ") and listed[1].startswith("* v2 ") and "取引先" in listed[1]
    assert main(["policy", "export", "--var", var, "--version", "1"]) == 0
    assert capsys.readouterr().out == POLICY
    page = sec.get("/policy").text.split('id="versions"', 1)[1]
    # Versions in local time (the UI's zone), not ISO 8601 strings.
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", page) and "+00:00" not in page
    assert "最初のポリシー（UI で変更する前のもの）" in page
    versions = sec.get("/api/policy").json()["versions"]
    assert [(v["version"], v["active"], v["by"]) for v in versions] == [(2, True, SEC), (1, False, "")]
    r = sec.post("/api/policy/rollback", json={"version": 1}, headers=api_headers(sec))
    assert r.json() == {"status": "activated", "version": 3}
    assert "quarantine-partner" not in active.read_text(encoding="utf-8")
    assert mail.policy_path.read_text(encoding="utf-8") == POLICY
    policy_events = [(e.action, e.actor, e.extra["version"]) for e in mail.events("policy")]
    assert policy_events == [("policy_activate", f"admin:{SEC}", 2), ("policy_rollback", f"admin:{SEC}", 3)]
    bad = sec.post("/api/policy/validate", json={"text": POLICY_BROKEN}, headers=api_headers(sec))
    assert bad.status_code == 422 and bad.json()["errors"][0]["line"] == 14
