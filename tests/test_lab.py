"""The router lab for real: namespaces, router configs, shapers, teardown on Ctrl-C and SIGKILL."""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import own_namespaces
from pytest_qos.errors import InputError
from pytest_qos.hosts.endpoints import Local, wait_until
from pytest_qos.lab.routerlab import (
    Lab,
    LabError,
    kernel_qdiscs,
    lab_namespaces,
    lab_unavailable_reason,
    sweep_stale_namespaces,
)
from pytest_qos.measure.iperf3 import Iperf3, parse_json, parse_result
from pytest_qos.measure.traffic import Traffic
from pytest_qos.measure.wire import add_wire_rate, framing
from pytest_qos.probes import Probe, run_probe
from pytest_qos.results import Measurement

ROUTER_LAB = Path(__file__).resolve().parent.parent / "scenarios" / "router-lab"
GOOD, REGRESSED = ROUTER_LAB / "good.sh", ROUTER_LAB / "regressed.sh"
UNAVAILABLE = lab_unavailable_reason()
needs_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")


def write_config(directory: Path, body: str, name: str = "router.sh") -> Path:
    """An executable /bin/sh router config."""
    path = directory / name
    path.write_text("#!/bin/sh\nset -eu\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def shaper_config(directory: Path, kind: str, mbit: int) -> Path:
    """Both router interfaces shaped to `mbit` with one tbf, or one htb class."""
    # A few frames of burst are not enough above ~50 Mbit/s: rate × 4 ms, at least 16 KiB.
    burst = max(16 * 1024, int(mbit * 1e6 / 8 * 0.004))
    queue = max(30_000, int(mbit * 1e6 / 8 * 0.05))  # 50 ms, in bytes
    if kind == "tbf":
        shape = f'tc qdisc add dev "$dev" root tbf rate {mbit}mbit burst {burst} latency 50ms'
    else:
        shape = (
            f'tc qdisc add dev "$dev" root handle 1: htb default 10\n'
            f'    tc class add dev "$dev" parent 1: classid 1:10 htb rate {mbit}mbit '
            f"ceil {mbit}mbit burst {burst} cburst {burst} quantum 1514\n"
            f'    tc qdisc add dev "$dev" parent 1:10 bfifo limit {queue}'
        )
    body = f'for dev in "$WAN" "$LAN"; do\n    {shape}\ndone\n'
    return write_config(directory, body, f"{kind}-{mbit}.sh")


def measure(lab: Lab, traffic: Traffic, ipv6: bool = False) -> Measurement:
    """One iperf3 run across the lab, against a fresh server (see the report on reuse)."""
    iperf3 = Iperf3()
    target = lab.target(ipv6=ipv6)
    assert target.server is not None and target.bind is not None
    with iperf3.server(target.server, target.bind) as server:
        return iperf3.run(traffic, target.host, server.port, endpoint=target.client, server=server)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    """One lab for the module; each test applies the router config it needs."""
    if UNAVAILABLE:
        pytest.skip(f"router lab {UNAVAILABLE}")
    with Lab.create() as built:
        yield built


# --- without root -----------------------------------------------------------------------


def test_unavailable_reason_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root, then no `ip`: each reason says exactly what is missing."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert lab_unavailable_reason() == "needs root (running as uid 1000)"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert lab_unavailable_reason() == "needs the 'ip' command (iproute2)"


def test_router_config_must_exist_and_be_executable(tmp_path: Path) -> None:
    """A wrong path or a file without the x bit: InputError at lab.router, saying the fix."""
    with pytest.raises(InputError, match="does not exist") as missing:
        Lab.create(router_config=tmp_path / "nope.sh")
    assert missing.value.key == "lab.router"
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(InputError, match=r"chmod \+x") as not_executable:
        Lab.create(router_config=plain)
    assert not_executable.value.key == "lab.router"


def test_shipped_configs_are_executable() -> None:
    """good.sh and regressed.sh run as they are, with a #! line."""
    for config in (GOOD, REGRESSED):
        assert os.access(config, os.X_OK), config
        assert config.read_text().startswith("#!/bin/sh\n")


# --- topology ---------------------------------------------------------------------------


@pytest.mark.root
@needs_lab
def test_topology_routes_both_families_and_leaves_nothing() -> None:
    """Client reaches server through the router on IPv4 and IPv6; destroy removes it all."""
    before = own_namespaces()
    with Lab.create() as built:
        assert set(built.namespaces) <= set(lab_namespaces())
        assert all(name.startswith(f"qos-{os.getpid()}-") for name in built.namespaces)
        target = built.target()
        assert (target.host, target.bind) == ("198.18.2.2", "198.18.2.2")
        assert target.client.name == built.client and target.server is not None
        assert target.server.name == built.server
        assert built.target(ipv6=True).host == "2001:2:0:2::2"
        replies = []
        for address in (built.addresses.server, built.addresses.server6):
            ping = target.client.run(["ping", "-n", "-c", "1", "-W", "2", address], timeout=5)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            replies.append(ping.stdout)
        # Routed, not bridged: the router took one off the TTL and the hop limit.
        assert "ttl=63" in replies[0] and "ttl=63" in replies[1]
    assert own_namespaces() == before
    assert built.destroyed


@pytest.mark.root
@needs_lab
def test_a_failing_test_body_still_removes_the_lab() -> None:
    """An exception (a failed bound, a MeasurementTimeout) inside the block: all removed."""
    before = own_namespaces()
    with pytest.raises(RuntimeError, match="bound failed"), Lab.create(router_config=GOOD) as built:
        sleeper = built.endpoint("client").spawn(["sleep", "30"])  # left running inside
        raise RuntimeError("bound failed")
    assert wait_until(lambda: not sleeper.alive(), 2.0)  # killed by destroy(), reaped here
    sleeper.stop()
    assert own_namespaces() == before
    assert not any(os.path.exists(f"/run/netns/{name}") for name in built.namespaces)


@pytest.mark.root
@needs_lab
def test_config_runs_in_the_router_with_lan_and_wan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config sees $LAN/$WAN and the addresses, inside the router namespace."""
    out = tmp_path / "seen.txt"
    monkeypatch.setenv("QOS_TEST_OUT", str(out))
    config = write_config(
        tmp_path,
        """
        echo "$LAN $WAN $CLIENT_ADDR $SERVER_ADDR $CLIENT_ADDR6 $SERVER_ADDR6" > "$QOS_TEST_OUT"
        ip -o link show "$LAN" >> "$QOS_TEST_OUT"
        ip -o link show "$WAN" >> "$QOS_TEST_OUT"
        """,
    )
    with Lab.create(router_config=config) as built:
        assert built.router_config == config.resolve()
        assert built.config_result is not None and built.config_result.returncode == 0
    first, *links = out.read_text().splitlines()
    assert first == "lan wan 198.18.1.2 198.18.2.2 2001:2:0:1::2 2001:2:0:2::2"
    assert len(links) == 2 and all("veth" in line or "@" in line for line in links)


@pytest.mark.root
@needs_lab
def test_failing_config_fails_with_its_own_stderr_and_cleans_up(tmp_path: Path) -> None:
    """Non-zero exit: LabError quoting the config's stderr; no namespace is left."""
    before = own_namespaces()
    config = write_config(tmp_path, "echo \"rule 7: no such chain 'voice'\" >&2\nexit 3\n")
    with pytest.raises(LabError) as caught:
        Lab.create(router_config=config)
    assert "exit 3" in str(caught.value)
    assert "rule 7: no such chain 'voice'" in str(caught.value)
    assert caught.value.stderr.strip() == "rule 7: no such chain 'voice'"
    assert own_namespaces() == before


@pytest.mark.root
@needs_lab
def test_hanging_config_is_killed_at_its_timeout(tmp_path: Path) -> None:
    """A config that never ends: killed after config_timeout, LabError says so, nothing left."""
    before = own_namespaces()
    config = write_config(tmp_path, "sleep 30\n")
    started = time.monotonic()
    with pytest.raises(LabError, match=r"did not finish within 1 s and was killed"):
        Lab.create(router_config=config, config_timeout=1.0)
    assert time.monotonic() - started < 5.0
    assert own_namespaces() == before


@pytest.mark.root
@needs_lab
def test_config_needing_a_missing_qdisc_names_it(tmp_path: Path) -> None:
    """A netem config on a kernel without netem: the message names 'netem'."""
    if "netem" in kernel_qdiscs():
        pytest.skip("this kernel has netem; the missing-qdisc message cannot be provoked")
    config = write_config(tmp_path, 'tc qdisc add dev "$WAN" root netem delay 20ms\n')
    with pytest.raises(LabError) as caught:
        Lab.create(router_config=config)
    message = str(caught.value)
    assert "needs the 'netem' qdisc, which this kernel lacks" in message
    assert "tbf" in message  # what it has instead
    assert "Specified qdisc kind is unknown" in message  # tc's own words


@pytest.mark.root
@needs_lab
def test_kernel_qdiscs_finds_the_shapers_the_configs_use() -> None:
    """tbf and htb are there (the shipped configs need them); nonsense kinds are not."""
    found = kernel_qdiscs()
    assert {"tbf", "htb", "pfifo", "bfifo"} <= found


@pytest.mark.root
@needs_lab
@pytest.mark.alone  # any other worker's Lab.create sweeps the same dead owner's names first
def test_stale_namespaces_of_dead_owners_are_swept() -> None:
    """Names of a dead pid go at the next Lab.create; a live owner's stay."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [f"qos-{dead.pid}-1-{role}" for role in ("client", "router", "server")]
    alive = f"qos-{os.getpid()}-999999-client"
    for name in [*stale, alive]:
        Local().run(["ip", "netns", "add", name], timeout=5)
    try:
        swept = sweep_stale_namespaces()
        assert set(stale) <= set(swept)
        assert alive not in swept
        left = set(lab_namespaces())
        assert not set(stale) & left
        assert alive in left
    finally:
        for name in [*stale, alive]:
            Local().run(["ip", "netns", "del", name], timeout=5)


# --- shapers and wire rate ---------------------------------------------------------------

WIRE_CASES = [
    pytest.param("tbf", 10, "tcp", "upload", False, id="tbf-10M-tcp"),
    pytest.param("htb", 50, "tcp", "upload", False, id="htb-50M-tcp"),
    pytest.param("tbf", 100, "udp", "upload", False, id="tbf-100M-udp"),
    pytest.param("htb", 10, "udp", "upload", False, id="htb-10M-udp"),
    pytest.param("tbf", 50, "tcp", "download", False, id="tbf-50M-tcp-download"),
    pytest.param("htb", 20, "tcp", "upload", True, id="htb-20M-tcp-ipv6"),
]


@pytest.mark.root
@needs_lab
@pytest.mark.alone  # within 2 % of the shaper: a sender starved of CPU reads as a slower link
@pytest.mark.parametrize(("kind", "mbit", "protocol", "direction", "ipv6"), WIRE_CASES)
def test_wire_rate_matches_the_shaper(
    lab: Lab, tmp_path: Path, kind: str, mbit: int, protocol: str, direction: str, ipv6: bool
) -> None:
    """throughput.wire within 2 % of the configured rate; throughput is the matching goodput."""
    rate = mbit * 1e6
    lab.apply(shaper_config(tmp_path, kind, mbit))
    # TCP: 2 streams reach the rate within the first second; UDP: offered 30 % above it.
    traffic = Traffic(
        protocol=protocol,
        streams=2 if protocol == "tcp" else 1,
        bitrate=rate * 1.3 if protocol == "udp" else None,
        duration=2,
        direction=direction,
    )
    measurement = measure(lab, traffic, ipv6=ipv6)
    wire = add_wire_rate(measurement)
    flow = framing(measurement)
    assert wire is not None and flow is not None
    # What iperf3 3.12 reports through a 1500-byte veth: MSS 1448/1428, datagrams the same.
    assert flow.payload == (1428 if ipv6 else 1448)
    goodput = measurement.metrics["throughput"]
    expected_goodput = rate * flow.payload / (flow.payload + flow.overhead)
    print(
        f"{kind} {mbit} Mbit/s {protocol} {direction} ipv6={ipv6}: goodput "
        f"{goodput / 1e6:.3f}, wire {wire / 1e6:.3f} Mbit/s ({wire / rate:.4f} of the rate)"
    )
    assert wire == pytest.approx(rate, rel=0.02)
    assert goodput == pytest.approx(expected_goodput, rel=0.02)
    assert goodput < rate


# --- the shipped pair: good passes, regressed fails the voice test ------------------------


def latency_under_load(lab: Lab) -> tuple[list[float], Measurement, Measurement]:
    """EF ping RTTs (s) and an EF udp probe while 4 CUBIC streams fill the uplink, and the load."""
    iperf3 = Iperf3()
    target = lab.target()
    assert target.server is not None and target.bind is not None
    load = Traffic(protocol="tcp", streams=4, duration=4, congestion="cubic")
    probe = Probe.from_options(
        {"kind": "udp", "interval": "20 ms", "duration": "1 s", "dscp": "EF"}
    )
    with iperf3.server(target.server, target.bind) as server:
        command = iperf3.command(load, target.host, server.port)
        with target.client.spawn(command) as running:
            time.sleep(1.0)  # CUBIC fills a deep queue within the first second
            # 40 pings at 50/s, TOS 0xb8 (EF); -c without -w: a deadline would count replies
            # still queued as lost.
            ping = target.client.run(
                ["ping", "-n", "-c", "40", "-i", "0.02", "-W", "3", "-Q", "0xb8", target.host],
                timeout=10,
            )
            probed = run_probe(probe, target)
            out, err = running.communicate(timeout=load.timeout)
    document = parse_json(out, err, running.returncode or 0, command)
    assert not document.get("error"), document.get("error")
    rtts = [float(ms) / 1000 for ms in re.findall(r"time=([\d.]+) ms", ping.stdout)]
    assert len(rtts) >= 20, ping.stdout + ping.stderr
    return rtts, probed, parse_result(document, command)


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[max(0, round(0.99 * len(ordered)) - 1)]


@pytest.mark.root
@needs_lab
def test_good_config_keeps_voice_fast_and_regressed_does_not(lab: Lab) -> None:
    """EF p99 ≤ 15 ms under load on good.sh, far above on regressed.sh; bulk shaped on both."""
    figures = {}
    for config in (GOOD, REGRESSED):
        lab.apply(config)
        rtts, probed, load = latency_under_load(lab)
        figures[config.stem] = {
            "ping.p50": statistics.median(rtts),
            "ping.p99": p99(rtts),
            "probe.p50": probed.metrics["latency.p50"],
            "probe.p99": probed.metrics["latency.p99"],
            "bulk": load.metrics["throughput"],
        }
    for name, figure in figures.items():
        print(
            name,
            {
                key: f"{value * (1e-6 if key == 'bulk' else 1e3):.3f}"
                for key, value in figure.items()
            },
        )
    good, bad = figures["good"], figures["regressed"]
    # The scenario's bound, voice-keeps-priority: latency.p99 <= 15 ms.
    assert good["ping.p99"] <= 0.015 and good["probe.p99"] <= 0.015
    # ~200-400 ms of tbf queue in front of every packet.
    assert bad["ping.p50"] > 0.050 and bad["probe.p50"] > 0.050
    assert bad["ping.p99"] > 0.015 and bad["probe.p99"] > 0.015
    # bulk-is-shaped: 18 .. 20.5 Mbit/s on both configs.
    for figure in (good, bad):
        assert 18e6 <= figure["bulk"] <= 20.5e6


@pytest.mark.root
@needs_lab
def test_reapplying_a_config_replaces_the_previous_one(lab: Lab, tmp_path: Path) -> None:
    """apply() resets the router: no qdisc of the previous config survives."""
    lab.apply(GOOD)
    assert "htb" in lab.qdiscs()
    lab.apply(REGRESSED)
    shown = lab.qdiscs()
    assert "tbf" in shown and "htb" not in shown


# --- teardown on Ctrl-C and SIGKILL ---------------------------------------------------------

CHILD_TEST = """
    import os, pathlib, pytest
    from pytest_qos.lab.routerlab import Lab
    from pytest_qos.measure.iperf3 import Iperf3
    from pytest_qos.measure.traffic import Traffic

    @pytest.fixture(scope="module")
    def lab():
        with Lab.create(router_config=os.environ["QOS_TEST_CONFIG"]) as built:
            yield built

    def test_long_measurement(lab):
        iperf3 = Iperf3()
        target = lab.target()
        with iperf3.server(target.server, target.bind) as server:
            pathlib.Path(os.environ["QOS_TEST_READY"]).write_text(lab.id)
            iperf3.run(Traffic(duration=20), target.host, server.port,
                       endpoint=target.client, server=server)
"""


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries `mark` (the child run's and all it started)."""
    found = []
    needle = mark.encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in environ.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def start_child_run(tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    """A pytest run in a subprocess, mid-measurement through a regressed lab."""
    (tmp_path / "test_child.py").write_text(textwrap.dedent(CHILD_TEST))
    mark = f"QOS_TEST_MARK={uuid.uuid4().hex}"
    ready = tmp_path / "ready"
    env = {
        **os.environ,
        "QOS_TEST_CONFIG": str(REGRESSED),
        "QOS_TEST_READY": str(ready),
        mark.split("=")[0]: mark.split("=")[1],
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_child.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # our own Ctrl-C must not reach it, nor its ours
    )
    try:
        assert wait_until(ready.exists, 20.0), "the child run never started measuring"
        # Server and client both running (plus pytest itself): mid-measurement.
        assert wait_until(lambda: len(marked_processes(mark)) >= 3, 10.0)
        time.sleep(0.5)
    except BaseException:
        child.kill()
        child.communicate(timeout=10)
        raise
    return child, mark, ready.read_text()


@pytest.mark.root
@needs_lab
def test_ctrl_c_mid_measurement_leaves_nothing(tmp_path: Path) -> None:
    """SIGINT to a pytest run mid-measurement: no namespace and no iperf3 of it remain."""
    child, mark, lab_id = start_child_run(tmp_path)
    child.send_signal(signal.SIGINT)
    try:
        output, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 2, output  # pytest's "interrupted"
    assert "KeyboardInterrupt" in output
    assert marked_processes(mark) == []
    assert [name for name in lab_namespaces() if name.startswith(lab_id + "-")] == []


@pytest.mark.root
@pytest.mark.alone  # any other worker's Lab.create sweeps the dead run's namespaces first
@needs_lab
def test_sigkill_mid_measurement_is_cleaned_by_the_next_lab(tmp_path: Path) -> None:
    """SIGKILL: the tools die with pytest; its namespaces go at the next Lab.create."""
    child, mark, lab_id = start_child_run(tmp_path)
    started = marked_processes(mark)
    child.kill()
    child.communicate(timeout=10)
    # PR_SET_PDEATHSIG kills iperf3 when its parent dies; then init must reap it, or a
    # zombie "[iperf3] <defunct>" would still show in `pgrep iperf3`.
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in started), 5.0), [
        pid for pid in started if os.path.exists(f"/proc/{pid}")
    ]
    left = [name for name in lab_namespaces() if name.startswith(lab_id + "-")]
    assert len(left) == 3  # nothing could delete them
    with Lab.create():
        assert [name for name in lab_namespaces() if name.startswith(lab_id + "-")] == []
