"""The diagnosis step of one test: probe its path hop by hop (idle, then under the test's own
load), gather what its measurements already say, and state where; the step is timed."""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..errors import InputError, QosError
from ..measure.runner import Runner
from ..measure.traffic import Traffic
from ..probes import Probe
from ..probes.path import HOP_LOSS_CAVEAT
from ..results import QosResult
from .evidence import Evidence, Path, gather, router_counters
from .finding import PATH, PATH_CHANGE, Finding, not_measured
from .locate import direction_findings, loss_findings, marking_findings, queue_findings

WHEN = ("failed", "always", "never")
WHEN_HELP = (
    "when to probe each test's path hop by hop for its diagnosis: after a bound missed "
    "(failed, the default), after every test (always), or never"
)
LATENCY = ("latency.", "mos", "jitter", "y1541.ipt", "y1541.ipdv", "tcp.rtt", "y1564.ftd")


class TestLike(Protocol):
    """What the step needs of a test (scenario's TestSpec): what it sent, to re-create it."""

    @property
    def traffic(self) -> Traffic | None: ...  # pragma: no cover

    @property
    def load(self) -> tuple[Traffic, ...]: ...  # pragma: no cover

    @property
    def flows(self) -> Mapping[str, Traffic]: ...  # pragma: no cover

    @property
    def probe(self) -> Probe | None: ...  # pragma: no cover

    @property
    def probes(self) -> Mapping[str, Probe]: ...  # pragma: no cover

    @property
    def settle(self) -> float: ...  # pragma: no cover


@dataclass(frozen=True)
class Diagnosis:
    """When a test's path is probed hop by hop for its diagnosis (`when`), and how."""

    when: str = "failed"  # failed: after a bound missed; always: after every test; never
    rounds: int = 4  # probes per hop, one round a second (a default ICMP rate limit)
    interval: float = 1.0
    timeout: float = 1.0

    def __post_init__(self) -> None:
        if self.when not in WHEN:
            raise InputError(
                f"'{self.when}' is not one of {', '.join(WHEN)} (when per-hop probing runs)",
                key="--qos-diagnose",
            )

    def attach(
        self, result: QosResult, test: TestLike, runner: Runner, stored: QosResult | None
    ) -> None:
        """Set `result.diagnosis` (and the time probing took); a passing test gets only a
        path change against its baseline, unless `when` is 'always'."""
        failed = not result.passed
        if not failed and self.when != "always":
            result.diagnosis = [f.to_json() for f in path_change(gather(result).path, stored)]
            return
        started = time.monotonic()
        evidence = gather(result)
        findings: list[Finding] = []
        if self.when == "never":
            findings.append(not_measured("the path hop by hop", "--qos-diagnose=never"))
        elif _loopback(runner.target.host):
            findings.append(not_measured("the path hop by hop", "loopback: it has no hops"))
        else:
            probed, said = self._probe(result.test, test, runner, evidence)
            findings += said
            if probed:
                result.diagnosis_time = time.monotonic() - started
        findings = [*statements(evidence), *path_change(evidence.path, stored), *findings]
        result.diagnosis = [finding.to_json() for finding in findings]

    def probe_for(self, test: TestLike) -> Probe:
        """The hops probe: the test's DSCP, one round a second."""
        marked = [p.dscp for p in (test.probe, *test.probes.values()) if p and p.dscp is not None]
        flows = [test.traffic, *test.load, *test.flows.values()]
        marked += [flow.dscp for flow in flows if flow is not None and flow.dscp is not None]
        return Probe(
            kind="hops",
            interval=self.interval,
            count=self.rounds,
            timeout=self.timeout,
            dscp=marked[0] if marked else None,
        )

    def _probe(
        self, test_id: str, test: TestLike, runner: Runner, evidence: Evidence
    ) -> tuple[bool, list[Finding]]:
        """The idle path, then the path under the test's load (when it had one); (whether it
        probed, what it could not measure)."""
        probe = self.probe_for(test)
        load = tuple(test.flows.values()) or (
            (test.traffic, *test.load) if test.traffic else test.load
        )
        if evidence.loaded is not None and not load:
            # The test probed its path itself, with nothing else running: that is the path.
            evidence.idle, evidence.loaded = evidence.loaded, None
            return False, []
        try:
            idle = runner.run(f"{test_id} (diagnosis: idle path)", probe=probe)
            evidence.idle = _path(idle)
            if load:
                loaded = runner.run(
                    f"{test_id} (diagnosis: path under load)",
                    probe=probe,
                    load=load,
                    settle=test.settle,
                )
                evidence.loaded = _path(loaded)
                evidence.routers = evidence.routers or router_counters(loaded.measurements)
        except QosError as error:
            return True, [not_measured("the path hop by hop", f"per-hop probing failed: {error}")]
        return True, []


