"""The shipped WAN and router-counter examples, and `ip: both`, run as a user runs them (root)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from pytest_qos.lab.routerlab import lab_unavailable_reason

ROUTER_LAB = Path(__file__).parents[1] / "scenarios" / "router-lab"
REASON = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(REASON is not None, reason=f"router lab {REASON}"),
]


@pytest.fixture
def router_lab(pytester: pytest.Pytester) -> Path:
    """A copy of scenarios/router-lab in a fresh directory, as a user's checkout has it."""
    copy = pytester.path / "router-lab"
    shutil.copytree(ROUTER_LAB, copy)
    return copy


@pytest.mark.usefixtures("no_lab_left")
@pytest.mark.alone  # voice p99 under 31 ms on a 30 ms WAN: 1 ms for the whole path's wake-ups
def test_good_config_keeps_voice_near_the_wan_rtt(
    pytester: pytest.Pytester, router_lab: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--qos", "--qos-json=wan.json", "-p", "no:cacheprovider", str(router_lab / "wan.yaml")
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "WAN emulation: * 15 ms each way",
            "*voice-over-the-wan*latency.min*>= 29.5 ms*pass*",
            "*voice-over-the-wan*latency.p99*< 31 ms*ms*pass*",
        ]
    )
    document = json.loads((pytester.path / "wan.json").read_text())
    assert document["environment"]["wan"][0].endswith(": 15 ms each way")


def run_failing(pytester: pytest.Pytester, config: Path, scenario: Path) -> pytest.RunResult:
    """`scenario` through the router `config` that breaks it; its per-hop diagnosis (~10 s
    after a failure) is not what these tests check."""
    return pytester.runpytest_subprocess(
        "--qos",
        "-p",
        "no:cacheprovider",
        "--qos-diagnose=never",
        f"--qos-router-config={config}",
        str(scenario),
    )


@pytest.mark.usefixtures("no_lab_left")
def test_deep_fifo_shows_bufferbloat_on_top_of_the_wan(
    pytester: pytest.Pytester, router_lab: Path
) -> None:
    # Four CUBIC streams into the 500 ms FIFO: on this 2-core VM the delay line's p99 lateness
    # passed its 1 ms tolerance in 12 of 31 runs here, main's code too (1.0-3.7 ms), and
    # the run is then rightly an error (WAN delay line overloaded), not a figure. The test
    # asks for the bufferbloat once the line carried the load: at most 3 runs, and only
    # that error may precede it.
    for _attempt in range(3):
        result = run_failing(pytester, router_lab / "regressed.sh", router_lab / "wan.yaml")
        if result.parseoutcomes().get("errors") != 1:
            break
        result.stdout.fnmatch_lines(["ERROR *voice-over-the-wan - WAN delay line overloaded: *"])
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "QoS bounds missed: latency.p99",
            "*latency.min*>= 29.5 ms*pass*",
            "*latency.p99*< 31 ms*FAIL*",
            "router counters over the measured window (* s, read at its edges; change;*",
            "WAN*qdisc 1:*tbf*root*",
            "router filters (tc filter show):",
            "WAN hop: * 15 ms each way",
        ]
    )
    p99 = next(line for line in result.stdout.lines if "latency.p99" in line and "FAIL" in line)
    measured = float(p99.split("< 31 ms")[1].split()[0])
    assert measured >= 100  # ms: hundreds of ms of queue on top of the 30 ms


@pytest.mark.usefixtures("no_lab_left")
def test_router_expectations_pass_on_the_good_classes(
    pytester: pytest.Pytester, router_lab: Path
) -> None:
    html = importlib.util.find_spec("pytest_html") is not None
    result = pytester.runpytest_subprocess(
        "--qos",
        "--qos-json=classes.json",
        "-p",
        "no:cacheprovider",
        *(["--html=classes.html"] if html else []),
        str(router_lab / "classes.yaml"),
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*router.class.1:20.bytes*> 1000000 B*pass*", "*router.qdisc.1:.drops*== 0*0*pass*"]
    )
    document = json.loads((pytester.path / "classes.json").read_text())
    (test,) = document["results"]
    assert test["metrics"]["router.class.1:20.bytes"] > 1e6
    router = next(m for m in test["measurements"] if m["tool"] == "router")
    rows = {
        (row["interface"], row["object"], row["id"]): row
        for row in router["details"]["router_deltas"]
    }
    assert rows[("WAN", "class", "1:20")]["bytes"] > 1e6
    assert rows[("LAN", "class", "1:20")]["bytes"] < 1e5  # only the reverse acks
    if html:
        page = (pytester.path / "classes.html").read_text()
        assert "router counters over the measured window" in page and "class 1:20" in page


