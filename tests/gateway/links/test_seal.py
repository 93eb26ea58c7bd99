"""Files at rest: each sealed on its own, and a changed body never opens."""

from __future__ import annotations

import pytest

from gateway.links.seal import NONCE, Unreadable, seal, unseal


def test_every_file_gets_its_own_key_and_nonce() -> None:
    (a, key_a), (b, key_b) = seal(b"same content"), seal(b"same content")
    assert key_a != key_b and a[:NONCE] != b[:NONCE] and a != b
    assert unseal(a, key_a) == unseal(b, key_b) == b"same content"
    assert b"same content" not in a


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob, key: (blob[:-1] + bytes([blob[-1] ^ 1]), key),  # a changed tag
        lambda blob, key: (blob[:20] + bytes([blob[20] ^ 1]) + blob[21:], key),  # a changed byte of content
        lambda blob, key: (blob[:-5], key),  # cut
        lambda blob, key: (blob, seal(b"other")[1]),  # another file's key
        lambda blob, key: (blob, "not base64!"),
    ],
)
def test_a_changed_body_or_wrong_key_does_not_open(damage: object) -> None:
    blob, key = seal(b"quarterly figures 2026" * 10)
    bad_blob, bad_key = damage(blob, key)  # type: ignore[operator]
    with pytest.raises(Unreadable):
        unseal(bad_blob, bad_key)
