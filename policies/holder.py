"""Keep the active policy and swap in a changed file atomically; a broken file never goes live."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path

from policies.errors import PolicyError
from policies.loader import load_policy
from policies.model import Policy

log = logging.getLogger(__name__)

#: A file modified this recently may change again within the same timestamp tick, so its content
#: is compared even when its size and timestamp look unchanged.
RECENT_NS = 2_000_000_000

Stat = tuple[int, int, int] | None


class PolicyHolder:
    """The policy the gateway decides with.

    ``reload()`` loads the file again and swaps the new policy in with a single assignment, so a
    message being evaluated keeps the policy it started with. If the new file is broken, the old
    policy keeps running and the error is logged (Japanese and English) and returned.
    The first load in ``__init__`` raises :class:`PolicyError`: there is no old policy to keep.
    """

    def __init__(self, path: str | Path, *, override: str | Path | None = None) -> None:
        #: The configured policy file; a relative ``directory:`` is read beside it.
        self.path = Path(path)
        #: The version activated from the UI (``<versions>/active.yaml``): when it exists it is
        #: the policy, and ``path`` (the shipped or configured file) is never rewritten.
        self.override = Path(override) if override is not None else None
        self._lock = threading.Lock()
        self._policy = self._load()
        self._fingerprint = self._read_fingerprint(self._policy)
        self._stats = self._read_stats()
        self.last_error: PolicyError | None = None

    @property
    def current(self) -> Policy:
        return self._policy

    @property
    def source(self) -> Path:
        """The file the policy is read from now."""
        if self.override is not None and self.override.is_file():
            return self.override
        return self.path

    def _load(self) -> Policy:
        return load_policy(self.source, relative_to=self.path)

    def _files(self, policy: Policy) -> list[Path]:
        files = [self.path] if self.override is None else [self.path, self.override]
        if policy.spec.organisation.directory is not None:
            files.append(self.path.parent / policy.spec.organisation.directory)
        return files

    def _read_stats(self) -> tuple[Stat, ...]:
        out: list[Stat] = []
        for f in self._files(self._policy):
            try:
                st = f.stat()
            except OSError:
                out.append(None)
            else:
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def _read_fingerprint(self, policy: Policy) -> str:
        """A hash over the policy file and its directory file (contents, not timestamps)."""
        h = hashlib.sha256()
        for f in self._files(policy):
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
                policy = self._load()
            except PolicyError as err:
                self.last_error = err
                self._fingerprint = self._read_fingerprint(self._policy)
                log.error(
                    "policy not reloaded, the previous one stays active: %s / %s", err.text_en, err.text_ja
                )
                return err
            self._policy = policy
            self._fingerprint = self._read_fingerprint(policy)
            self._stats = self._read_stats()
            self.last_error = None
            log.info("policy reloaded from %s (%d rules)", self.source, len(policy.rules))
            return None

    def reload_if_changed(self) -> bool:
        """Reload when the policy or its directory changed on disk; ``True`` if a new one went live.

        Cheap enough to call for every message: the files are only read when their size or
        timestamp changed, or when they were modified in the last two seconds.
        """
        stats = self._read_stats()
        now = time.time_ns()
        recent = any(s is not None and now - s[0] < RECENT_NS for s in stats)
        if stats == self._stats and not recent:
            return False
        self._stats = stats
        if self._read_fingerprint(self._policy) == self._fingerprint:
            return False
        return self.reload() is None
