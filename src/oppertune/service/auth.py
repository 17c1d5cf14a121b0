"""API keys: which project a request acts for.

* A key is ``otk_`` + 43 random URL-safe characters (256 bits), printed once by
  ``oppertune keys create``; the database keeps only its SHA-256, found by index and compared
  with `hmac.compare_digest`.
* Key mode: as soon as the database holds at least one key, every ``/v1`` call except
  ``/v1/health`` needs ``Authorization: Bearer KEY`` and acts on that key's project only.
* Open mode: while the database holds no key at all, calls need no key and act on project
  ``default`` (a key sent anyway is ignored). The server then starts only on a loopback address,
  unless ``--insecure``. A process that has once seen a key never returns to open mode.
* A verified key is trusted for ``key_cache_seconds`` (default 10 s) per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from oppertune.service.errors import AuthenticationError
from oppertune.service.storage import Storage, hash_key

__all__ = ["OPEN_PROJECT", "Authenticator"]

OPEN_PROJECT = "default"
_MAX_CACHED_KEYS = 10_000
_OPEN_MODE_RECHECK = 1.0


class Authenticator:
    """Resolves the ``Authorization`` header of a request to a project."""

    def __init__(
        self, storage: Storage, cache_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._storage = storage
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._keys: dict[str, tuple[str, float]] = {}
        self._keys_exist = False
        self._open_checked_at = -float("inf")
        self._lock = threading.Lock()

    def keys_required(self) -> bool:
        """Whether the database holds a key (checked at most once a second while it holds none)."""
        if self._keys_exist:
            return True
        now = self._clock()
        if now - self._open_checked_at >= _OPEN_MODE_RECHECK:
            self._keys_exist = self._storage.has_api_keys()
            self._open_checked_at = now
        return self._keys_exist

    def cached_project(self, key: str | None) -> str | None:
        """The project when it is known without asking the database, else None (then call `project`)."""
        if not self._keys_exist:
            if self._clock() - self._open_checked_at < _OPEN_MODE_RECHECK:
                return OPEN_PROJECT
            return None
        if not key:
            return None
        cached = self._keys.get(hash_key(key))
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        return None

    def project(self, key: str | None) -> str:
        """The project a request with this bearer key (None: no key) acts on; raises `AuthenticationError`."""
        if not self.keys_required():
            return OPEN_PROJECT
        if not key:
            raise AuthenticationError("Missing API key: send 'Authorization: Bearer KEY'.")
        digest = hash_key(key)
        now = self._clock()
        cached = self._keys.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        project = self._storage.project_of_key(key)
        if project is None:
            raise AuthenticationError("Invalid API key.")
        with self._lock:
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys.clear()
            self._keys[digest] = (project, now + self._cache_seconds)
        return project
