"""One statement of a diagnosis: what was found, where, and the measured evidence for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a statement is about; text.py words each.
QUEUE = "queue"  # a router (or a stretch between two hops) held packets back
DELAY = "delay"  # the RTT steps up between two hops with nothing else running
LOSS = "loss"  # packets were dropped there
MARKING = "re-marking"  # the DSCP changed there
DIRECTION = "direction"  # which way (up: client → server, down) the delay or loss is
PATH = "path"  # the path as probed, hop by hop (the evidence behind the others)
PATH_CHANGE = "path change"  # a hop answers from another address than in the baseline
MESH = "mesh"  # the host common to every failing pair of a mesh
NOT_MEASURED = "not measured"  # evidence the diagnosis lacks, and why
LOCATING = (QUEUE, DELAY, LOSS, MARKING, MESH)  # the statements that name a place


@dataclass(frozen=True)
class Finding:
    """`what` at `where`, with `evidence` (numbers in base units: seconds, percent, bytes)."""

    what: str
    where: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """`{"what", "where", "evidence"}` as results[].diagnosis lists them."""
        return {"what": self.what, "where": self.where, "evidence": dict(self.evidence)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        """Back from its JSON form."""
        return cls(str(data["what"]), str(data.get("where", "")), dict(data.get("evidence", {})))


def not_measured(what: str, why: str) -> Finding:
    """A statement of missing evidence: what the diagnosis could not measure, and why."""
    return Finding(NOT_MEASURED, "", {"what": what, "why": why})
