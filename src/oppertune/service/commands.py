"""What ``oppertune serve`` and ``oppertune keys create`` do (the CLI only parses flags)."""

from __future__ import annotations

import os
import sys

from oppertune.service.errors import ServiceUnavailableError
from oppertune.service.settings import Settings, is_loopback
from oppertune.service.storage import Storage, redact_url

__all__ = ["UsageError", "create_key", "serve"]


class UsageError(Exception):
    """A command that cannot run as asked; the message says why."""


def _check_exposure(settings: Settings, has_keys: bool) -> None:
    if has_keys or settings.insecure or is_loopback(settings.host):
        return
    raise UsageError(
        f"Refusing to serve on {settings.host!r} without API keys: the database holds none, so anyone who can "
        "reach the port could use every tuner. Create one with `oppertune keys create --project NAME`, "
        "listen on a loopback address (127.0.0.1), or pass --insecure."
    )


def serve(settings: Settings, workers: int = 1, log_level: str = "info", access_log: bool = False) -> None:
    """Create or migrate the schema, check the exposure rule, then run uvicorn (``workers`` processes)."""
    try:
        storage = Storage(settings.db)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        storage.migrate()
        has_keys = storage.has_api_keys()
    except ServiceUnavailableError as exc:
        raise UsageError(f"Cannot use the database {redact_url(settings.db)}: {exc.reason}") from None
    finally:
        storage.close()
    _check_exposure(settings, has_keys)

    import uvicorn

    os.environ.update(settings.to_env())  # worker processes build the app from these
    mode = "API keys required" if has_keys else "open mode (no API keys in the database)"
    print(
        f"OPPerTune service on http://{settings.host}:{settings.port} with {redact_url(settings.db)}: {mode}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        "oppertune.service.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=5,
    )


def create_key(db: str, project: str, label: str | None = None) -> str:
    """Create an API key for ``project`` in the database at ``db`` (creating the schema if needed)."""
    try:
        storage = Storage(db)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        storage.migrate()
        return storage.create_api_key(project, label)
    except ServiceUnavailableError as exc:
        raise UsageError(f"Cannot use the database {redact_url(db)}: {exc.reason}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        storage.close()
