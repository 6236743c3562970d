"""The hops probe: its options, its record read from a captured run, the raw ICMP quotes, the
shipped script; as root, across a chain of routers one of which re-marks EF to CS1."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_qos.errors import InputError, MeasurementError, ScenarioError
from pytest_qos.hosts import ship
from pytest_qos.judge.metrics import find, format_metric
from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.lab.spec import RouterSpec
from pytest_qos.probes import Probe, run_probe
from pytest_qos.probes.hops import _Answers
from pytest_qos.probes.path import check_wanted, hop_details, hop_metrics
from pytest_qos.scenario.reader import parse_scenario
from pytest_qos.units import Kind

CAPTURED = json.loads((Path(__file__).parent / "data" / "hops" / "chain-remark.json").read_text())
CHAIN = Path(__file__).parents[1] / "scenarios" / "chain"
NAMES = {"198.18.1.1": "edge", "198.18.2.2": "core", "198.18.3.2": "far", "198.18.4.2": "server"}
UNAVAILABLE = lab_unavailable_reason()
needs_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")


# --- options and metrics --------------------------------------------------------------------


def test_defaults_stay_under_a_default_routers_icmp_rate_limit() -> None:
    probe = Probe.from_options({"kind": "hops"})
    # One round a second: each hop is asked once a second (net.ipv4.icmp_ratelimit = 1000 ms).
    assert (probe.interval, probe.packets, probe.max_hops) == (1.0, 5, 30)
    assert Probe.from_options({"kind": "hops", "duration": "3 s"}).packets == 3
    assert Probe.from_options({"kind": "hops", "max_hops": 8}).max_hops == 8
    with pytest.raises(InputError, match=r"'max_hops' has no meaning for an? udp probe") as caught:
        Probe.from_options({"kind": "udp", "max_hops": 8})
    assert caught.value.key == "max_hops"
    with pytest.raises(InputError, match="max_hops must be"):
        Probe.from_options({"kind": "hops", "max_hops": 0})


def test_hop_metrics_are_in_the_catalogue_and_take_dscp_names() -> None:
    metric = find("hop.3.dscp")
    assert metric is not None and metric.kind is Kind.DSCP
    assert "hop 3 received" in metric.definition
    assert format_metric("hop.3.dscp", 8.0) == "CS1 (8)"
    assert find("hop.2.latency.p99") is not None and find("path.hop.2.loss") is not None
    assert find("hop.0.loss") is None  # hops count from 1


@pytest.mark.parametrize(
    ("probe", "metric", "message"),
    [
        ("{kind: udp}", "hop.2.dscp", "is measured hop by hop by a hops probe; use 'kind: hops'"),
        ("{kind: hops}", "latency.p99", "a hops probe reports hops and hop.N.latency"),
        ("{kind: hops, max_hops: 4}", "hop.5.loss", "hops are numbered 1 to max_hops (4)"),
        ("{kind: icmp}", "hops", "use 'kind: hops'"),
    ],
)
def test_bounds_a_probe_cannot_report_are_scenario_errors(
    probe: str, metric: str, message: str
) -> None:
    bound = {"hop.2.dscp": "== EF", "latency.p99": "< 1 ms", "hop.5.loss": "< 1 %"}.get(
        metric, "< 9"
    )
    text = f"tests:\n  t:\n    probe: {probe}\n    expect:\n      {metric}: '{bound}'\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, Path("h.qos.yaml"))
    assert (caught.value.line, caught.value.key) == (5, f"tests.t.expect.{metric}")
    assert message in caught.value.message


def test_a_hops_test_alone() -> None:
    text = (
        "tests:\n  t:\n    probe: {kind: hops, dscp: EF}\n    expect:\n"
        "      hops: '<= 4'\n      hop.2.dscp: '== EF'\n"
    )
    (spec,) = parse_scenario(text, Path("h.qos.yaml")).tests
    assert spec.expect["hop.2.dscp"].limit == 46
    assert spec.probe is not None and spec.probe.needs_hop == 2 and spec.probe.needs_hops
    assert spec.probe.needs_hop_dscp


# --- a captured run -------------------------------------------------------------------------


def test_the_path_and_its_metrics_from_a_captured_run() -> None:
    probe = Probe.from_options({"kind": "hops", "dscp": "EF"})
    details = hop_details(probe, CAPTURED["ipv4"], NAMES)
    path = details["path"]
    assert [(row["hop"], row["name"], row["dscp"]) for row in path] == [
        (1, "edge", 46),
        (2, "core", 46),
        (3, "far", 46),
        (4, "server", 8),
    ]
    metrics = hop_metrics(path, details["destination_hop"])
    assert metrics["hops"] == 4 and metrics["hop.4.dscp"] == 8 and metrics["hop.3.dscp"] == 46
    assert metrics["hop.2.loss"] == 0 and 0 < metrics["hop.4.latency.p50"] < 0.01
    assert details["dscp_source"].startswith("quoted IPv4 header (raw ICMP socket")
    assert any("hop loss is not path loss" in note for note in details["notes"])
    six = hop_details(probe, CAPTURED["ipv6"], {})
    assert [row["dscp"] for row in six["path"]] == [46, 46, 46, 8]
    assert six["dscp_source"] == "quoted IPv6 header (error queue flow information)"


def test_a_bound_on_a_hop_the_path_lacks_is_one_line() -> None:
    probe = Probe.from_options({"kind": "hops"}).for_metrics(["hop.6.loss"])
    details = {**hop_details(probe, CAPTURED["ipv4"], NAMES), "host": "198.18.4.2"}
    with pytest.raises(MeasurementError) as caught:
        check_wanted(probe, details, ["hops"])
    assert str(caught.value) == (
        "hop.6: the path to 198.18.4.2 has 4 hops (the destination answered at hop 4)"
    )


def test_raw_icmp_quotes_give_the_tos_each_hop_received() -> None:
    """Captured ICMP errors: time exceeded quotes TOS 0xb8 (EF), the server's 0x20 (CS1)."""
    quotes = {}
    for text in CAPTURED["raw_icmp"]:
        packet = bytes.fromhex(text)
        source, destination = struct.unpack_from("!HH", packet, 20 + 8 + 20)
        answers = _Answers("198.18.4.2", 10**9)
        answers.quoted(packet, source)
        quotes[packet[20]] = answers.quoted_tos[destination]  # ICMP type → quoted TOS
        answers.quoted(packet, source + 1)  # another socket's probe: not ours
    assert quotes == {11: 0xB8, 3: 0x20}


