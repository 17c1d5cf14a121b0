"""Errors of the tuning service: one class per answer, with its HTTP status and a stable code.

The server answers ``{"detail": "...", "code": "..."}``; the client (`oppertune.service.client`)
turns the code back into the same exception, or into the library's own error
(`UnknownRequestError`, `RoundClosedError`, `NoPendingPredictionError`, `ValueError`, `TypeError`)
so that a remote tuner fails like a local one.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "IdempotencyConflictError",
    "InvalidInputError",
    "InvalidTypeError",
    "NoOpenRoundError",
    "RequestNotFoundError",
    "RoundAlreadyClosedError",
    "ServiceError",
    "ServiceUnavailableError",
    "TunerNotFoundError",
    "error_class",
]


class ServiceError(Exception):
    """Base class; ``detail`` is the message sent to the client."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "error"

    def __init__(self, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = ""
        if status_code is not None:
            self.status_code = status_code  # type: ignore[misc]


class AuthenticationError(ServiceError):
    """Missing or invalid API key."""

    status_code = 401
    code = "unauthorized"


class TunerNotFoundError(ServiceError, LookupError):
    """No such tuner in the caller's project (another project's tuner included)."""

    status_code = 404
    code = "tuner_not_found"

    def __init__(self, detail: str = "Tuner not found", status_code: int | None = None) -> None:
        super().__init__(detail, status_code)


class RequestNotFoundError(ServiceError, LookupError):
    """A request id the tuner never issued."""

    status_code = 404
    code = "unknown_request"


class RoundAlreadyClosedError(ServiceError):
    """A request id whose round is already closed."""

    status_code = 409
    code = "round_closed"


class NoOpenRoundError(ServiceError):
    """set_reward for a context without an open round."""

    status_code = 409
    code = "no_pending_prediction"


class NoRailsError(ServiceError):
    """An operator action on the safety rails of a tuner that has none."""

    status_code = 409
    code = "no_safety_rails"


class InvalidInputError(ServiceError, ValueError):
    """Input the library or the service refuses (the library's message is the detail)."""

    status_code = 422
    code = "invalid"


class InvalidTypeError(InvalidInputError, TypeError):
    """Input of the wrong type, as the library's TypeError reports it."""

    code = "invalid_type"


class IdempotencyConflictError(ServiceError):
    """An idempotency key reused for a different request."""

    status_code = 422
    code = "idempotency_conflict"


class ServiceUnavailableError(ServiceError):
    """The database is unreachable or busy; the call changed nothing and may be retried."""

    status_code = 503
    code = "unavailable"


_BY_CODE = {
    cls.code: cls
    for cls in (
        AuthenticationError,
        TunerNotFoundError,
        RequestNotFoundError,
        RoundAlreadyClosedError,
        NoOpenRoundError,
        NoRailsError,
        InvalidInputError,
        InvalidTypeError,
        IdempotencyConflictError,
        ServiceUnavailableError,
    )
}


def error_class(code: str | None) -> type[ServiceError] | None:
    """The error class of a code, or None for an unknown code."""
    return _BY_CODE.get(code or "")
