"""Every condition of the policy language, table-driven: (condition, message, does it hold)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifiers.model import ScanResult
from policies import Action, Envelope, HistoryView, evaluate
from policies.model import is_in_domains
from tests.policies.helpers import EMPTY, NOW, finding, mail, part, policy_with, rule_yaml, scan, upload

EXT = "sato@partner.example.com"


@dataclass(frozen=True)
class Known:
    """A history view: the (sender, domain) pairs written to before."""

    pairs: frozenset[tuple[str, str]]

    def has_written_to(self, sender: str, domain: str) -> bool:
        return (sender, domain) in self.pairs


def _history(*domains: str) -> HistoryView:
    return Known(frozenset(("taro.yamada@example.co.jp", d) for d in domains))


CC = finding("credit_card", "4111 1111 1111 1111")
MN = finding("my_number", "1234 5678 9018")

CASES: list[tuple[str, str, Envelope, ScanResult, HistoryView | None, bool]] = [
    # direction
    ("direction mail", "{direction: mail}", mail(EXT), EMPTY, None, True),
    ("direction mail vs upload", "{direction: mail}", upload(), EMPTY, None, False),
    ("direction upload", "{direction: upload}", upload(), EMPTY, None, True),
    # sender
    ("sender address glob", "{sender: {address: 'taro.*@example.co.jp'}}", mail(EXT), EMPTY, None, True),
    ("sender address other", "{sender: {address: 'hanako.*@example.co.jp'}}", mail(EXT), EMPTY, None, False),
    ("sender address case", "{sender: {address: Taro.Yamada@Example.co.jp}}", mail(EXT), EMPTY, None, True),
    ("sender domain", "{sender: {domain: example.co.jp}}", mail(EXT), EMPTY, None, True),
    (
        "sender subdomain",
        "{sender: {domain: example.co.jp}}",
        mail(EXT, sender="a@osaka.example.co.jp"),
        EMPTY,
        None,
        True,
    ),
    (
        "sender domain other",
        "{sender: {domain: example.co.jp}}",
        mail(EXT, sender="a@example.com"),
        EMPTY,
        None,
        False,
    ),
    ("sender group", "{sender: {group: sales}}", mail(EXT), EMPTY, None, True),
    ("sender group other", "{sender: {group: security}}", mail(EXT), EMPTY, None, False),
    (
        "sender group unknown person",
        "{sender: {group: sales}}",
        mail(EXT, sender="x@example.co.jp"),
        EMPTY,
        None,
        False,
    ),
    ("sender department", "{sender: {department: 営業部}}", mail(EXT), EMPTY, None, True),
    (
        "sender both must hold",
        "{sender: {group: sales, department: 情報セキュリティ室}}",
        mail(EXT),
        EMPTY,
        None,
        False,
    ),
    (
        "sender display name form",
        "{sender: {group: sales}}",
        mail(EXT, sender="山田 <taro.yamada@example.co.jp>"),
        EMPTY,
        None,
        True,
    ),
    # recipients internal / external
    ("recipients external", "{recipients: external}", mail(EXT), EMPTY, None, True),
    (
        "recipients external none",
        "{recipients: external}",
        mail("hanako.sato@example.co.jp"),
        EMPTY,
        None,
        False,
    ),
    ("recipients external bcc only", "{recipients: external}", mail(EXT, to=()), EMPTY, None, True),
    ("recipients external upload", "{recipients: external}", upload(), EMPTY, None, False),
    (
        "recipients internal",
        "{recipients: internal}",
        mail("hanako.sato@example.co.jp", "x@tokyo.example.co.jp"),
        EMPTY,
        None,
        True,
    ),
    (
        "recipients internal mixed",
        "{recipients: internal}",
        mail("hanako.sato@example.co.jp", EXT),
        EMPTY,
        None,
        False,
    ),
    ("recipients internal none", "{recipients: internal}", upload(), EMPTY, None, False),
    (
        "look-alike domain is external",
        "{recipients: external}",
        mail("a@example.co.jp.evil.com"),
        EMPTY,
        None,
        True,
    ),
    (
        "suffix-only domain is external",
        "{recipients: external}",
        mail("a@notexample.co.jp"),
        EMPTY,
        None,
        True,
    ),
    # number of external addresses in To+Cc
    (
        "ext addresses >= 3",
        "{external_addresses: {at_least: 3}}",
        mail("a@x.com", "b@x.com", "c@y.com"),
        EMPTY,
        None,
        True,
    ),
    (
        "ext addresses cc counts",
        "{external_addresses: {at_least: 3}}",
        mail("a@x.com", to=("a@x.com",), cc=("b@x.com", "c@y.com")),
        EMPTY,
        None,
        True,
    ),
    (
        "ext addresses internal not counted",
        "{external_addresses: {at_least: 3}}",
        mail("a@x.com", "b@x.com", "hanako.sato@example.co.jp"),
        EMPTY,
        None,
        False,
    ),
    (
        "ext addresses bcc not counted",
        "{external_addresses: {at_least: 3}}",
        mail("a@x.com", "b@x.com", "c@y.com", to=()),
        EMPTY,
        None,
        False,
    ),
    (
        "ext addresses duplicates once",
        "{external_addresses: {at_least: 3}}",
        mail("a@x.com", to=("a@x.com", "A@x.com"), cc=("a@x.com",)),
        EMPTY,
        None,
        False,
    ),
    ("ext addresses at_most", "{external_addresses: {at_most: 1}}", mail("a@x.com"), EMPTY, None, True),
    # number of distinct external domains
    (
        "ext domains same domain",
        "{external_domains: {at_least: 2}}",
        mail("a@x.com", "b@x.com"),
        EMPTY,
        None,
        False,
    ),
    ("ext domains two", "{external_domains: {at_least: 2}}", mail("a@x.com", "b@y.com"), EMPTY, None, True),
    (
        "ext domains bcc counted",
        "{external_domains: {at_least: 2}}",
        mail("a@x.com", "b@y.com", to=()),
        EMPTY,
        None,
        True,
    ),
    # recipient domain in / not in a list
    ("domain in", "{recipient_domain: {in: [example.com]}}", mail(EXT), EMPTY, None, True),
    ("domain in other", "{recipient_domain: {in: [example.org]}}", mail(EXT), EMPTY, None, False),
    (
        "domain not_in listed only",
        "{recipient_domain: {not_in: [example.com]}}",
        mail(EXT),
        EMPTY,
        None,
        False,
    ),
    (
        "domain not_in one outside",
        "{recipient_domain: {not_in: [example.com]}}",
        mail(EXT, "a@example.org"),
        EMPTY,
        None,
        True,
    ),
    (
        "domain not_in internal ignored",
        "{recipient_domain: {not_in: [example.com]}}",
        mail("hanako.sato@example.co.jp"),
        EMPTY,
        None,
        False,
    ),
    # a domain this sender never wrote to
    ("new domain", "{new_domain: true}", mail("a@example.org"), EMPTY, _history("partner.example.com"), True),
    ("known domain", "{new_domain: true}", mail(EXT), EMPTY, _history("partner.example.com"), False),
    (
        "new among known",
        "{new_domain: true}",
        mail(EXT, "a@example.org"),
        EMPTY,
        _history("partner.example.com"),
        True,
    ),
    ("no history view", "{new_domain: true}", mail("a@example.org"), EMPTY, None, False),
    ("internal never new", "{new_domain: true}", mail("hanako.sato@example.co.jp"), EMPTY, _history(), False),
    # entity type, count, score, location
    ("entity found", "{entity: {type: my_number}}", mail(EXT), scan(part(MN)), None, True),
    ("entity absent", "{entity: {type: my_number}}", mail(EXT), scan(part(CC)), None, False),
    (
        "entity low score",
        "{entity: {type: my_number}}",
        mail(EXT),
        scan(part(finding("my_number", "1", score=0.4))),
        None,
        False,
    ),
    (
        "entity min_score",
        "{entity: {type: my_number, min_score: 0.3}}",
        mail(EXT),
        scan(part(finding("my_number", "1", score=0.4))),
        None,
        True,
    ),
    (
        "entity min_count short",
        "{entity: {type: my_number, min_count: 2}}",
        mail(EXT),
        scan(part(MN)),
        None,
        False,
    ),
    (
        "entity min_count",
        "{entity: {type: my_number, min_count: 2}}",
        mail(EXT),
        scan(part(MN), part(MN, kind="attachment", filename="a.csv")),
        None,
        True,
    ),
    (
        "entity types add up",
        "{entity: {type: [my_number, credit_card], min_count: 2}}",
        mail(EXT),
        scan(part(MN, CC)),
        None,
        True,
    ),
    (
        "entity in attachment only",
        "{entity: {type: my_number, in: [attachment]}}",
        mail(EXT),
        scan(part(MN)),
        None,
        False,
    ),
    (
        "entity in attachment",
        "{entity: {type: my_number, in: [attachment]}}",
        mail(EXT),
        scan(part(), part(MN, kind="attachment", filename="a.csv")),
        None,
        True,
    ),
    (
        "entity in subject",
        "{entity: {type: credit_card, in: [subject]}}",
        mail(EXT),
        scan(part(CC, kind="subject")),
        None,
        True,
    ),
    # records
    ("records at threshold", "{records: {at_least: 50}}", mail(EXT), scan(part(), records=50), None, True),
    ("records below", "{records: {at_least: 50}}", mail(EXT), scan(part(), records=49), None, False),
    # confidential markings
    (
        "confidential any",
        "{confidential: true}",
        mail(EXT),
        scan(part(finding("confidential_marking", "社外秘"))),
        None,
        True,
    ),
    ("confidential none", "{confidential: true}", mail(EXT), EMPTY, None, False),
    (
        "confidential marking listed",
        "{confidential: {markings: [社外秘]}}",
        mail(EXT),
        scan(part(finding("confidential_marking", "【社外秘】"))),
        None,
        True,
    ),
    (
        "confidential marking not listed",
        "{confidential: {markings: [社外秘]}}",
        mail(EXT),
        scan(part(finding("confidential_marking", "極秘"))),
        None,
        False,
    ),
    (
        "confidential full-width",
        "{confidential: {markings: [confidential]}}",
        mail(EXT),
        scan(part(finding("confidential_marking", "ＣＯＮＦＩＤＥＮＴＩＡＬ"))),
        None,
        True,
    ),
    (
        "confidential label in metadata",
        "{confidential: {in: [metadata]}}",
        mail(EXT),
        scan(
            part(
                finding("confidential_marking", "Label: 社外秘"), kind="metadata", location="a.docx!metadata"
            )
        ),
        None,
        True,
    ),
    (
        "confidential label not in body",
        "{confidential: {in: [metadata]}}",
        mail(EXT),
        scan(part(finding("confidential_marking", "社外秘"))),
        None,
        False,
    ),
    # encrypted / not fully inspected
    (
        "encrypted",
        "{encrypted: true}",
        mail(EXT),
        scan(part(kind="attachment", filename="a.zip", encrypted=True)),
        None,
        True,
    ),
    ("not encrypted", "{encrypted: true}", mail(EXT), EMPTY, None, False),
    # a renamed or disguised file (name or declared type vs content)
    (
        "type mismatch",
        "{type_mismatch: true}",
        mail(EXT),
        scan(
            part(
                kind="attachment", filename="list.csv", content_type="image/gif", type_mismatch=("name .csv",)
            )
        ),
        None,
        True,
    ),
    ("no type mismatch", "{type_mismatch: true}", mail(EXT), EMPTY, None, False),
    ("type mismatch false", "{type_mismatch: false}", mail(EXT), EMPTY, None, True),
    ("encrypted false", "{encrypted: false}", mail(EXT), EMPTY, None, True),
    (
        "truncated by limit",
        "{truncated: true}",
        mail(EXT),
        scan(part(kind="attachment", filename="a.zip", truncated=("depth",))),
        None,
        True,
    ),
    (
        "truncated by error",
        "{truncated: true}",
        mail(EXT),
        scan(part(), errors=("extract: boom",)),
        None,
        True,
    ),
    ("truncated not by encryption", "{truncated: true}", mail(EXT), scan(part(encrypted=True)), None, False),
    (
        "not fully inspected encrypted",
        "{fully_inspected: false}",
        mail(EXT),
        scan(part(encrypted=True)),
        None,
        True,
    ),
    ("fully inspected", "{fully_inspected: true}", mail(EXT), EMPTY, None, True),
    # attachment type or name pattern
    (
        "attachment name",
        "{attachment: {name: '*.xlsx'}}",
        mail(EXT),
        scan(part(kind="attachment", filename="顧客.XLSX")),
        None,
        True,
    ),
    (
        "attachment name from envelope",
        "{attachment: {name: '*.xlsx'}}",
        mail(EXT, attachment_names=("list.xlsx",)),
        EMPTY,
        None,
        True,
    ),
    (
        "attachment name other",
        "{attachment: {name: '*.zip'}}",
        mail(EXT),
        scan(part(kind="attachment", filename="a.xlsx")),
        None,
        False,
    ),
    (
        "attachment type",
        "{attachment: {type: application/zip}}",
        mail(EXT),
        scan(part(kind="attachment", filename="a.zip", content_type="application/zip")),
        None,
        True,
    ),
    (
        "attachment type glob",
        "{attachment: {type: 'application/vnd.*'}}",
        mail(EXT),
        scan(part(kind="attachment", filename="a.zip", content_type="application/zip")),
        None,
        False,
    ),
    (
        "uploaded file name",
        "{attachment: {name: '*.csv'}}",
        upload(),
        scan(part(kind="file", filename="export.csv")),
        None,
        True,
    ),
    # message size
    ("size at least", "{size: {at_least: 10MB}}", mail(EXT, size=10_000_000), EMPTY, None, True),
    ("size below", "{size: {at_least: 10MB}}", mail(EXT, size=9_999_999), EMPTY, None, False),
    ("size from scan", "{size: {at_least: 1KiB}}", mail(EXT), scan(part(), size=1024), None, True),
    # uploads
    ("service", "{service: [box, google_drive]}", upload(service="Box"), EMPTY, None, True),
    ("service other", "{service: [box]}", upload(service="dropbox"), EMPTY, None, False),
    ("service none", "{service: [box]}", mail(EXT), EMPTY, None, False),
    ("host glob", "{host: ['*.dropbox.com']}", upload(host="content.dropbox.com"), EMPTY, None, True),
    ("host look-alike", "{host: ['*.dropbox.com']}", upload(host="dropbox.com.evil.net"), EMPTY, None, False),
    (
        "tenant in",
        "{tenant: {in: [example.onmicrosoft.com]}}",
        upload(tenant="Example.onmicrosoft.com"),
        EMPTY,
        None,
        True,
    ),
    (
        "tenant not_in ours",
        "{tenant: {not_in: [example.onmicrosoft.com]}}",
        upload(tenant="example.onmicrosoft.com"),
        EMPTY,
        None,
        False,
    ),
    (
        "tenant not_in other",
        "{tenant: {not_in: [example.onmicrosoft.com]}}",
        upload(tenant="other.onmicrosoft.com"),
        EMPTY,
        None,
        True,
    ),
    ("tenant not_in unknown", "{tenant: {not_in: [example.onmicrosoft.com]}}", upload(), EMPTY, None, True),
    ("sharing scope", "{sharing_scope: [anyone]}", upload(sharing_scope="Anyone"), EMPTY, None, True),
    (
        "sharing scope narrow",
        "{sharing_scope: [anyone, organization]}",
        upload(sharing_scope="specific"),
        EMPTY,
        None,
        False,
    ),
    ("sharing target", "{sharing_target: [folder]}", upload(sharing_target="folder"), EMPTY, None, True),
    ("sharing target file", "{sharing_target: [folder]}", upload(sharing_target="file"), EMPTY, None, False),
    ("sharing target unknown", "{sharing_target: [folder]}", upload(), EMPTY, None, False),
    ("link without expiry", "{link_expires: false}", upload(link_expires=False), EMPTY, None, True),
    ("link with expiry", "{link_expires: false}", upload(link_expires=True), EMPTY, None, False),
    ("link expiry not said", "{link_expires: false}", upload(), EMPTY, None, False),
    ("link expiry said", "{link_expires: true}", upload(link_expires=True), EMPTY, None, True),
    (
        "invitation outside",
        "{recipients: external}",
        upload(sharing_scope="specific", recipients=("a@partner.example",)),
        EMPTY,
        None,
        True,
    ),
    # combinators
    ("all holds", "{all: [{direction: mail}, {recipients: external}]}", mail(EXT), EMPTY, None, True),
    ("all fails", "{all: [{direction: mail}, {recipients: internal}]}", mail(EXT), EMPTY, None, False),
    ("any holds", "{any: [{direction: upload}, {recipients: external}]}", mail(EXT), EMPTY, None, True),
    ("any fails", "{any: [{direction: upload}, {recipients: internal}]}", mail(EXT), EMPTY, None, False),
    ("not holds", "{not: {recipients: internal}}", mail(EXT), EMPTY, None, True),
    ("not fails", "{not: {recipients: external}}", mail(EXT), EMPTY, None, False),
    ("keys of one node all hold", "{direction: mail, recipients: internal}", mail(EXT), EMPTY, None, False),
    (
        "nested",
        "{any: [{all: [{direction: upload}, {service: [box]}]}, {not: {direction: upload}}]}",
        upload(service="box"),
        EMPTY,
        None,
        True,
    ),
]


@pytest.mark.parametrize(
    ("when", "envelope", "result", "history", "holds"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_condition(
    tmp_path: Path,
    when: str,
    envelope: Envelope,
    result: ScanResult,
    history: HistoryView | None,
    holds: bool,
) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", when))
    decision = evaluate(policy, envelope, result, now=NOW, history=history)
    assert (decision.action is Action.BLOCK) is holds
    assert decision.rule_ids == (("r",) if holds else ())


def test_entity_evidence_is_redacted_with_locations(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", "{entity: {type: [credit_card, my_number]}}"))
    result = scan(
        part(CC, finding("credit_card", "4111 1111 1111 1111")),
        part(
            finding("my_number", "1234 5678 9018", location="名簿.xlsx!Sheet1!C3"),
            kind="attachment",
            filename="名簿.xlsx",
        ),
    )
    (match,) = evaluate(policy, mail(EXT), result, now=NOW).matches
    by_type = {e.entity_type: e for e in match.evidence}
    assert by_type["credit_card"].count == 2
    assert by_type["credit_card"].values == ("**** **** **** 1111",)  # one distinct value, redacted
    assert by_type["credit_card"].locations == ("body",)
    assert by_type["my_number"].values == ("**** **** 9018",)
    assert by_type["my_number"].locations == ("名簿.xlsx!Sheet1!C3",)
    assert all("4111 1111 1111 1111" not in v for e in match.evidence for v in e.values)


def test_evidence_of_counts_and_domains(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path,
        rule_yaml("r", "{external_domains: {at_least: 2}, records: {at_least: 3}}"),
    )
    result = scan(part(records=3, location="body"), records=3)
    (match,) = evaluate(policy, mail("a@x.com", "b@y.com"), result, now=NOW).matches
    domains, records = match.evidence
    assert (domains.count, domains.values) == (2, ("x.com", "y.com"))
    assert (records.count, records.locations) == (3, ("body",))


def test_any_collects_evidence_of_every_branch(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path, rule_yaml("r", "{any: [{entity: {type: my_number}}, {entity: {type: credit_card}}]}")
    )
    (match,) = evaluate(policy, mail(EXT), scan(part(MN, CC)), now=NOW).matches
    assert {e.entity_type for e in match.evidence} == {"my_number", "credit_card"}


def test_not_keeps_no_evidence_of_its_negated_branch(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, rule_yaml("r", "{not: {entity: {type: my_number}}}"))
    (match,) = evaluate(policy, mail(EXT), scan(part(CC)), now=NOW).matches
    assert match.evidence == ()


_LABELS = st.sampled_from(["example", "co", "jp", "com", "sub", "a", "mail", ""])


@given(
    st.lists(_LABELS, min_size=0, max_size=5).map(".".join),
    st.frozensets(st.lists(_LABELS.filter(bool), min_size=1, max_size=3).map(".".join), max_size=4),
)
def test_a_domain_is_in_a_list_as_itself_or_under_a_listed_parent(
    domain: str, listed: frozenset[str]
) -> None:
    """The list's own names, or any subdomain of a listed name of two labels or more (never of a
    bare top-level label such as ``jp``)."""
    expected = bool(domain) and any(
        domain == name or ("." in name and domain.endswith("." + name)) for name in listed
    )
    assert is_in_domains(domain, listed) == expected


#: Every row of the table whose condition may stand with ``link_attachments`` (a condition that
#: holds only for uploads is refused with it at load: mail_only_action).
LINKABLE = [c for c in CASES if c[1] != "{direction: upload}"]


@pytest.mark.parametrize(
    ("when", "envelope", "result", "history", "holds"),
    [c[1:] for c in LINKABLE],
    ids=[c[0] for c in LINKABLE],
)
def test_every_condition_can_choose_attachments_as_links(
    tmp_path: Path,
    when: str,
    envelope: Envelope,
    result: ScanResult,
    history: HistoryView | None,
    holds: bool,
) -> None:
    """Issue 15: ``link_attachments`` is usable with every condition; it plans links for the
    outside envelope recipients of a mail whenever its condition holds, and for no one else."""
    policy = policy_with(tmp_path, rule_yaml("r", when, "link_attachments"))
    decision = evaluate(policy, envelope, result, now=NOW, history=history)
    outside = tuple(
        dict.fromkeys(
            r for r in envelope.recipients if not is_in_domains(r.rpartition("@")[2], policy.internal_domains)
        )
    )
    planned = holds and envelope.direction == "mail" and bool(outside)
    assert decision.rule_ids == (("r",) if holds else ())
    assert (decision.link is not None) is planned
    assert decision.transforms == (("link_attachments",) if planned else ())
    if decision.link is not None:
        assert decision.link.recipients == outside
