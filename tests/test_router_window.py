"""The router's counters over the measured window (read at its edges), and a per-class rate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_qos.errors import InputError
from pytest_qos.judge.metrics import lookup
from pytest_qos.lab.counters import Counters, Entry, RouterView, Snapshot, parse_name
from pytest_qos.lab.routerlab import lab_unavailable_reason
from pytest_qos.measure.edges import Window
from pytest_qos.units import Kind

ROUTER_LAB = Path(__file__).parents[1] / "scenarios" / "router-lab"
UNAVAILABLE = lab_unavailable_reason()


def _snapshot(sent: int) -> Snapshot:
    entry = Entry("WAN", "class", "1:20", "htb", "1:1", Counters(bytes=sent, packets=sent // 1500))
    return {(entry.side, entry.object, entry.id): entry}


def test_counters_count_the_window_and_the_whole_test_apart() -> None:
    """8 s of traffic, a 6 s window: bytes and rate are the window's; router.whole. the test's."""
    view = RouterView(router=None, interfaces={})  # type: ignore[arg-type]
    window = Window(_snapshot(1_000_000), _snapshot(7_000_000), seconds=6.0)
    wanted = [
        "router.class.1:20.bytes",
        "router.WAN.class.1:20.rate",
        "router.whole.class.1:20.bytes",
        "router.whole.WAN.class.1:20.packets",
    ]
    measured = view.measurement(_snapshot(0), _snapshot(8_000_000), wanted, window)
    assert measured.metrics == {
        "router.class.1:20.bytes": 6_000_000.0,
        "router.WAN.class.1:20.rate": 8_000_000.0,  # 6 MB in 6 s
        "router.whole.class.1:20.bytes": 8_000_000.0,
        "router.whole.WAN.class.1:20.packets": 5333.0,
    }
    assert measured.details["router_window"] == 6.0
    assert measured.details["router_deltas"][0]["bytes"] == 6_000_000
    assert measured.details["router_whole_deltas"][0]["bytes"] == 8_000_000


def test_rate_and_whole_names() -> None:
    assert parse_name("router.whole.WAN.class.1:20.bytes").span == "whole"
    assert parse_name("router.class.1:20.rate").counter == "rate"
    assert lookup("router.class.1:20.rate").kind == Kind.RATE
    assert "measured window" in lookup("router.class.1:20.bytes").definition
    assert "whole test" in lookup("router.whole.class.1:20.bytes").definition
    with pytest.raises(InputError, match="a rate is over the measured window only"):
        parse_name("router.whole.class.1:20.rate")


@pytest.mark.root
@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")
def test_a_class_rate_compares_with_the_flows_throughput_directly(
    pytester: pytest.Pytester,
) -> None:
    """A mix through classes.sh: video (AF41) in 1:20 for a 3 s window after 1 s of settling
    (5 s of traffic in all). The class's rate is the flow's wire rate; its bytes are the window's,
    and router.whole. counts the 5 s."""
    shutil.copy(ROUTER_LAB / "classes.sh", pytester.path / "classes.sh")
    (pytester.path / "mix.qos.yaml").write_text(
        "lab: {router: classes.sh}\n"
        "tests:\n"
        "  mix:\n"
        "    flows:\n"
        "      video: {protocol: udp, bitrate: 8 Mbit/s, dscp: AF41}\n"
        "      bulk: {protocol: udp, bitrate: 3 Mbit/s}\n"
        "    settle: 1 s\n"
        "    duration: 3 s\n"
        "    expect:\n"
        "      video.throughput: '>= 7.5 Mbit/s'\n"
        "      router.WAN.class.1:20.rate: '7.5 Mbit/s .. 9 Mbit/s'\n"
        "      router.WAN.class.1:20.bytes: '> 1 MB'\n"
        "      router.whole.WAN.class.1:20.bytes: '> 1 MB'\n"
    )
    result = pytester.runpytest_subprocess("--qos", "--qos-json=r.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [test] = json.loads((pytester.path / "r.json").read_text())["results"]
    metrics = test["metrics"]
    wire = metrics["video.throughput.wire"]
    rate = metrics["router.WAN.class.1:20.rate"]
    assert rate == pytest.approx(wire, rel=0.03), (rate, wire)
    window = metrics["router.WAN.class.1:20.bytes"]
    assert window * 8 / 3 == pytest.approx(wire, rel=0.04)
    # The whole test: settle 1 s + window 3 s + tail 1 s of the same rate.
    assert metrics["router.whole.WAN.class.1:20.bytes"] / window == pytest.approx(5 / 3, rel=0.1)
    [router] = [m for m in test["measurements"] if m["tool"] == "router"]
    assert 2.9 < router["details"]["router_window"] < 3.2
