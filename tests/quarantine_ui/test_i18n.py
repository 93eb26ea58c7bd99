from __future__ import annotations

import re
from pathlib import Path

import quarantine_ui
from gateway.bilingual import mismatched
from quarantine_ui.config import ROLES
from quarantine_ui.i18n import MESSAGES, pick_language, translator
from quarantine_ui.links import ACTIONS

TEMPLATES = Path(quarantine_ui.__file__).parent / "templates"
_KEY = re.compile(r"""\bt\(\s*"([a-z0-9_.]+)"(?:\s*[,)])""")
_DYNAMIC = re.compile(r"""\bt\(\s*"([a-z0-9_.]+)"\s*~""")


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(MESSAGES) == {"ja", "en"}
    assert mismatched(MESSAGES) == []


def test_every_key_used_in_templates_exists() -> None:
    used: set[str] = set()
    prefixes: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        used.update(_KEY.findall(text))
        prefixes.update(_DYNAMIC.findall(text))
    assert used, "no t() calls found: the pattern is out of date"
    assert used <= set(MESSAGES["ja"])
    # Keys built as "role." ~ role (~ ".about"), "home.via." ~ via and "link." ~ action ~ ".title".
    assert prefixes == {
        "role.",
        "home.via.",
        "link.",
        "action.",
        "entity.",
        "state.",
        "messages.filter.",
        "audit.action.",
        "header.",
        "mail.justification.",
        "service.",
        "sharing.",
        "kind.",
        "upload.next.",
        "state.upload.",
        "mail.holder.",
    }
    from classifiers.detectors import entity_types
    from gateway.store import State
    from quarantine_ui.dashboard import ACTIONS as DECISIONS

    for lang in ("ja", "en"):
        t = translator(lang)
        for name in entity_types():  # named by their detector modules
            assert t(f"entity.{name}") not in (f"entity.{name}", name)
    for state in State:
        assert f"state.{state.value}" in MESSAGES["ja"]
    for decision in DECISIONS:
        assert f"action.{decision}" in MESSAGES["ja"]
    from gateway.store import UPLOAD_ALLOWED, ItemKind

    for state in UPLOAD_ALLOWED:  # what to do next, for every state of an upload
        assert f"upload.next.{state.value}" in MESSAGES["ja"]
    for kind in (ItemKind.MAIL, ItemKind.UPLOAD):
        assert f"kind.{kind.value}" in MESSAGES["ja"]
    for scope in ("anyone", "organization", "specific"):  # the one sharing vocabulary
        assert f"sharing.{scope}" in MESSAGES["ja"]
    from quarantine_ui.features.messages import FILTERS
    from quarantine_ui.mailview import SHOWN_HEADERS

    for name in FILTERS:
        assert f"messages.filter.{name}" in MESSAGES["ja"]
    for header in SHOWN_HEADERS:
        assert f"header.{header}" in MESSAGES["ja"]
    for state_name in ("pending_approval", "quarantined"):
        assert f"mail.justification.{state_name}" in MESSAGES["ja"]
    for holder in ("person", "organisation"):  # Finding.holder (classifiers.holders)
        assert f"mail.holder.{holder}" in MESSAGES["ja"]
    for action in ACTIONS:
        for part in ("title", "explain", "submit", "done"):
            assert f"link.{action}.{part}" in MESSAGES["ja"]
    for reason in ("used", "expired", "invalid", "unknown", "not_held"):
        assert f"link.error.{reason}" in MESSAGES["ja"]
    for role in ROLES:
        assert f"role.{role}" in MESSAGES["ja"] and f"role.{role}.about" in MESSAGES["ja"]
    assert {"home.via.password", "home.via.sso"} <= set(MESSAGES["ja"])


def test_japanese_is_japanese() -> None:
    t = translator("ja")
    assert t("login.title") == "ログイン"
    assert translator("en")("login.title") == "Log in"
    assert t("home.welcome", name="山田") == "山田 さん、ようこそ。"


def test_unknown_language_and_key_fall_back() -> None:
    assert translator("fr")("login.title") == "ログイン"
    assert translator("en")("no.such.key") == "no.such.key"


def test_pick_language() -> None:
    assert pick_language(None, None, "ja") == "ja"
    assert pick_language("en", None, "ja") == "en"
    assert pick_language(None, "en", "ja") == "en"
    assert pick_language("ja", "en", "ja") == "ja"
    assert pick_language("<script>", "xx", "en") == "en"
