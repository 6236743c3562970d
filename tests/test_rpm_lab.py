"""The rpm method through real queues (root): a 20 Mbit/s tbf with a deep and a short queue in
the router lab, checked against an independent ping; the lab with a WAN hop; a path between
two sites over real sshd."""

from __future__ import annotations

import re
import shutil
import statistics
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.lab.sitelab import sites_unavailable_reason
from pytest_qos.measure.runner import Runner
from pytest_qos.methods import rpm, rpm_run
from pytest_qos.units import GRADES

LAB = lab_unavailable_reason()
SITES = sites_unavailable_reason()
pytestmark = [pytest.mark.root, pytest.mark.skipif(LAB is not None, reason=f"router lab {LAB}")]
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PING = re.compile(r"^\[(\d+\.\d+)\].*time=([\d.]+) ms", re.M)
PYTEST = ("-p", "no:cacheprovider")


def tbf(directory: Path, latency: str) -> Path:
    """The router's WAN side shaped to 20 Mbit/s: a FIFO of `latency` worth of queue."""
    config = directory / f"rpm-tbf-{latency}.sh"
    config.write_text(
        '#!/bin/sh\nset -eu\ntc qdisc add dev "$WAN" root tbf rate 20mbit burst 16k '
        f"latency {latency}\n"
    )
    config.chmod(0o755)
    return config


def _window(details: dict[str, Any]) -> tuple[float, float]:
    """Wall-clock span of the intervals the reported RPM was computed over."""
    phase = details["phases"][0]
    window = details["parameters"]["moving_average"]
    last = phase["steps"][phase["final_at"]]
    first = phase["steps"][phase["final_at"] + 1 - window]
    return phase["started"] + first["start"], phase["started"] + last["start"] + last["seconds"]


def _rpm_beside_ping(config: Path) -> tuple[dict[str, float], float, dict[str, Any]]:
    """Run rpm (CUBIC) through `config` with ping beside it; ping's mean RTT over the window
    the method's figures come from."""
    spec = rpm.Rpm.from_options({"congestion": "cubic"})
    with (
        Lab.create(config) as lab,
        Runner(None, lab.target()) as runner,
        tempfile.TemporaryFile("w+") as output,
    ):
        target = lab.target()
        ping = target.client.spawn(["ping", "-D", "-n", "-i", "0.05", target.host], stdout=output)
        try:
            result = rpm_run.run(spec, runner)
        finally:
            ping.stop()
        output.seek(0)
        replies = [(float(at), float(ms) / 1e3) for at, ms in PING.findall(output.read())]
    start, end = _window(result.details)
    # -D stamps a reply when it arrives: it was sent one RTT earlier.
    inside = [rtt for at, rtt in replies if start <= at - rtt < end]
    assert len(inside) >= 40, (len(replies), start, end)
    return result.metrics, statistics.fmean(inside), result.details


def test_deep_and_short_queue_rpm_grades_and_an_independent_ping() -> None:
    """20 Mbit/s, 400 ms of queue vs 5 ms: RPM ≥ 3× apart, grades two letters or more, and
    in both RPM within 25 % of 60 s / the RTT ping saw over the same intervals."""
    with tempfile.TemporaryDirectory() as directory:
        deep, deep_ping, deep_details = _rpm_beside_ping(tbf(Path(directory), "400ms"))
        short, short_ping, short_details = _rpm_beside_ping(tbf(Path(directory), "5ms"))
    for metrics, ping_rtt, details in (
        (deep, deep_ping, deep_details),
        (short, short_ping, short_details),
    ):
        by_ping = 60.0 / ping_rtt
        print(  # the figures docs/methods.md quotes
            f"\nrpm {metrics['rpm']:.0f} (foreign {metrics['rpm.foreign']:.0f}, loaded "
            f"{metrics['rpm.loaded']:.0f}), ping {1e3 * ping_rtt:.1f} ms = {by_ping:.0f} RPM, "
            f"ratio {metrics['rpm'] / by_ping:.3f}, "
            f"increase {1e3 * metrics['latency.increase']:.1f} ms"
        )
        assert metrics["rpm"] == pytest.approx(by_ping, rel=0.25), (metrics, ping_rtt)
        assert details["phases"][0]["confidence"]["goodput"] == "high", details["phases"][0]
        # A 20 Mbit/s shaper passes 0.956 × its rate as TCP goodput (network-facts.md).
        assert metrics["rpm.goodput"] == pytest.approx(0.956 * 20e6, rel=0.08)
    assert short["rpm"] >= 3 * deep["rpm"], (short["rpm"], deep["rpm"])
    assert short["bufferbloat.grade"] - deep["bufferbloat.grade"] >= 2
    assert GRADES[round(deep["bufferbloat.grade"])] in ("D", "F")
    assert GRADES[round(short["bufferbloat.grade"])] in ("A+", "A")
    assert deep["latency.increase"] > 0.2 and short["latency.increase"] < 0.03


def test_lab_scenario_with_a_wan_grades_the_router(pytester: pytest.Pytester) -> None:
    """The shipped lab scenario as a user runs it: good.sh over a 15 ms WAN passes its grade;
    the regressed router (one 500 ms FIFO) fails it, with the step table in the report."""
    shutil.copy(SCENARIOS / "methods" / "rpm-lab.yaml", pytester.path / "rpm-lab.yaml")
    for name in ("good.sh", "regressed.sh"):
        shutil.copy(SCENARIOS / "router-lab" / name, pytester.path / name)
    text = (pytester.path / "rpm-lab.yaml").read_text().replace("../router-lab/", "")
    (pytester.path / "rpm-lab.yaml").write_text(text)
    good = pytester.runpytest_subprocess("--qos", *PYTEST, "-rA", "rpm-lab.yaml")
    good.assert_outcomes(passed=1)
    good.stdout.fnmatch_lines(["*RPM upload: * (foreign *, loaded *), grade *: 3* ms idle*"])
    bad = pytester.runpytest_subprocess(
        "--qos", *PYTEST, "--qos-router-config", "regressed.sh", "rpm-lab.yaml"
    )
    bad.assert_outcomes(failed=1)
    bad.stdout.fnmatch_lines(["*bufferbloat.grade*>= C*F*FAIL*"])


@pytest.mark.skipif(SITES is not None, reason=f"site lab {SITES}")
def test_path_between_sites_over_ssh(pytester: pytest.Pytester) -> None:
    """site1 → site2 through the shipped 200 Mbit/s shaping router (a 50 ms tbf queue):
    TCP_INFO read over ssh, the probe clients spawned at site1, the responder at site2."""
    shutil.copy(SCENARIOS / "sites" / "shape.sh", pytester.path / "shape.sh")
    (pytester.path / "path.qos.yaml").write_text(
        textwrap.dedent(
            """\
            lab: {sites: 2, router: shape.sh}
            path: {from: site1, to: site2}
            tests:
              responsiveness:
                rpm: {congestion: cubic, connections: 8}
                expect:
                  rpm.goodput: ">= 150 Mbit/s"
                  latency.loaded: "10 ms .. 80 ms"
            """
        )
    )
    result = pytester.runpytest_subprocess("--qos", *PYTEST, "-rA", "path.qos.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*RPM upload: *", "*goodput stable*"])
