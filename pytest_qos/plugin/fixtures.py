"""Fixtures: `iperf3_server`, `iperf3`, `latency_probe`, `qos_target`, `qos_check`, `qos_lab`."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from ..hosts.endpoints import Local
from ..hosts.target import Target, local_target
from ..judge.bounds import check_bounds, parse_expectations
from ..judge.metrics import CATALOGUE
from ..measure.client import Iperf3Client, LatencyProbe
from ..measure.iperf3 import Iperf3Server
from ..probes.stats import percentile
from ..results import Measurement, QosResult, check_label, prefixes
from .collect import QosFailure
from .session import item_result, qos_session

Checker = Callable[..., QosResult]
ClientT = TypeVar("ClientT", Iperf3Client, LatencyProbe)

if TYPE_CHECKING:
    from ..lab.routerlab import Lab
    from ..lab.sitelab import SiteLab


def _record(request: pytest.FixtureRequest) -> Callable[[QosResult], None]:
    """Add a fixture's measurements (and loads) to the test's own result."""

    def record(result: QosResult) -> None:
        mine = item_result(request.node)
        mine.measurements += result.measurements
        mine.loads += result.loads
        mine.spread.update(result.spread)

    return record


@pytest.fixture
def qos_target() -> Target:
    """The path measured by `iperf3` and `latency_probe`; override it to measure elsewhere."""
    return local_target()


@pytest.fixture
def iperf3_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., Iperf3Server]]:
    """Factory: start `iperf3 -s` on loopback (or `bind`, `port`); stopped at teardown."""
    session = qos_session(request.config)
    started: list[Iperf3Server] = []

    def start(bind: str = "127.0.0.1", port: int | None = None) -> Iperf3Server:
        server = session.iperf3().server(Local(), bind, port)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def _client(kind: type[ClientT], request: pytest.FixtureRequest, target: Target) -> ClientT:
    """A client measuring across `target` for this test, recording into its result."""
    session = qos_session(request.config)
    return kind(session.iperf3, target, _record(request), request.node.nodeid, session.progress)


def _path_client(
    kind: type[ClientT], request: pytest.FixtureRequest, target: Target
) -> Iterator[ClientT]:
    """Yield a client; stop the servers it spawned at teardown."""
    client = _client(kind, request, target)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def iperf3(request: pytest.FixtureRequest, qos_target: Target) -> Iterator[Iperf3Client]:
    """Run iperf3 measurements: `iperf3.run(protocol="udp", bitrate="20 Mbit/s")`."""
    yield from _path_client(Iperf3Client, request, qos_target)


@pytest.fixture
def latency_probe(request: pytest.FixtureRequest, qos_target: Target) -> Iterator[LatencyProbe]:
    """Run latency probes: `latency_probe(kind="udp", interval="20 ms", duration="2 s")`."""
    yield from _path_client(LatencyProbe, request, qos_target)


class QosLab:
    """A client–router–server lab for one test, with clients that measure across it."""

    def __init__(self, lab: Lab, iperf3: Iperf3Client, latency_probe: LatencyProbe) -> None:
        self.lab = lab
        self.target = lab.target()
        self.iperf3 = iperf3
        self.latency_probe = latency_probe
        # The topology, for tests that run their own commands in it.
        self.client, self.router, self.server = lab.client, lab.router, lab.server
        self.addresses = lab.addresses
        self.interfaces = lab.interfaces

    def apply(self, router_config: Path | str) -> None:
        """Replace the router's config (the previous qdiscs and nft rules are removed first)."""
        self.lab.apply(router_config)

    def qdiscs(self) -> str:
        """The router's qdiscs with their counters (`tc -s qdisc show`)."""
        return self.lab.qdiscs()


@pytest.fixture
def qos_lab(request: pytest.FixtureRequest) -> Iterator[QosLab]:
    """A routed lab (root): config from --qos-router-config or @pytest.mark.qos_lab(router=)."""
    from ..lab.routerlab import Lab, keep_lab, lab_unavailable_reason

    reason = lab_unavailable_reason()
    if reason:
        pytest.skip(f"router lab {reason}")
    session = qos_session(request.config)
    config = session.router_config
    marker = request.node.get_closest_marker("qos_lab")
    if config is None and marker is not None and marker.kwargs.get("router"):
        config = (request.path.parent / marker.kwargs["router"]).resolve()
    wan = None
    if marker is not None and marker.kwargs.get("wan") is not None:
        from ..lab.wan import parse_wan

        wan = parse_wan(marker.kwargs["wan"])  # e.g. wan={"delay": "20 ms"}, as in YAML
    lab = Lab.create(router_config=config, wan=wan)
    flows = _client(Iperf3Client, request, lab.target())
    probes = _client(LatencyProbe, request, lab.target())
    died = None
    try:
        yield QosLab(lab, flows, probes)
        died = lab.explain()  # a WAN delay line that died during the test: an error naming it
    finally:
        # Servers and responders first: destroying the namespaces would orphan them.
        flows.close()
        probes.close()
        if session.keep_lab:
            session.kept_labs.append(f"{lab.id}; remove it with: {keep_lab(lab)}")
        else:
            lab.destroy()
    if died is not None:
        raise died


