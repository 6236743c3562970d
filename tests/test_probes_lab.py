"""Probes through the router lab: which direction queues, and DSCP re-marked on the way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_qos.errors import MeasurementError
from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3, parse_json
from pytest_qos.measure.traffic import Traffic
from pytest_qos.probes import Probe, run_probe
from pytest_qos.results import Measurement

ROUTER_LAB = Path(__file__).parent.parent / "scenarios" / "router-lab"
REGRESSED = ROUTER_LAB / "regressed.sh"  # one 20 Mbit/s FIFO tbf, 500 ms queue, both ways
UNAVAILABLE = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}"),
]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One lab for the module; each test applies the router config it needs."""
    with Lab.create() as built:
        yield built


def _config(directory: Path, body: str, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\nset -eu\n" + body)
    path.chmod(0o755)
    return path


def _probe_under_load(lab: Lab, direction: str) -> Measurement:
    """A udp probe (20 ms, 1 s) while 4 CUBIC streams fill the queue of one direction."""
    iperf3 = Iperf3()
    target = lab.target()
    assert target.server is not None and target.bind is not None
    load = Traffic(protocol="tcp", streams=4, duration=3, congestion="cubic", direction=direction)
    probe = Probe.from_options({"interval": "20 ms", "duration": "1 s"}).for_metrics(
        ["latency.up.p99"]
    )
    with iperf3.server(target.server, target.bind) as server:
        command = iperf3.command(load, target.host, server.port)
        with target.client.spawn(command) as running:
            time.sleep(1.0)  # CUBIC fills the 500 ms FIFO within the first second
            probed = run_probe(probe, target)
            out, err = running.communicate(timeout=load.timeout)
    document = parse_json(out, err, running.returncode or 0, command)
    assert not document.get("error"), document.get("error")
    return probed


def test_the_queued_direction_shows_in_one_way_delay(lab: Lab) -> None:
    """Upload load: latency.up.p99 ≫ latency.down.p99; download load: the reverse."""
    lab.apply(REGRESSED)
    upload = _probe_under_load(lab, "upload").metrics
    download = _probe_under_load(lab, "download").metrics
    print(
        {
            name: {
                key: f"{figures[key] * 1e3:.2f} ms"
                for key in ("latency.up.p99", "latency.down.p99")
            }
            for name, figures in (("upload", upload), ("download", download))
        }
    )
    # ~200-500 ms of FIFO in the loaded direction, well under 10 ms in the other.
    assert upload["latency.up.p99"] > 0.050
    assert upload["latency.up.p99"] > 10 * upload["latency.down.p99"]
    assert download["latency.down.p99"] > 0.050
    assert download["latency.down.p99"] > 10 * download["latency.up.p99"]
    # Round trip = up + down (+ the reflector's holding time, which STAMP subtracts).
    assert upload["latency.p50"] == pytest.approx(
        upload["latency.up.p50"] + upload["latency.down.p50"], rel=0.25
    )


def test_ef_remarked_to_cs1_fails_dscp_changed_naming_both(
    lab: Lab, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    """nftables `ip dscp set cs1` on EF: dscp.changed 100 %, and the report says EF and CS1."""
    remark = _config(
        tmp_path,
        "nft add table ip remark\n"
        "nft 'add chain ip remark remarking { type filter hook forward priority 0; }'\n"
        "nft add rule ip remark remarking ip dscp ef ip dscp set cs1\n",
        "probes-remark.sh",
    )
    probe = Probe.from_options({"interval": "10 ms", "count": 30, "dscp": "EF"}).for_metrics(
        ["dscp.changed"]
    )
    lab.apply(remark)
    remarked = run_probe(probe, lab.target())
    lab.apply(_config(tmp_path, "true\n", "probes-clean.sh"))
    clean = run_probe(probe, lab.target())
    assert remarked.metrics["dscp.changed"] == 100.0
    assert remarked.metrics["dscp.received"] == 8  # CS1
    # The reply is re-marked too on its way back through the forward hook.
    assert remarked.metrics["dscp.return.received"] == 8
    assert any("EF (46)" in note and "CS1 (8)" in note for note in remarked.details["notes"])
    assert clean.metrics["dscp.changed"] == 0.0 and clean.metrics["dscp.received"] == 46
    assert clean.metrics["dscp.return.changed"] == 0.0
    # The same through a scenario file: the failure report names both values.
    scenario = pytester.makefile(
        ".yaml",
        remarked_lab=f"lab:\n  router: {remark}\n"
        "tests:\n  voice-marking:\n"
        "    probe: {kind: udp, interval: 10 ms, count: 20, dscp: EF}\n"
        '    expect: {dscp.changed: "== 0 %"}\n',
    )
    result = pytester.runpytest_subprocess(
        "--qos", "--qos-diagnose=never", "-p", "no:cacheprovider", str(scenario)
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*dscp.changed*", "*DSCP sent EF (46)*CS1 (8)*"])


# nft drops forwarded UDP at random, both ways (the router config of a lossy path).
_LOSSY = """nft add table inet lossy
nft add chain inet lossy fwd_chain '{{ type filter hook forward priority 0; }}'
nft add rule inet lossy fwd_chain meta l4proto udp numgen random mod 100 '<' {percent} drop
"""


def test_the_start_up_check_survives_a_path_losing_half_its_packets(
    lab: Lab, tmp_path: Path
) -> None:
    """50 % loss each way (75 % of round trips): the probe measures, it does not error out.

    Before, three hellos over the timeout failed 42 % of runs (0.75³); now 50 hellos.
    """
    lab.apply(_config(tmp_path, _LOSSY.format(percent=50), "lossy.sh"))
    try:
        probe = Probe.from_options({"interval": "10 ms", "count": 20, "timeout": "300 ms"})
        losses = [run_probe(probe, lab.target()).metrics["latency.loss"] for _ in range(12)]
    finally:
        lab.routers[0].reset()
    # Each run measured the path's loss; round-trip loss 75 %, 20 probes each.
    assert 50 < sum(losses) / len(losses) < 95, losses


def test_a_path_losing_everything_says_what_was_checked(lab: Lab, tmp_path: Path) -> None:
    blackhole = _LOSSY.format(percent=0).replace("numgen random mod 100 '<' 0 ", "")
    lab.apply(_config(tmp_path, blackhole, "blackhole.sh"))
    try:
        probe = Probe.from_options({"interval": "10 ms", "count": 5, "timeout": "200 ms"})
        started = time.monotonic()
        with pytest.raises(MeasurementError) as raised:
            run_probe(probe, lab.target())
        elapsed = time.monotonic() - started
    finally:
        lab.routers[0].reset()
    message = str(raised.value)
    assert message.startswith("no reply from 198.18.2.2:"), message
    assert "within 1 s (50 hello packets sent, one every 20 ms; no reply and no ICMP" in message
    assert message.endswith("is open, so the hellos or their replies were lost on the path"), (
        message
    )
    assert "Checked at the server: the responder is running and udp port" in message
    assert elapsed < 10, elapsed
