"""Cloud share links: each service's share forms, and the same companies' non-share pages."""

from __future__ import annotations

import pytest

from classifiers.detectors import share_link as det
from classifiers.engine import default_engine

POSITIVES: list[tuple[str, str, str]] = [
    (
        "資料: https://app.box.com/s/abc123XYZ789 をご確認ください",
        "https://app.box.com/s/abc123XYZ789",
        "Box",
    ),
    ("https://contoso.app.box.com/s/q1w2e3r4t5y6", "https://contoso.app.box.com/s/q1w2e3r4t5y6", "Box"),
    ("https://contoso.box.com/s/q1w2e3r4t5y6.", "https://contoso.box.com/s/q1w2e3r4t5y6", "Box"),
    (
        "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrStUvWxYz/view?usp=sharing",
        "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOpQrStUvWxYz/view?usp=sharing",
        "Google Drive",
    ),
    (
        "フォルダ drive.google.com/drive/folders/1AbCdEfGhIjKlMnOp です",
        "drive.google.com/drive/folders/1AbCdEfGhIjKlMnOp",
        "Google Drive",
    ),
    (
        "https://docs.google.com/spreadsheets/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit#gid=0",
        "https://docs.google.com/spreadsheets/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit#gid=0",
        "Google Docs",
    ),
    (
        "https://docs.google.com/document/d/1a2b3c4d5e6f7g8h9i0j/edit?usp=sharing",
        "https://docs.google.com/document/d/1a2b3c4d5e6f7g8h9i0j/edit?usp=sharing",
        "Google Docs",
    ),
    (
        "https://docs.google.com/presentation/d/1a2b3c4d5e6f7g8h9i0j/view",
        "https://docs.google.com/presentation/d/1a2b3c4d5e6f7g8h9i0j/view",
        "Google Docs",
    ),
    ("共有リンク https://1drv.ms/x/s!AqK3bFmZ9yXwg0Zz", "https://1drv.ms/x/s!AqK3bFmZ9yXwg0Zz", "OneDrive"),
    (
        "https://onedrive.live.com/?authkey=%21AAbb&redeem=aHR0cHM6Ly8xZHJ2&cid=ABC123",
        "https://onedrive.live.com/?authkey=%21AAbb&redeem=aHR0cHM6Ly8xZHJ2&cid=ABC123",
        "OneDrive",
    ),
    (
        "https://contoso.sharepoint.com/:w:/s/Sales/EaBcDeFgHiJkLmNoP?e=AbCdEf",
        "https://contoso.sharepoint.com/:w:/s/Sales/EaBcDeFgHiJkLmNoP?e=AbCdEf",
        "SharePoint",
    ),
    (
        "https://contoso.sharepoint.com/:x:/r/sites/Finance/Shared%20Documents/Book.xlsx?d=w123",
        "https://contoso.sharepoint.com/:x:/r/sites/Finance/Shared%20Documents/Book.xlsx?d=w123",
        "SharePoint",
    ),
    (
        "(https://contoso-my.sharepoint.com/:f:/g/personal/taro_contoso_com/EkLmNoPqRs)",
        "https://contoso-my.sharepoint.com/:f:/g/personal/taro_contoso_com/EkLmNoPqRs",
        "SharePoint",
    ),
    (
        "https://www.dropbox.com/s/a1b2c3d4e5f6g7h/report.pdf?dl=0",
        "https://www.dropbox.com/s/a1b2c3d4e5f6g7h/report.pdf?dl=0",
        "Dropbox",
    ),
    (
        "https://www.dropbox.com/scl/fi/abc123def456/plan.xlsx?rlkey=xyz&dl=0",
        "https://www.dropbox.com/scl/fi/abc123def456/plan.xlsx?rlkey=xyz&dl=0",
        "Dropbox",
    ),
    (
        "https://dl.dropboxusercontent.com/s/a1b2c3d4e5f6g7h/report.pdf",
        "https://dl.dropboxusercontent.com/s/a1b2c3d4e5f6g7h/report.pdf",
        "Dropbox",
    ),
    (
        "https://contoso.sharepoint.com/sites/Sales/_layouts/15/guestaccess.aspx?share=EaBcD",
        "https://contoso.sharepoint.com/sites/Sales/_layouts/15/guestaccess.aspx?share=EaBcD",
        "SharePoint",
    ),
    (
        "https://www.dropbox.com/sh/abc123def456/AAB_xyz",
        "https://www.dropbox.com/sh/abc123def456/AAB_xyz",
        "Dropbox",
    ),
    (
        "ＵＲＬ：ｈｔｔｐｓ：／／ａｐｐ．ｂｏｘ．ｃｏｍ／ｓ／ａｂｃ１２３ｘｙｚ",
        "ｈｔｔｐｓ：／／ａｐｐ．ｂｏｘ．ｃｏｍ／ｓ／ａｂｃ１２３ｘｙｚ",
        "Box",
    ),
]

NEGATIVES = [
    "https://support.google.com/drive/answer/2494822",
    "https://www.dropbox.com/help/security/sharing",
    "https://www.dropbox.com/features",
    "https://www.box.com/pricing",
    "https://app.box.com/login",
    "https://support.microsoft.com/ja-jp/office/onedrive",
    "https://www.microsoft.com/ja-jp/microsoft-365/onedrive/online-cloud-storage",
    "https://drive.google.com/",
    "https://docs.google.com/document/",
    "https://contoso.sharepoint.com/",
    "https://example.com/s/abc123XYZ789",
    "mybox.com/s/abc123",
    "https://contoso.sharepoint.com/sites/Sales/Shared%20Documents/Forms/AllItems.aspx",
    "https://contoso-my.sharepoint.com/personal/taro_contoso_com/Documents/report.docx",
]


@pytest.mark.parametrize(("text", "value", "service"), POSITIVES)
def test_positives(text: str, value: str, service: str) -> None:
    found = list(det.scan(text))
    assert [f.value for f in found] == [value]
    assert found[0].score >= 0.9
    assert found[0].explanation.pattern.startswith(service)
    assert found[0].normalized.startswith("https://")


@pytest.mark.parametrize("text", NEGATIVES)
def test_help_and_marketing_pages_are_not_share_links(text: str) -> None:
    assert list(det.scan(text)) == []
    assert det.service(text) is None


@pytest.mark.parametrize(("text", "value", "service"), POSITIVES)
def test_engine_value_is_the_original_text(text: str, value: str, service: str) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert [f.value for f in found] == [value]
    assert text[found[0].span[0] : found[0].span[1]] == value


def test_context_raises_the_score() -> None:
    (plain,) = det.scan("https://app.box.com/s/abc123XYZ789")
    (shared,) = det.scan("共有リンクです https://app.box.com/s/abc123XYZ789")
    assert plain.score < shared.score == 1.0


def test_hostile_input_is_bounded() -> None:
    for text in (
        "https://app.box.com/s/" + "a" * 50_000,
        "https://onedrive.live.com/" + "a/" * 25_000,
        "https://x.sharepoint.com/sites/" + "a/" * 25_000,
        "drive.google.com/" * 5_000,
    ):
        assert all(f.normalized.startswith("https://") for f in det.scan(text))
