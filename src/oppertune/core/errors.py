"""Exceptions raised by the tuning API. All derive from ValueError so callers can catch broadly."""

__all__ = ["NoPendingPredictionError", "RoundClosedError", "StateError", "UnknownRequestError"]


class UnknownRequestError(ValueError):
    """A request id that this tuner never issued."""


class RoundClosedError(ValueError):
    """A request id whose round was already closed by ``set_reward``."""


class NoPendingPredictionError(ValueError):
    """``set_reward`` for a context that has no outstanding prediction."""


class StateError(ValueError):
    """A state file or string that is corrupt, tampered with, or for another algorithm or version."""
