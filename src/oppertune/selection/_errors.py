"""Errors raised by parameter selection."""

from __future__ import annotations

__all__ = ["InsufficientDataError", "SelectionError"]


class SelectionError(ValueError):
    """Input that selection cannot use: a malformed history, unknown or missing parameters, bad options."""


class InsufficientDataError(SelectionError):
    """The data do not support any conclusion (too few rows, no variation, or nothing beyond noise)."""
