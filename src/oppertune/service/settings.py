"""Server settings, from command-line flags and ``OPPERTUNE_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["Settings", "is_loopback"]


@dataclass(frozen=True, slots=True)
class Settings:
    """How the service runs. Every field has an ``OPPERTUNE_<FIELD>`` environment variable.

    Attributes:
        db: Database URL: ``sqlite:///FILE`` or ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB``.
        host: Address to listen on.
        port: Port to listen on.
        insecure: Allow serving without API keys on a non-loopback address.
        max_body_bytes: Largest request body accepted (larger: 413).
        sweep_interval: Seconds between sweeps closing rounds whose time policy is due (0: no sweeper).
        pool_size: Database connections kept open per server process.
        threads: Requests a server process works on at once (0: ``pool_size``, so that no request
            waits for a connection and the pool never opens and closes extra ones).
        cache_size: Deserialised tuners kept per server process (0: no cache).
        idempotency_ttl: Seconds an idempotency record is kept.
        key_cache_seconds: Seconds a verified API key is trusted before it is checked again.
    """

    db: str = "sqlite:///oppertune.db"
    host: str = "127.0.0.1"
    port: int = 8000
    insecure: bool = False
    max_body_bytes: int = 1 << 20
    sweep_interval: float = 1.0
    pool_size: int = 16
    threads: int = 0
    cache_size: int = 1024
    idempotency_ttl: float = 86400.0
    key_cache_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``OPPERTUNE_*`` variables, then the non-None ``overrides`` (command-line flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"OPPERTUNE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls(), f.name))
            try:
                if kind is bool:
                    values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"OPPERTUNE_{f.name.upper()} must be a {kind.__name__}. Got {raw!r}.") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The ``OPPERTUNE_*`` variables that reproduce these settings (to hand them to worker processes)."""
        return {f"OPPERTUNE_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
