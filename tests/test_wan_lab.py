"""The lab's WAN hop for real (root): delay, loss, rate, its teardown, the router's counters."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

from conftest import own_namespaces
from pytest_qos.lab import delaylines
from pytest_qos.lab import routerlab as lab_module
from pytest_qos.lab.counters import delta as counter_delta
from pytest_qos.lab.counters import metrics
from pytest_qos.lab.routerlab import (
    Lab,
    LabError,
    kernel_qdiscs,
    lab_namespaces,
    lab_unavailable_reason,
)
from pytest_qos.lab.wan import parse_wan
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.traffic import Traffic
from pytest_qos.measure.wire import add_wire_rate
from pytest_qos.probes import Probe, run_probe
from pytest_qos.results import Measurement

GOOD = Path(__file__).resolve().parent.parent / "scenarios" / "router-lab" / "good.sh"
UNAVAILABLE = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}"),
]


def probe_across(lab: Lab, ipv6: bool = False, **options: str) -> Measurement:
    """A udp probe from the client namespace to the server's, across router and WAN hop."""
    probe = Probe.from_options({"kind": "udp", **options})
    target = lab.target(ipv6=ipv6)
    # Neighbour discovery crosses the WAN hop too: settle it before timing anything.
    family = ["-6"] if ipv6 else ["-4"]
    lab.endpoint("client").run(["ping", *family, "-c", "2", "-i", "0.1", target.host], 10)
    return run_probe(probe, target)


@pytest.mark.parametrize(
    ("wan", "ipv6"),
    [
        ({"delay": "20 ms"}, False),
        ({"up": {"delay": "30 ms"}, "down": {"delay": "10 ms"}}, True),
    ],
    ids=["20ms-each-way-ipv4", "30ms-up-10ms-down-ipv6"],
)
@pytest.mark.alone  # p99 within 2.5 ms of the delay: a probe's late wake-ups add to its RTTs
def test_configured_delay_gives_the_probe_rtt(wan: dict[str, object], ipv6: bool) -> None:
    with Lab.create(wan=parse_wan(wan)) as lab:
        measured = probe_across(lab, ipv6, interval="10 ms", duration="2 s")
        assert lab.wan_backend in ("netem", "userspace")
    p50, p99 = measured.metrics["latency.p50"], measured.metrics["latency.p99"]
    # The path itself adds ~0.05 ms (ping) to ~0.3 ms (this Python probe) to the 40 ms.
    assert 0.0395 <= p50 <= 0.0405, measured.metrics
    assert p99 <= 0.0425, measured.metrics  # room for a loaded 2-core machine
    assert measured.metrics["latency.loss"] == 0


def binomial_interval(trials: int, p: float, confidence: float = 0.999) -> tuple[int, int]:
    """The central `confidence` interval of Binomial(trials, p), exactly."""

    def log_comb(k: int) -> float:
        return math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)

    pmf = [
        math.exp(log_comb(k) + k * math.log(p) + (trials - k) * math.log1p(-p))
        for k in range(trials + 1)
    ]
    tail = (1 - confidence) / 2
    low, below = 0, 0.0
    while below + pmf[low] < tail:
        below += pmf[low]
        low += 1
    high, above = trials, 0.0
    while above + pmf[high] < tail:
        above += pmf[high]
        high -= 1
    return low, high


def test_loss_is_within_the_binomial_interval() -> None:
    with Lab.create(wan=parse_wan({"loss": "0.5 %"})) as lab:
        measured = probe_across(lab, interval="2 ms", duration="3 s")
    sent = int(measured.details["sent"])
    round_trip = 1 - (1 - 0.005) ** 2  # lost on the way out or on the way back
    low, high = binomial_interval(sent, round_trip)
    lost = sent - int(measured.details["received"])
    assert low <= lost <= high, (sent, lost, (low, high))
    assert measured.metrics["latency.loss"] == pytest.approx(100 * lost / sent)


def test_rate_alone_is_a_bridge_and_a_tbf_at_that_rate() -> None:
    with Lab.create(wan=parse_wan({"rate": "20 Mbit/s"})) as lab:
        assert lab.wan_backend == "bridge"
        assert lab.wan_description == "bridge + tbf (rate only): 0 s, 20 Mbit/s each way"
        target = lab.target()
        assert target.server is not None and target.bind is not None
        iperf3 = Iperf3()
        flow = Traffic(protocol="udp", bitrate=30e6, duration=1.0)
        with iperf3.server(target.server, target.bind) as server:
            measured = iperf3.run(flow, target.host, server.port, endpoint=target.client)
    wire = add_wire_rate(measured)
    assert wire is not None and 18.5e6 <= wire <= 20.6e6, measured.metrics


def test_the_wan_hop_and_its_delay_line_go_with_the_lab() -> None:
    before = own_namespaces()
    lab = Lab.create(wan=parse_wan({"delay": "5 ms"}))
    try:
        assert lab.hop in lab_namespaces() and lab.hop.endswith("-wan")
        assert lab.endpoint("wan").name == lab.hop
        pids = lab_module._pids_in([lab.hop])
        if lab.wan_backend == "userspace":
            assert len(pids) == 2  # one delay line per direction
            for pid in pids:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                assert cmdline[3].endswith(b"delayline.py")
    finally:
        lab.destroy()
    assert own_namespaces() == before
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


def test_a_delay_line_that_cannot_start_fails_the_lab_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = [sys.executable, "-c", "import sys; sys.exit('error: no AF_PACKET here')"]
    monkeypatch.setattr(delaylines, "delay_line_command", lambda *_a, **_k: failing)
    monkeypatch.setattr(lab_module, "kernel_qdiscs", lambda: frozenset({"tbf", "htb"}))
    before = own_namespaces()
    with pytest.raises(LabError, match="the WAN delay line did not start: error: no AF_PACKET"):
        Lab.create(wan=parse_wan({"delay": "5 ms"}))
    assert own_namespaces() == before


@pytest.mark.kernel_optional
@pytest.mark.skipif("netem" not in kernel_qdiscs(), reason="this kernel has no netem")
def test_netem_backend_gives_the_probe_rtt() -> None:
    with Lab.create(wan=parse_wan({"delay": "20 ms", "backend": "netem"})) as lab:
        assert lab.wan_backend == "netem"
        measured = probe_across(lab, interval="10 ms", duration="2 s")
    assert 0.0395 <= measured.metrics["latency.p50"] <= 0.0405


def test_router_view_counts_ef_in_its_class_on_both_interfaces() -> None:
    with Lab.create(router_config=GOOD) as lab:
        view = lab.router_view()
        before = view.snapshot()
        ping = ["ping", "-n", "-c", "20", "-i", "0.01", "-Q", "0xb8", lab.addresses.server]
        assert lab.endpoint("client").run(ping, timeout=10).returncode == 0
        after = view.snapshot()
        assert "1:10" in view.filters()
    values = metrics(counter_delta(before, after))
    assert values["router.WAN.class.1:10.packets"] >= 20  # the requests, leaving by WAN
    assert values["router.LAN.class.1:10.packets"] >= 20  # the EF replies, leaving by LAN
    assert values["router.class.1:10.packets"] == (
        values["router.WAN.class.1:10.packets"] + values["router.LAN.class.1:10.packets"]
    )
    assert values["router.qdisc.1:.drops"] == 0