def _loopback(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return host == "localhost"


def _path(result: QosResult) -> Path | None:
    return next((Path.of(m) for m in result.measurements if m.tool == "probe:hops"), None)


def statements(evidence: Evidence) -> list[Finding]:
    """Every statement the evidence supports, then what it could not say and why."""
    findings = [
        *queue_findings(evidence),
        *loss_findings(evidence),
        *marking_findings(evidence),
        *direction_findings(evidence),
    ]
    path = evidence.path
    failed = evidence.failed
    about_dscp = any("dscp." in m or m.endswith(".dscp") for m in failed)
    if path is not None and path.dscp_unavailable and about_dscp:
        findings.append(not_measured("the DSCP at each hop", path.dscp_unavailable))
    if evidence.one_way_unavailable and any(m.startswith(LATENCY) for m in failed):
        findings.append(not_measured("one-way delay", evidence.one_way_unavailable))
    if not evidence.routers:
        findings.append(
            not_measured("router counters", "this path crosses no router of a router lab")
        )
    if path is not None:
        findings.append(path_finding(evidence, path))
    return findings


def path_finding(evidence: Evidence, path: Path) -> Finding:
    """The path as probed: per hop its address, name, loss, RTT (idle and under load), DSCP."""
    rows = []
    for hop in path.hops:
        row = {"hop": hop.hop, "address": hop.address, "name": hop.name, "loss": hop.loss}
        row |= {"rtt_p50": hop.rtt_p50, "dscp": hop.dscp}
        idle = evidence.idle.at(hop.hop) if evidence.idle and evidence.loaded else None
        if idle is not None:
            row["rtt_p50_idle"] = idle.rtt_p50
        rows.append(row)
    where = f"{len(path.hops)} hops to {path.host}"
    if path.destination is None:
        where = f"{len(path.hops)} hops toward {path.host} (the destination never answered)"
    return Finding(PATH, where, {"hops": rows, "caveat": HOP_LOSS_CAVEAT})


def path_change(path: Path | None, stored: QosResult | None) -> list[Finding]:
    """'path changed: hop 3 was A, now B' against the baseline's path, if both were probed."""
    if path is None or stored is None:
        return []
    was = stored_path(stored)
    for hop in path.hops:
        before = was.get(hop.hop)
        if before and hop.address and before != hop.address:
            return [
                Finding(
                    PATH_CHANGE,
                    f"hop {hop.hop}",
                    {"hop": hop.hop, "was": before, "now": hop.address},
                )
            ]
    return []


def stored_path(stored: QosResult) -> dict[int, str]:
    """Hop → address of a stored result: its hops probe, else its diagnosis's path."""
    path = _path(stored)
    if path is not None:
        return {hop.hop: hop.address for hop in path.hops if hop.address}
    for item in stored.diagnosis:
        if item.get("what") == PATH:
            rows = item.get("evidence", {}).get("hops", [])
            return {int(row["hop"]): str(row["address"]) for row in rows if row.get("address")}
    return {}