@pytest.mark.usefixtures("no_lab_left")
def test_broken_af41_filter_fails_naming_the_class_with_its_delta(
    pytester: pytest.Pytester, router_lab: Path
) -> None:
    result = run_failing(pytester, router_lab / "classes-broken.sh", router_lab / "classes.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "QoS bounds missed: router.class.1:20.bytes, router.WAN.class.1:20.packets",
            "*throughput*>= 7.5 Mbit/s*pass*",
            "*router.class.1:20.bytes*> 1000000 B*FAIL*",
            "router counters over the measured window (* s, read at its edges; change;*",
            "if*object*kind*parent*bytes*packets*drops*overlimits*requeues*backlog",
            "WAN*class 1:20*htb*1:1*0*0*",
            "WAN*class 1:30*htb*1:1*",
            "router filters (tc filter show):",
            "*match 00800000/00fc0000 at 0*",
        ]
    )


IP_BOTH = """\
lab: {ip: both}
defaults: {duration: 1 s, settle: 0 s}
tests:
  tcp: {traffic: {protocol: tcp}, expect: {throughput: "> 100 Mbit/s"}}
  udp: {traffic: {protocol: udp, bitrate: 10 Mbit/s}, expect: {loss: "<= 1 %"}}
  bidir: {traffic: {protocol: tcp, direction: bidir}, expect: {throughput.reverse: "> 0 bit/s"}}
  udp-probe:
    probe: {kind: udp, interval: 50 ms, duration: 0.5 s}
    expect: {latency.p99: "< 50 ms"}
  icmp-probe:
    probe: {kind: icmp, interval: 50 ms, duration: 0.5 s}
    expect: {latency.p99: "< 50 ms"}
  tcp-probe:
    probe: {kind: tcp, interval: 50 ms, duration: 0.5 s}
    expect: {latency.p99: "< 50 ms"}
"""


@pytest.mark.usefixtures("no_lab_left")
def test_ip_both_runs_every_test_kind_once_per_family(pytester: pytest.Pytester) -> None:
    (pytester.path / "both.qos.yaml").write_text(IP_BOTH)
    result = pytester.runpytest_subprocess(
        "--qos", "-v", "-p", "no:cacheprovider", "--qos-json=both.json"
    )
    result.assert_outcomes(passed=12)
    for name in ("tcp", "udp", "bidir", "udp-probe", "icmp-probe", "tcp-probe"):
        result.stdout.fnmatch_lines_random(
            [
                f"*both.qos.yaml::{name}[[]ipv4[]] PASSED*",
                f"*both.qos.yaml::{name}[[]ipv6[]] PASSED*",
            ]
        )
    document = json.loads((pytester.path / "both.json").read_text())
    hosts = {}
    for test in document["results"]:
        measured = test["measurements"][0]
        hosts[test["test"]] = measured["details"].get("host") or " ".join(measured["command"])
    assert all("198.18.2.2" in host for name, host in hosts.items() if "[ipv4]" in name)
    assert all("2001:2:0:2::2" in host for name, host in hosts.items() if "[ipv6]" in name)


@pytest.mark.usefixtures("no_lab_left")
def test_qos_lab_fixture_takes_a_wan(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        @pytest.mark.qos_lab(wan={"delay": "10 ms"})
        def test_wan(qos_lab):
            assert qos_lab.lab.wan_backend in ("netem", "userspace")
            result = qos_lab.latency_probe(kind="udp", interval="20 ms", duration="1 s")
            assert 0.0195 <= result.metrics["latency.p50"] <= 0.0210, result.metrics
        """
    )
    result = pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
