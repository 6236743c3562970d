"""A mesh's pattern: the host (or pair) common to every failing pair of one test, with how its
other pairs and the pairs without it fared. Computed once all pairs have run."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..results import QosResult
from .finding import MESH, Finding

_PAIR = re.compile(r"^(?P<test>.+)\[(?P<source>[^\[\]]+?)->(?P<sink>[^\[\]]+)\]$")


def pair_of(test_id: str) -> tuple[str, str, str] | None:
    """(test, from, to) of a mesh item's id ('f.yaml::voice[site1->site2]'), else None."""
    match = _PAIR.match(test_id)
    return (match["test"], match["source"], match["sink"]) if match else None


def _failing(result: QosResult) -> bool:
    return bool(result.error) or result.status in ("failed", "error") or not result.passed


def mesh_findings(results: Sequence[QosResult]) -> dict[str, list[Finding]]:
    """Test id → the mesh statements for each failing pair of each mesh test."""
    groups: dict[str, list[tuple[str, str, QosResult]]] = {}
    for result in results:
        pair = pair_of(result.test)
        if pair is not None:
            groups.setdefault(pair[0], []).append((pair[1], pair[2], result))
    found: dict[str, list[Finding]] = {}
    for pairs in groups.values():
        failing = [(a, b, r) for a, b, r in pairs if _failing(r)]
        if not failing or len(pairs) < 2:
            continue
        hosts = sorted({host for a, b, _ in pairs for host in (a, b)})
        common = [h for h in hosts if all(h in (a, b) for a, b, _ in failing)]
        statements = [_statement(host, pairs, failing) for host in common]
        for _a, _b, result in failing:
            found[result.test] = statements
    return found


def _statement(
    host: str,
    pairs: list[tuple[str, str, QosResult]],
    failing: list[tuple[str, str, QosResult]],
) -> Finding:
    words = [f"{a}→{b}" for a, b, _ in failing]
    bad = {result.test for _, _, result in failing}
    mine = [(a, b, r) for a, b, r in pairs if host in (a, b)]
    others = [(a, b, r) for a, b, r in pairs if host not in (a, b)]
    return Finding(
        MESH,
        host,
        {
            "failing": words,
            "its_pairs": len(mine),
            "its_passing": [f"{a}→{b}" for a, b, r in mine if r.test not in bad],
            "without": [f"{a}→{b}" for a, b, r in others],
        },
    )


def annotate(results: Sequence[QosResult]) -> None:
    """Put each failing mesh pair's pattern into its diagnosis (again: idempotent)."""
    found = mesh_findings(results)
    for result in results:
        kept = [item for item in result.diagnosis if item.get("what") != MESH]
        added = [finding.to_json() for finding in found.get(result.test, [])]
        result.diagnosis = added + kept


def suspects(results: Sequence[QosResult], test: str) -> list[str]:
    """The hosts a mesh test's diagnosis names (for marking them in the matrix)."""
    names: list[str] = []
    for result in results:
        pair = pair_of(result.test)
        if pair is not None and pair[0] == test:
            for item in result.diagnosis:
                if item.get("what") == MESH and item["where"] not in names:
                    names.append(item["where"])
    return names
