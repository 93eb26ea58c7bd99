"""Credentials: keys and tokens by format, passwords after a label; prose and masks are not secrets."""

from __future__ import annotations

import pytest

from classifiers.detectors import credential as det
from classifiers.engine import default_engine

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBsb3JlbWlwc3VtZG9sb3JzaXRhbWV0Y29uc2VjdGV0dXIAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

POSITIVES: list[tuple[str, list[str], float]] = [
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", ["AKIAIOSFODNN7EXAMPLE"], 0.9),
    ("一時キー ASIAY34FZKBOKMUTVV7A を使用", ["ASIAY34FZKBOKMUTVV7A"], 0.9),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
        1.0,
    ),
    ("鍵です\n" + PEM + "\n以上", [PEM], 1.0),
    ("-----BEGIN RSA PRIVATE KEY-----\n(truncated)", ["-----BEGIN RSA PRIVATE KEY-----"], 1.0),
    ("パスワード: Xy7#kq9!", ["Xy7#kq9!"], 0.8),
    ("パスワード：Ｔｏｋｙｏ２０２４", ["Ｔｏｋｙｏ２０２４"], 0.8),
    ("PW:hunter22", ["hunter22"], 0.8),
    ("ID: taro / PASS: Tk#mori", ["Tk#mori"], 0.8),
    ("db.password=s3cr3tPass", ["s3cr3tPass"], 0.8),
    ('password: "correct-horse-battery"', ["correct-horse-battery"], 0.8),
    ("添付ファイルのパスワードは\nZk8pQ2wL です", ["Zk8pQ2wL"], 0.8),
    ("暗証番号：4821", ["4821"], 0.8),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", ["ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"], 1.0),
    (
        "SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ["xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"],
        0.95,
    ),
]

NEGATIVES = [
    "パスワード: 別途お送りします",
    "パスワードは別メールにてお知らせします。",
    "パスワード：後ほどお電話で",
    "password: ********",
    "password: AAAAAAAA",
    "PW: ●●●●●●",
    "パスワード：＊＊＊＊",
    "パスワード: ＊＊＊",
    "ワンタイムパスワード: ●●●●●●●●（別途連絡）",
    "password: ab******",
    "暗証番号: ●●●●1234",
    "password: ••••••••",
    "パスワード：■■■■■",
    "password={password}",
    "password=${DB_PASSWORD}",
    "パスワード: abc",
    "パスワードを忘れた場合",
    "AKIAIOSFODNN7EXAMPL",
    "XAKIAIOSFODNN7EXAMPLE",
    "ghp_tooshort",
    "xoxb-short",
    "-----BEGIN PUBLIC KEY-----",
    "bypass: enabled",
    "Result pass: Approved",
    "PW: Secret",
    "aws_secret_access_key = (set in the vault)",
]


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_positives(text: str, values: list[str], min_score: float) -> None:
    found = list(det.scan(text))
    assert [f.value for f in found] == values
    assert all(f.score >= min_score for f in found)


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negatives(text: str) -> None:
    assert list(det.scan(text)) == []


@pytest.mark.parametrize(("text", "values", "min_score"), POSITIVES)
def test_engine_value_is_the_original_text(text: str, values: list[str], min_score: float) -> None:
    found = [f for f in default_engine().scan_text(text) if f.type == det.ENTITY_TYPE]
    assert [f.value for f in found] == values
    for f in found:
        assert text[f.span[0] : f.span[1]] == f.value


def test_password_explanation_names_the_label() -> None:
    (f,) = det.scan("ログインパスワード: Qw3rty!9")
    assert f.explanation.validation == "keyword"
    assert f.explanation.context == ("ログインパスワード",)


def test_password_value_is_bounded() -> None:
    (f,) = det.scan("password=" + "Ab1" * 400)
    assert len(f.value) == 128


def test_hostile_input_is_bounded() -> None:
    for text in (
        "-----BEGIN PRIVATE KEY-----\n" + "A" * 50_000,
        "password=" * 5_000,
        "AKIA" * 10_000,
        "xoxb-" + "a" * 50_000,
    ):
        assert all(len(f.value) <= 16_500 for f in det.scan(text))
