"""Edited tuner states that still pass the checksum, as a deliberate forger (or an older release) writes them."""

from __future__ import annotations

import json
from typing import Any

from oppertune.algorithms.base import _checksum


def resealed_state(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` (its old checksum, if any, dropped) with the checksum of its content."""
    body = {k: v for k, v in state.items() if k != "checksum"}
    return {**body, "checksum": _checksum(body)}


def resealed(state: dict[str, Any]) -> str:
    """`resealed_state` as JSON text, for ``loads``."""
    return json.dumps(resealed_state(state))
