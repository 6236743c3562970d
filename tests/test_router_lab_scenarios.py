"""The shipped router-lab example, run as a user runs it: good config passes, regressed fails."""

from __future__ import annotations

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
    copy = pytester.path / "scenarios" / "router-lab"
    shutil.copytree(ROUTER_LAB, copy)
    return copy


@pytest.mark.usefixtures("no_lab_left")
def test_good_config_passes_every_scenario(pytester: pytest.Pytester, router_lab: Path) -> None:
    result = pytester.runpytest_subprocess(
        "--qos", "--qos-json=good.json", str(router_lab / "branch.yaml")
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*bulk-is-shaped*throughput.wire*19.6 Mbit/s .. 20.4 Mbit/s*pass*",
            "*voice-keeps-priority*latency.p99*<= 15 ms*pass*",
        ]
    )


@pytest.mark.usefixtures("no_lab_left")
def test_regressed_config_fails_voice_and_shows_why(
    pytester: pytest.Pytester, router_lab: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--qos",
        "--qos-diagnose=never",
        "--qos-router-config",
        str(router_lab / "regressed.sh"),
        str(router_lab / "branch.yaml"),
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*qos: voice-keeps-priority*",
            "QoS bounds missed: latency.p99",
            "*latency.p99*<= 15 ms*ms*FAIL*",
            "*load 1 throughput*(reported)*Mbit/s*",
            "reproduce (probe:udp), as root, while the namespaces qos-*-{client,router,server}*",
            "  ip netns exec qos-*-server *iperf3 -s -J -B 198.18.2.2 -p * -1 >/dev/null &",
            "  ip netns exec qos-*-server *-m pytest_qos responder --bind 198.18.2.2 --port *",
            "  sleep 1",
            "  ip netns exec qos-*-client *iperf3 -c 198.18.2.2 * -C cubic* >/dev/null &",
            "  sleep *",
            "  ip netns exec qos-*-client *-m pytest_qos probe --kind udp*",
            "router counters over the measured window (* s, read at its edges; change;*",
            "WAN*qdisc 1:*tbf*root*",
            "router filters (tc filter show):",
        ]
    )


def test_failing_router_config_is_an_error_with_its_own_stderr(pytester: pytest.Pytester) -> None:
    config = pytester.path / "broken.sh"
    config.write_text("#!/bin/sh\necho 'tc: no such qdisc fq_pie' >&2\nexit 3\n")
    config.chmod(0o755)
    (pytester.path / "lab.qos.yaml").write_text(
        "lab: {router: broken.sh}\ntests:\n  t:\n    traffic: {protocol: tcp, duration: 1 s}\n"
    )
    result = pytester.runpytest_subprocess("--qos")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken.sh*exit 3*tc: no such qdisc fq_pie*"])
    assert "Traceback" not in result.stdout.str()


def test_qos_lab_fixture_measures_across_the_router(pytester: pytest.Pytester) -> None:
    shutil.copy(ROUTER_LAB / "good.sh", pytester.path / "good.sh")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        @pytest.mark.qos_lab(router="good.sh")
        def test_shaped(qos_lab, qos_check):
            assert qos_lab.target.host == "198.18.2.2"
            result = qos_lab.iperf3.run(protocol="udp", bitrate="30 Mbit/s", duration="1 s")
            qos_check(result, {"throughput.wire": "19 Mbit/s .. 20.5 Mbit/s"})
            assert "htb" in qos_lab.qdiscs()
        """
    )
    result = pytester.runpytest_subprocess("--qos")
    result.assert_outcomes(passed=1)


def test_missing_router_config_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--qos", "--qos-router-config=nope.sh")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--qos-router-config=nope.sh: no such file*"])
