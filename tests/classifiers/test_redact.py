from __future__ import annotations

import pytest

from classifiers.redact import redact


@pytest.mark.parametrize(
    ("etype", "value", "shown"),
    [
        ("credit_card", "4111-1111-1111-1111", "****-****-****-1111"),
        ("credit_card", "4111111111111111", "************1111"),
        ("my_number", "1234 5678 9018", "**** **** 9018"),
        ("phone_number", "03-1234-5678", "**-****-5678"),
        ("email_address", "hanako@example.jp", "h*****@example.jp"),
        ("person_name", "山田 太郎", "山* **"),
        ("postal_code", "100-0001", "***-****"),
        ("confidential_marking", "社外秘", "社外秘"),
        ("share_link", "https://drive.google.com/file/d/abc/view", "https://drive.google.com/…"),
    ],
)
def test_redaction_keeps_shape_and_hides_the_value(etype: str, value: str, shown: str) -> None:
    assert redact(etype, value) == shown
