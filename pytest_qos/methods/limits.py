"""Whether a method's figures can be judged: a generator limit makes the test an error."""

from __future__ import annotations

from ..results import QosResult
from . import rfc2544, y1564


def limit_error(result: QosResult) -> str:
    """Why a method test's result cannot be judged because its sender fell short ('' when it
    can): read from the method's measurement (its first) and the checks its bounds made."""
    method = result.measurements[0] if result.measurements else None
    if method is None:
        return ""
    if method.tool == "rfc2544":
        return rfc2544.limit_error(method.details, result.checks)
    if method.tool == "y1564":
        return y1564.limit_error(method.details)
    return ""