def _metric_name(keyword: str) -> str:
    """`latency_p99` → `latency.p99`, but `lost_packets` stays (it is a metric's own name)."""
    if keyword in CATALOGUE:
        return keyword
    dotted = keyword.replace("__", ".").replace("_", ".")
    return dotted if dotted in CATALOGUE else keyword


def benchmark_metrics(benchmark: Any) -> dict[str, float] | None:
    """latency.* from pytest-benchmark's per-round timings (None if it has not run)."""
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    data = sorted(getattr(stats, "data", None) or [])
    if not data:
        return None
    return {
        "latency.min": data[0],
        "latency.max": data[-1],
        "latency.mean": statistics.fmean(data),
        "latency.stdev": statistics.stdev(data) if len(data) > 1 else 0.0,
        **{f"latency.p{p}": percentile(data, p) for p in (50, 90, 95, 99)},
    }


def _metrics_of(subject: Any) -> dict[str, float]:
    if isinstance(subject, (QosResult, Measurement)):
        return subject.metrics
    if isinstance(subject, Mapping):
        return {str(key): float(value) for key, value in subject.items()}
    from_benchmark = benchmark_metrics(subject)
    if from_benchmark is not None:
        return from_benchmark
    raise TypeError(
        "qos_check takes a Measurement, a QosResult, a mapping of metrics or pytest-benchmark's "
        f"`benchmark` fixture after it ran, not {type(subject).__name__}"
    )


@pytest.fixture
def qos_check(request: pytest.FixtureRequest) -> Checker:
    """Judge bounds on a measurement; record them for the report; fail with the table."""

    def check(
        subject: Any, bounds: Mapping[str, str] | None = None, *, label: str = "", **named: str
    ) -> QosResult:
        expect_text = {**(bounds or {}), **{_metric_name(k): v for k, v in named.items()}}
        expect = parse_expectations(expect_text)
        metrics = _metrics_of(subject)
        session = qos_session(request.config)
        result = item_result(request.node)
        measured: Measurement | None = None
        if isinstance(subject, Measurement):
            measured = subject
            if label:
                subject.label = check_label(label)
            if subject not in result.measurements:
                result.measurements.append(subject)
        elif not isinstance(subject, QosResult):
            tool = "values" if isinstance(subject, Mapping) else "benchmark"
            measured = Measurement(tool, metrics, label=label)
            result.measurements.append(measured)
        # Bounds are named as the measurement's metrics are in this test (e.g. tc.throughput).
        prefix = ""
        if measured is not None:
            prefix = prefixes(result.measurements)[result.measurements.index(measured)]
        baseline = session.baseline_metrics(request.node.nodeid) or {}
        own_baseline = {
            name[len(prefix) + 1 :] if prefix else name: value
            for name, value in baseline.items()
            if not prefix or name.startswith(prefix + ".")
        }
        checks = check_bounds(metrics, expect, own_baseline or None)
        for one in checks:
            one.metric = f"{prefix}.{one.metric}" if prefix else one.metric
        checked = QosResult(
            test=result.test,
            measurements=result.measurements,
            checks=checks,
            loads=result.loads,
        )
        session.compare(checked)
        result.checks += checked.checks
        result.comparison = checked.comparison
        result.trend = checked.trend
        if not checked.passed:
            raise QosFailure(checked)
        return result

    return check


@pytest.fixture
def qos_sites(request: pytest.FixtureRequest) -> Iterator[SiteLab]:
    """A site lab (root): `@pytest.mark.qos_sites(sites=N, router=PATH)`; default 3 sites."""
    from ..lab.sitelab import DEFAULT_SITES, SiteLab, sites_unavailable_reason

    reason = sites_unavailable_reason()
    if reason:
        pytest.skip(f"site lab {reason}")
    marker = request.node.get_closest_marker("qos_sites")
    kwargs = marker.kwargs if marker is not None else {}
    router = kwargs.get("router")
    if router is not None:
        router = (request.path.parent / router).resolve()
    lab = SiteLab.create(kwargs.get("sites", DEFAULT_SITES), router)
    try:
        yield lab
    finally:
        lab.destroy()
