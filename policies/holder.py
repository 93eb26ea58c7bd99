"""Keep the active policy and swap in a changed file atomically; a broken file never goes live."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from policies.errors import PolicyError
from policies.loader import load_policy
from policies.model import Policy

log = logging.getLogger(__name__)


class PolicyHolder:
    """The policy the gateway decides with.

    ``reload()`` loads the file again and swaps the new policy in with a single assignment, so a
    message being evaluated keeps the policy it started with. If the new file is broken, the old
    policy keeps running and the error is logged (Japanese and English) and returned.
    The first load in ``__init__`` raises :class:`PolicyError`: there is no old policy to keep.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._policy = load_policy(self.path)
        self._fingerprint = self._read_fingerprint(self._policy)
        self.last_error: PolicyError | None = None

    @property
    def current(self) -> Policy:
        return self._policy

    def _read_fingerprint(self, policy: Policy | None) -> str:
        """A hash over the policy file and its directory file (contents, not timestamps)."""
        h = hashlib.sha256()
        files = [self.path]
        if policy is not None and policy.spec.organisation.directory is not None:
            files.append(self.path.parent / policy.spec.organisation.directory)
        for f in files:
            try:
                h.update(f.read_bytes())
            except OSError as exc:
                h.update(f"unreadable:{exc.errno}".encode())
            h.update(b"\x00")
        return h.hexdigest()

    def reload(self) -> PolicyError | None:
        """Load the file again; on success make it current and return ``None``."""
        with self._lock:
            try:
                policy = load_policy(self.path)
            except PolicyError as err:
                self.last_error = err
                self._fingerprint = self._read_fingerprint(self._policy)
                log.error(
                    "policy not reloaded, the previous one stays active: %s / %s", err.text_en, err.text_ja
                )
                return err
            self._policy = policy
            self._fingerprint = self._read_fingerprint(policy)
            self.last_error = None
            log.info("policy reloaded from %s (%d rules)", self.path, len(policy.rules))
            return None

    def reload_if_changed(self) -> bool:
        """Reload when the policy or its directory changed on disk; ``True`` if a new one went live."""
        if self._read_fingerprint(self._policy) == self._fingerprint:
            return False
        return self.reload() is None