def test_the_shipped_script_carries_the_hops_command() -> None:
    assert "pytest_qos.probes.hops" in [name for name, _ in ship.modules()]
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    done = subprocess.run(
        [python, "-I", "-c", ship.one_liner(), "hops", "--max-hops", "0", "--host", "x"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd="/",
    )
    assert done.returncode == 2 and "--max-hops must be from 1 to 64, got 0" in done.stderr


# --- as root, across a chain ----------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> object:
    specs = [
        RouterSpec("edge"),
        RouterSpec("core"),
        RouterSpec("far", CHAIN / "far-remarks.sh"),
    ]
    with Lab.create(routers=specs) as lab:
        yield lab


@pytest.mark.root
@needs_lab
@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_every_hop_named_with_the_dscp_it_received(chain: Lab, ipv6: bool) -> None:
    probe = Probe.from_options({"kind": "hops", "dscp": "EF", "interval": "0.2 s", "count": 3})
    measured = run_probe(probe, chain.target(ipv6=ipv6))
    path = measured.details["path"]
    assert [row["name"] for row in path] == ["edge", "core", "far", "server"]
    assert [row["dscp"] for row in path] == [46, 46, 46, 8]  # far re-marked it
    assert measured.metrics["hops"] == 4
    assert all(measured.metrics[f"hop.{hop}.loss"] == 0 for hop in (1, 2, 3, 4))
    assert all(measured.metrics[f"hop.{hop}.latency.p50"] < 0.005 for hop in (1, 2, 3, 4))
    assert measured.command[:3] == ["ip", "netns", "exec"]


@pytest.mark.root
@needs_lab
def test_the_shipped_script_runs_unprivileged_from_a_far_host(chain: Lab) -> None:
    """As nobody: addresses and RTTs both ways; DSCP exact over IPv6, not measured over IPv4."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    records = {}
    for host in (chain.addresses.server, chain.addresses.server6):
        argv = [*unprivileged, python, "-I", "-c", ship.one_liner(), "hops", "--host", host]
        argv += ["--interval", "0.2", "--count", "2", "--dscp", "46"]
        done = chain.endpoint("client").run(argv, timeout=30)
        assert done.returncode == 0, done.stderr
        records[host] = json.loads(done.stdout)
    four, six = records[chain.addresses.server], records[chain.addresses.server6]
    assert [hop["address"] for hop in four["hops"]] == list(NAMES)
    assert four["destination_hop"] == 4 and all(hop["received"] == 2 for hop in four["hops"])
    assert all(hop["dscp"] == [] for hop in four["hops"])
    assert "raw ICMP socket (CAP_NET_RAW)" in four["dscp"]["unavailable"]
    assert [hop["dscp"][0][0] for hop in six["hops"]] == [46, 46, 46, 8]
    assert os.geteuid() == 0  # the test itself: only the script ran as nobody
