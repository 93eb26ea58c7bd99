"""The refusal: JSON or HTML by Accept, Japanese first, each refused file with its rules, the
reference and whom to ask; a hostile file name stays text."""

from __future__ import annotations

import json

import pytest

from classifiers import ScanResult
from gateway.pipeline import Inspection
from gateway.proxy.adapter import ItemVerdict, UploadItem, Verdict
from gateway.proxy.verdict import Contact, accepts_html, pass_headers, refusal
from gateway.store import State, UploadFacts
from policies import Action, Decision, Envelope
from policies.model import RuleMatch

RULE = RuleMatch(
    "r-block", "マイナンバー禁止", "No My Number", "含まれています", "Contains one", Action.BLOCK, ()
)


def verdict(state: State, *, name: str = "顧客.csv", errors: tuple[str, ...] = ()) -> Verdict:
    decision = Decision(Action.BLOCK, (), (RULE,))
    scan = ScanResult(parts=(), records=0, errors=errors)
    envelope = Envelope(direction="upload", sender="", recipients=())
    item = UploadItem(UploadFacts(service="box", host="upload.box.com", filename=name), 10)
    return Verdict([ItemVerdict(item, Inspection(scan, decision, envelope), state, "01REF")])


CONTACT = Contact(ui_url="https://sekimori.example.co.jp", security="security@example.co.jp")


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json, text/plain, */*", False),
        ("*/*", False),
        ("", False),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0.1, application/json", False),
    ],
)
def test_html_only_for_clients_that_prefer_it(accept: str, html: bool) -> None:
    assert accepts_html(accept) is html


def test_json_names_rule_reference_and_how_to_ask() -> None:
    status, headers, body = refusal(verdict(State.REFUSED), "application/json", CONTACT)
    assert status == 403 and ("X-Sekimori-Reference", "01REF") in headers
    doc = json.loads(body)
    assert doc["reference"] == "01REF" and doc["items"][0]["rules"][0]["title"] == {
        "ja": "マイナンバー禁止",
        "en": "No My Number",
    }
    assert "security@example.co.jp" in doc["approval"]["ja"] and doc["approval"]["url"] == CONTACT.ui_url
    assert doc["items"][0]["fully_inspected"] is True


def test_html_is_japanese_first_and_escapes_names() -> None:
    _, headers, body = refusal(
        verdict(State.PENDING_APPROVAL, name="<script>x</script>.csv"), "text/html", CONTACT
    )
    page = body.decode()
    assert ("Content-Type", "text/html; charset=utf-8") in headers
    assert page.index("承認が必要です") < page.index("This upload needs approval")
    assert "<script>x" not in page and "&lt;script&gt;x" in page


def test_what_was_not_inspected_is_said() -> None:
    _, _, body = refusal(
        verdict(State.QUARANTINED, errors=("the upload is over the inspection limit",)), "", CONTACT
    )
    item = json.loads(body)["items"][0]
    assert item["fully_inspected"] is False and item["not_inspected"] == [
        "the upload is over the inspection limit"
    ]


def test_pass_headers_say_whether_it_was_inspected() -> None:
    assert dict(pass_headers(verdict(State.PASSED)))["X-Sekimori-Inspection"] == "complete"
    assert dict(pass_headers(verdict(State.PASSED, errors=("x",))))["X-Sekimori-Inspection"] == "incomplete"
