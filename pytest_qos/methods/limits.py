"""Whether a method's figures can be judged: a generator limit makes the test an error."""

from __future__ import annotations

from collections.abc import Sequence

from ..results import Check
from . import rfc2544, y1564
from .trial import MethodResult


def limit_error(outcome: MethodResult, checks: Sequence[Check]) -> str:
    """Why `outcome` cannot be judged because its sender fell short ('' when it can)."""
    if outcome.method == "rfc2544":
        return rfc2544.limit_error(outcome.details, checks)
    if outcome.method == "y1564":
        return y1564.limit_error(outcome.details)
    return ""
