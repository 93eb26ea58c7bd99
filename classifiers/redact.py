"""One shared function to show a finding's value without revealing it."""

from __future__ import annotations

_KEEP_TAIL = {
    "my_number": 4,
    "corporate_number": 4,
    "credit_card": 4,
    "phone_number": 4,
    "bank_account": 3,
    "passport_number": 3,
    "drivers_license": 4,
    "pension_number": 4,
    "postal_code": 0,
}


def redact(entity_type: str, value: str) -> str:
    """Mask a value for display, keeping its shape (separators) and a short tail.

    >>> redact("credit_card", "4111-1111-1111-1111")
    '****-****-****-1111'
    >>> redact("email_address", "taro.yamada@example.co.jp")
    't**********@example.co.jp'
    >>> redact("person_name", "山田 太郎")
    '山* **'
    """
    if entity_type == "email_address" and "@" in value:
        local, _, domain = value.partition("@")
        return local[:1] + "*" * max(len(local) - 1, 0) + "@" + domain
    if entity_type in ("confidential_marking",):
        return value
    if entity_type == "share_link":
        head, sep, _ = value.partition("://")
        host = value[len(head) + len(sep) :].split("/", 1)[0]
        return f"{head}{sep}{host}/…" if sep else "…"
    keep = _KEEP_TAIL.get(entity_type)
    alnum_positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    if keep is None:
        # Free text (names, addresses, credentials): keep the first character only.
        keep_idx = set(alnum_positions[:1])
    else:
        keep_idx = set(alnum_positions[len(alnum_positions) - keep :]) if keep else set()
    return "".join(ch if (i in keep_idx or not ch.isalnum()) else "*" for i, ch in enumerate(value))
