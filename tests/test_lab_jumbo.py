"""Jumbo frames end to end in the lab (`lab: {mtu: 9000}`) and RFC 2544 at jumbo frame sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.hosts.endpoints import Netns
from pytest_qos.lab.mtu import interfaces, parse_mtu
from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.measure.runner import Runner
from pytest_qos.methods import rfc2544
from pytest_qos.methods.execute import IperfTrial
from pytest_qos.methods.frames import check_mtu
from pytest_qos.scenario.reader import parse_scenario

UNAVAILABLE = lab_unavailable_reason()
needs_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")


def test_mtu_is_read_like_the_wans_keys(tmp_path: Path) -> None:
    assert parse_mtu(9000) == 9000 and parse_mtu("9000 B") == 9000
    for bad in (True, "jumbo", 100, 70000, 1500.5):
        with pytest.raises(InputError, match="mtu is a whole number of bytes from 1280 to 65535"):
            parse_mtu(bad)
    scenario = parse_scenario(
        "lab: {mtu: 9000}\ntests:\n  t:\n    rfc2544: {range: 1 Mbit/s .. 10 Mbit/s, "
        "frame_sizes: jumbo}\n",
        tmp_path / "s.yaml",
    )
    assert scenario.lab is not None and scenario.lab.mtu == 9000
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("lab: {mtu: 90000}\ntests:\n  t:\n    probe: {kind: udp}\n", tmp_path / "s")
    assert (caught.value.line, caught.value.key) == (1, "lab.mtu")


def test_a_frame_the_path_cannot_carry_whole_is_refused() -> None:
    check_mtu([64, 1518, 9018], 9000)  # fits
    with pytest.raises(InputError) as caught:
        check_mtu([64, 9018], 1500)
    assert str(caught.value).startswith(
        "frame_sizes: frame size 9018 B needs an MTU of 9000 B on the path, and this path's "
        "is 1500 B"
    )
    assert "lab: {mtu: 9000}" in str(caught.value)


@pytest.mark.root
@needs_lab
@pytest.mark.alone  # an RFC 2544 search within 3 %: a busy core's late sends read as the limit
def test_every_lab_link_carries_jumbo_frames_and_rfc2544_measures_them(tmp_path: Path) -> None:
    config = tmp_path / "tbf.sh"
    # A 100 Mbit/s tbf whose burst holds several 9 kB frames.
    config.write_text(
        '#!/bin/sh\nset -eu\ntc qdisc add dev "$WAN" root tbf rate 100mbit burst 64k latency 5ms\n'
    )
    config.chmod(0o755)
    with Lab.create(config, mtu=9000) as lab, Runner(None, lab.target()) as runner:
        for namespace in lab.namespaces:
            for name in interfaces(namespace):
                shown = Netns(namespace).run(["cat", f"/sys/class/net/{name}/mtu"], timeout=5)
                assert shown.stdout.strip() == "9000", (namespace, name)
        # A 8972-byte ping with DF set crosses whole: 9000 bytes of IP end to end.
        ping = lab.endpoint("client").run(
            ["ping", "-M", "do", "-s", "8972", "-c", "1", "-W", "2", lab.addresses.server],
            timeout=10,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        spec = rfc2544.Rfc2544(
            low=10e6, high=400e6, frame_sizes=(9018,), trial=1.0, resolution=2.0, max_trials=10
        )
        result = rfc2544.run(spec, IperfTrial(runner), mtu=lab.target().mtu)
        found = result.metrics["rfc2544.throughput.9018"]
        # The tbf counts frames without their FCS: 9018/9014 of 100 Mbit/s in our terms.
        assert found == pytest.approx(100e6 * 9018 / 9014, rel=0.03), result.details["searches"]
    with (
        Lab.create() as plain,
        Runner(None, plain.target()) as runner,
        pytest.raises(InputError, match="this path's is 1500 B"),
    ):
        rfc2544.run(spec, IperfTrial(runner), mtu=plain.target().mtu)
