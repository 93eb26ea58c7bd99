"""Files at rest: each attachment kept for download links is encrypted on its own (AES-256-GCM,
NIST SP 800-38D) with a fresh random key, which the store keeps in the item's record
(``file_key``) apart from the body. A copy of the spool or of a backup alone reveals nothing;
the GCM tag makes a changed body fail to open instead of being served.

>>> blob, key = seal(b"quarterly figures")
>>> unseal(blob, key)
b'quarterly figures'
>>> len(blob) - len(b"quarterly figures") == NONCE + TAG
True
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: A 96-bit nonce (SP 800-38D s 8.2.2, random construction; one message per key) and the tag.
NONCE, TAG = 12, 16
#: Bound into every tag: a sealed file opens only as one.
_LABEL = b"sekimori-file-v1"


class Unreadable(Exception):
    """The sealed body does not open with its key (changed, cut, or the wrong key)."""


def seal(data: bytes) -> tuple[bytes, str]:
    """``data`` encrypted under a new key: the body to store (nonce, ciphertext, tag) and the
    key (base64url) for the record."""
    key = os.urandom(32)  # AES-256
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, _LABEL), base64.urlsafe_b64encode(key).decode()


def unseal(blob: bytes, key: str) -> bytes:
    """The plain content of a sealed body, or :class:`Unreadable`."""
    try:
        raw_key = base64.urlsafe_b64decode(key.encode())
        return AESGCM(raw_key).decrypt(blob[:NONCE], blob[NONCE:], _LABEL)
    except (InvalidTag, ValueError) as exc:
        raise Unreadable("the stored file does not open with its key") from exc


__all__ = ["Unreadable", "seal", "unseal"]
