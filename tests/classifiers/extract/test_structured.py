"""XML and JSON files are scanned by their values, not their markup."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import scan_bytes
from classifiers.extract import extract_file
from classifiers.extract.structured import json_to_text, xml_to_text
from classifiers.limits import Deadline, Limits

LINK = "https://www.dropbox.com/scl/fi/abc123/meibo.xlsx?rlkey=xyz&dl=0"


def text_of(data: bytes, name: str) -> str:
    limits = Limits(max_seconds=5)
    return extract_file(data, name, limits, Deadline(5)).parts[0].text


def test_xml_values_entities_decoded_one_line_per_element():
    xml = (
        '<?xml version="1.0" encoding="Shift_JIS"?>\n<doc title="接続情報">\n'
        "  <line>password: 6e2uezY!TxUF</line>\n"
        f"  <line>共有先: {LINK.replace('&', '&amp;')}</line>\n"
        '  <field name="生年月日">1985-04-12</field>\n</doc>\n'
    )
    text = text_of(xml.encode("cp932"), "info.xml")
    assert text == f"接続情報\npassword: 6e2uezY!TxUF\n共有先: {LINK}\n生年月日 1985-04-12\n"
    found = {(f.type, f.value) for f in scan_bytes(xml.encode("cp932"), "info.xml").findings}
    assert ("credential", "6e2uezY!TxUF") in found
    assert ("share_link", LINK) in found
    assert ("date_of_birth", "1985-04-12") in found


def test_json_values_as_key_value_lines():
    data = {
        "title": "名簿",
        "body": ["パスワード: DvQ8PD$85ZU", "", "二行目"],
        "n": [{"tel": 312345678}],
        "ok": True,
    }
    text = text_of(json.dumps(data, ensure_ascii=False).encode(), "x.json")
    assert text == "title: 名簿\nbody: パスワード: DvQ8PD$85ZU\n二行目\ntel: 312345678\n"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b; 090-1234-5678</x>', "bomb.xml"),
        (b"<x><y>unclosed 090-1234-5678", "broken.xml"),
        (b'{"tel": "090-1234-5678", ', "broken.json"),
        (b"[" * 100_000 + b'"090-1234-5678"' + b"]" * 100_000, "deep.json"),
    ],
)  # fmt: skip
def test_documents_that_do_not_parse_are_scanned_raw(data, name):
    text = text_of(data, name)
    assert "090-1234-5678" in text
    assert [f.value for f in scan_bytes(data, name).findings if f.type == "phone_number"] == ["090-1234-5678"]


def test_output_is_capped_and_deadline_stops():
    xml = "<r>" + "<v>値</v>" * 200_000 + "</r>"
    text, cut = xml_to_text(xml, 1000) or ("", None)
    assert cut == "text_bytes" and len(text) <= 1000
    assert xml_to_text(xml, 10**9, Deadline(0)) == ("", "time")
    data = json.dumps(["値"] * 200_000)
    text, cut = json_to_text(data, 1000) or ("", None)
    assert cut == "text_bytes" and len(text) <= 1000


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_junk_never_raises(junk):
    for convert in (xml_to_text, json_to_text):
        result = convert(junk, 1000)
        assert result is None or len(result[0]) <= 1000
