"""STAMP on the wire: RFC 8762 / 8972 byte layout, tshark's decoder, the reflector's policy."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_qos.__main__ import main
from pytest_qos.errors import MeasurementError, ScenarioError
from pytest_qos.hosts.endpoints import wait_until
from pytest_qos.hosts.target import local_target, remote_target
from pytest_qos.probes import Probe, run_probe, stamp
from pytest_qos.probes import udp as udp_module
from pytest_qos.probes.responder import Policy, Responder
from pytest_qos.probes.timesync import SyncUnreadable
from pytest_qos.probes.udp import UdpProbeClient
from pytest_qos.scenario.reader import load_scenario

T1 = 1_795_000_000_123_456_789  # a Unix time in ns (2026)


def _fields(packet: bytes, layout: str, offset: int) -> tuple[int, ...]:
    return struct.unpack_from(layout, packet, offset)


def test_sender_packet_has_the_rfc_8762_layout() -> None:
    error = stamp.ErrorEstimate(True, 0.001).encode()
    packet = bytes(stamp.sender_packet(7, T1, error, 64, ssid=0x1234, dscp1=46))
    assert len(packet) == 64
    assert _fields(packet, "!I", 0) == (7,)  # Sequence Number
    (ntp,) = _fields(packet, "!Q", 4)  # Timestamp, NTP format
    assert ntp >> 32 == T1 // 10**9 + 2_208_988_800
    assert stamp.ns_from_ntp(ntp) == pytest.approx(T1, abs=1)
    assert _fields(packet, "!H", 12) == (error,)  # Error Estimate: S=1, Z=0, scale, multiplier
    assert error & 0x8000 and not error & 0x4000
    assert _fields(packet, "!H", 14) == (0x1234,)  # SSID (RFC 8972)
    assert packet[16:44] == bytes(28)  # MBZ
    # Class-of-Service TLV (RFC 8972 §4.4): flags 0, type 4, length 4, DSCP1 in the top 6 bits.
    assert packet[44:48] == bytes([0, 4, 0, 4])
    (value,) = _fields(packet, "!I", 48)
    assert value >> 26 == 46 and value & 0x03FFFFFF == 0


def test_reflector_packet_has_the_rfc_8762_layout() -> None:
    sender = bytes(stamp.sender_packet(7, T1, 0x0101, 64, ssid=9, dscp1=46))
    reply, requested = stamp.reflect(
        sender, seq=3, t2_ns=T1 + 1000, t3_ns=T1 + 5000, error=0x8005, ttl=63, tos=0x22
    )
    assert requested == 46 and len(reply) == len(sender)  # same size: no amplification
    assert _fields(reply, "!I", 0) == (3,)  # the reflector's own sequence number
    assert stamp.ns_from_ntp(_fields(reply, "!Q", 4)[0]) == T1 + 5000  # Timestamp (T3)
    assert _fields(reply, "!HH", 12) == (0x8005, 9)  # Error Estimate, SSID
    assert stamp.ns_from_ntp(_fields(reply, "!Q", 16)[0]) == T1 + 1000  # Receive Timestamp (T2)
    assert _fields(reply, "!I", 24) == (7,)  # Session-Sender Sequence Number
    assert _fields(reply, "!Q", 28) == _fields(sender, "!Q", 4)  # Session-Sender Timestamp
    assert _fields(reply, "!HH", 36) == (0x0101, 0)  # Session-Sender Error Estimate, MBZ
    assert reply[40] == 63 and reply[41:44] == bytes(3)  # Session-Sender TTL, MBZ
    (value,) = _fields(reply, "!I", 48)
    # DSCP1 46 as asked; DSCP2 = 0x22 >> 2 = 8 (CS1); ECN = 0x22 & 3 = 2 (ECT(0)).
    assert (value >> 26, (value >> 20) & 0x3F, (value >> 18) & 0x3) == (46, 8, 2)
    parsed = stamp.parse_reflected(reply)
    assert parsed is not None
    assert (parsed.seq, parsed.sent_seq, parsed.t2 - parsed.t1, parsed.t3 - parsed.t2) == (
        3,
        7,
        1000,
        4000,
    )
    assert parsed.cos == (0, 46, 8, 2)


def test_stateless_mode_copies_the_sequence_and_flags_unknown_tlvs() -> None:
    sender = bytearray(stamp.sender_packet(5, T1, 0, 60))
    sender[44:52] = bytes([0, 99, 0, 4, 1, 2, 3, 4])  # a TLV type this reflector does not know
    reply, requested = stamp.reflect(
        bytes(sender), seq=None, t2_ns=T1, t3_ns=T1, error=0, ttl=64, tos=None
    )
    assert requested is None
    assert _fields(reply, "!I", 0) == (5,)
    assert reply[44] == stamp.FLAG_UNRECOGNIZED and reply[48:52] == bytes([1, 2, 3, 4])


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))  # 1970 to 2096: both eras
def test_ntp_timestamps_round_trip_within_a_nanosecond(unix_ns: int) -> None:
    assert abs(stamp.ns_from_ntp(stamp.ntp_from_ns(unix_ns)) - unix_ns) <= 1


@given(st.floats(min_value=1e-9, max_value=1e6))
def test_error_estimate_never_understates(seconds: float) -> None:
    decoded = stamp.ErrorEstimate.decode(stamp.ErrorEstimate(True, seconds).encode())
    assert decoded.synced and seconds <= decoded.seconds <= seconds * 1.02 + 2**-32


def _ip_udp(source: bytes, destination: bytes, ports: tuple[int, int], payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", *ports, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xB8, 20 + len(udp), 1, 0, 64, 17, 0, source, destination
    )
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    checksum = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
    return header[:10] + struct.pack("!H", checksum) + header[12:] + udp


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark (apt-get install tshark)")
def test_tshark_twamp_dissector_reads_our_packets(tmp_path: Path) -> None:
    """An independent decoder, Wireshark's TWAMP-Test (STAMP extends it), agrees on each field."""
    error = stamp.ErrorEstimate(True, 0.001).encode()
    sender = bytes(stamp.sender_packet(7, T1, error, 64, ssid=0x1234, dscp1=46))
    reply, _ = stamp.reflect(
        sender, seq=3, t2_ns=T1 + 1000, t3_ns=T1 + 5000, error=0x0101, ttl=63, tos=0xB8
    )
    client, reflector = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    frames = [
        _ip_udp(client, reflector, (40000, 862), sender),
        _ip_udp(reflector, client, (862, 40000), reply),
    ]
    capture = tmp_path / "probes-stamp.pcap"
    with capture.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # raw IP
        for index, frame in enumerate(frames):
            out.write(struct.pack("<IIII", 1_795_000_000 + index, 0, len(frame), len(frame)))
            out.write(frame)
    fields = [
        "twamp.test.seq_number",
        "twamp.test.timestamp",
        "twamp.test.error_estimate.s",
        "twamp.test.error_estimate.scale",
        "twamp.test.error_estimate.multiplier",
        "twamp.test.receive_timestamp",
        "twamp.test.sender_seq_number",
        "twamp.test.sender_timestamp",
        "twamp.test.sender_ttl",
        "twamp.test.padding",
    ]
    argv = ["tshark", "-r", str(capture), "-d", "udp.port==862,twamp.test", "-T", "fields"]
    argv += ["-E", "separator=|", "-t", "e", "-o", "gui.column.format:No,%m"]
    for field in fields:
        argv += ["-e", field]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    rows = [line.split("|") for line in completed.stdout.splitlines()]
    assert len(rows) == 2, completed.stdout
    sent, reflected = rows
    assert sent[0] == "7" and sent[2].startswith("1") and sent[3].startswith("15")
    assert sent[4].startswith("132")  # 132 × 2^(15-32) s = 1.007 ms
    assert sent[1].endswith("11:06:40.123456788 UTC")  # tshark truncates to the ns below
    assert reflected[0] == "3" and reflected[6] == "7" and reflected[8] == "63"
    assert reflected[1].endswith("11:06:40.123461788 UTC")  # T3 = T1 + 5 µs
    assert reflected[5].endswith("11:06:40.123457788 UTC")  # T2 = T1 + 1 µs
    assert reflected[7] == sent[1]
    # TLVs are not decoded by tshark 4.0: it shows them as padding after byte 41.
    assert "00040004bae00000" in reflected[9]  # CoS: DSCP1 = DSCP2 = 46 (EF), ECN 0


@pytest.fixture
def reflector() -> Iterator[Responder]:
    """A responder in a thread of this process, on loopback."""
    responder = Responder("127.0.0.1", 0, tcp=False, policy=Policy(rate=0))
    thread = threading.Thread(target=responder.serve, args=(20.0,), daemon=True)
    thread.start()
    try:
        yield responder
    finally:
        responder.stop()
        thread.join(5.0)
        responder.close()


def _client(port: int, count: int = 20, source: str | None = None) -> UdpProbeClient:
    def opener(family: int, kind: int) -> socket.socket:
        sock = socket.socket(family, kind)
        if source:
            sock.bind((source, 0))
        return sock

    return UdpProbeClient(
        "127.0.0.1",
        port,
        interval=0.002,
        count=count,
        size=64,
        timeout=0.3,
        dscp=46,
        socket_factory=opener,
    )


def test_allow_admits_only_the_listed_sources(reflector: Responder) -> None:
    reflector.policy.allow = [Policy.parse_network("127.0.0.1/32")]
    assert _client(reflector.port).run()["received"] == 20
    with pytest.raises(MeasurementError, match=r"no reply from 127\.0\.0\.1"):
        _client(reflector.port, source="127.0.0.2").run()
    # the three handshake attempts, each refused (the last may still be in flight)
    assert wait_until(lambda: reflector.counts["refused"] >= 3, 2.0)


def test_rate_limit_caps_each_source(reflector: Responder) -> None:
    reflector.policy.rate = 200.0  # a bucket of 50, refilled at 200/s
    record = _client(reflector.port, count=400).run()  # 500/s for 0.8 s
    assert reflector.counts["rate_limited"] > 100
    # 50 at once, then ~200/s for 0.8 s: about 210 of the 400 probes answered.
    assert 120 <= record["received"] <= 300


def test_stateful_reflector_gives_per_direction_loss(reflector: Responder) -> None:
    record = _client(reflector.port).run()
    assert record["reflector"] == {
        "stateful": True,
        "received": 20,
        "synced": record["reflector"]["synced"],
        "error": record["reflector"]["error"],
        "ttl": 64,
    }
    reflector.policy.stateful = False
    assert _client(reflector.port).run()["reflector"]["received"] is None


def test_udp_probe_reports_directions_and_far_end_dscp() -> None:
    probe = Probe.from_options({"interval": "5 ms", "count": 40, "dscp": "EF"})
    measurement = run_probe(probe, local_target())
    metrics = measurement.metrics
    assert metrics["latency.up.loss"] == metrics["latency.down.loss"] == 0.0
    assert 0 < metrics["latency.up.min"] <= metrics["latency.up.p99"] < 0.05
    assert 0 < metrics["latency.down.min"] <= metrics["latency.down.p99"] < 0.05
    assert metrics["latency.up.p50"] < metrics["latency.p50"]
    assert metrics["dscp.received"] == 46 and metrics["dscp.changed"] == 0.0
    assert metrics["dscp.return.received"] == 46 and metrics["dscp.return.changed"] == 0.0
    assert measurement.details["clock"] == "same host"
    assert measurement.details["percentiles"] == "exact"


def test_remote_clocks_are_not_trusted_unless_declared_synced() -> None:
    probe = Probe.from_options({"interval": "5 ms", "count": 10})
    assert probe.unmeasurable("latency.up.p99") is None
    needing = probe.for_metrics(["latency.up.p99"])
    assert needing.needs_one_way and not probe.needs_one_way
    with Responder("127.0.0.1", 0, tcp=False) as reflector:
        thread = threading.Thread(target=reflector.serve, args=(10.0,), daemon=True)
        thread.start()
        target = remote_target("127.0.0.1", [], responder_port=reflector.port)
        try:
            measured = run_probe(probe, target)  # loopback: one clock, so one-way is fine
            assert "latency.up.p50" in measured.metrics
            synced = Probe.from_options({"interval": "5 ms", "count": 10, "clock": "synced"})
            with pytest.raises(MeasurementError) as raised:
                run_probe(synced.for_metrics(["latency.up.p99"]), target)
        finally:
            reflector.stop()
            thread.join(5.0)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("one-way delay is unavailable:")
    assert "not synchronised" in message or "cannot be read" in message


def test_stamp_probe_to_a_silent_port_is_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        probe = Probe.from_options(
            {"kind": "stamp", "count": 3, "timeout": "200 ms", "target": {"port": port}}
        )
        started = time.monotonic()
        with pytest.raises(MeasurementError) as raised:
            run_probe(probe, local_target())
    assert str(raised.value).startswith(
        f"no reply from 127.0.0.1:{port} within 1 s (50 hello packets sent, one every 20 ms; "
        "no reply and no ICMP error came back) — is a STAMP session-reflector listening"
    )
    assert time.monotonic() - started < 3


def test_stamp_probe_measures_a_running_reflector(reflector: Responder) -> None:
    probe = Probe.from_options(
        {"kind": "stamp", "interval": "5 ms", "count": 20, "target": {"port": reflector.port}}
    )
    measurement = run_probe(probe, local_target())
    assert measurement.tool == "probe:stamp"
    assert measurement.details["received"] == 20 and "responder" not in measurement.details
    assert measurement.metrics["latency.up.loss"] == 0.0


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            'probe: {kind: icmp}\n    expect: {dscp.changed: "== 0 %"}',
            "'dscp.changed' needs the DSCP seen at the far end, which an icmp probe cannot report",
        ),
        (
            'probe: {kind: tcp}\n    expect: {latency.up.p99: "<= 5 ms"}',
            "'latency.up.p99' needs one-way delay, which a tcp probe cannot report",
        ),
        (
            'probes: {voice: {kind: icmp}}\n    expect: {voice.dscp.changed: "== 0 %"}',
            "'dscp.changed' needs the DSCP seen at the far end, which an icmp probe cannot report",
        ),
        ("probe: {kind: icmp, clock: synced}", "'clock' has no meaning for an icmp probe"),
        ("probe: {clock: sync}", "clock must be one of auto, synced, none"),
        (
            'probe: {clock: none}\n    expect: {latency.down.p50: "<= 5 ms"}',
            "'latency.down.p50' is a one-way figure, but this probe says 'clock: none'",
        ),
    ],
)
def test_bad_one_way_and_dscp_input_is_one_line(tmp_path: Path, yaml: str, message: str) -> None:
    path = tmp_path / "probes.yaml"
    path.write_text(f"tests:\n  t:\n    {yaml}\n")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    text = str(raised.value)
    assert message in text and "\n" not in text and str(path) in text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["responder", "--port", "70000"], "--port must be from 1 to 65535, got 70000"),
        (["responder", "--port", "-1"], "--port must be from 1 to 65535, got -1"),
        (["responder", "--lifetime", "inf"], "--lifetime must be a finite number of seconds"),
        (["responder", "--allow", "not-a-net"], "--allow takes an address or network"),
        (["probe", "--host", "h", "--interval", "nan"], "from 0.001 up to 3600, got 'nan'"),
        (["probe", "--host", "h", "--interval", "inf"], "from 0.001 up to 3600, got 'inf'"),
        (["probe", "--host", "h", "--interval", "1e300"], "from 0.001 up to 3600, got '1e300'"),
        (["probe", "--host", "h", "--count", "0"], "--count must be from 1 to 1000000"),
    ],
)
def test_command_line_ranges_are_argparse_errors(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert expected in error and "Traceback" not in error


def test_responder_binds_loopback_by_default() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_qos", "responder", "--port", str(port), "--lifetime", "5"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith(f"responder: listening on 127.0.0.1 port {port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**32), min_size=1, max_size=50))
def test_policy_allow_matches_ipaddress(addresses: list[int]) -> None:
    policy = Policy(allow=[Policy.parse_network("10.0.0.0/8")], rate=0)
    for number in addresses:
        address = socket.inet_ntoa((number % 2**32).to_bytes(4, "big"))
        assert policy.admits(address, 0.0) == address.startswith("10.")


def test_clock_synced_on_a_host_whose_state_cannot_be_read(
    reflector: Responder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable() -> None:
        raise SyncUnreadable("adjtimex is not available (test)")

    monkeypatch.setattr(udp_module, "read_sync_state", unreadable)
    probe = Probe.from_options(
        {"interval": "5 ms", "count": 5, "clock": "synced", "target": {"port": reflector.port}}
    )
    with pytest.raises(MeasurementError) as raised:
        run_probe(probe, local_target())
    assert str(raised.value) == (
        "one-way delay is unavailable: 'clock: synced' is declared, but this host's "
        "synchronisation state cannot be read (adjtimex is not available (test))"
    )


@pytest.mark.root
def test_privileged_responder_also_reflects_on_the_stamp_port() -> None:
    """Without --port, a root responder answers on 862 as well (here: next to a port of ours)."""
    with Responder("127.0.0.1", 31862, tcp=False, extra_udp_ports=[862]) as both:
        if 862 not in both.udp_ports:
            pytest.skip("UDP 862 on 127.0.0.1 is taken by another reflector")
        thread = threading.Thread(target=both.serve, args=(10.0,), daemon=True)
        thread.start()
        try:
            probe = Probe.from_options({"kind": "stamp", "interval": "5 ms", "count": 5})
            measured = run_probe(probe, local_target())  # stamp: the target's host, port 862
        finally:
            both.stop()
            thread.join(5.0)
    assert measured.details["port"] == 862 and measured.details["received"] == 5


def test_one_way_and_dscp_bounds_in_a_scenario_file(pytester: pytest.Pytester) -> None:
    """The new bounds, end to end through the plugin on loopback (one clock: exact one-way)."""
    scenario = pytester.makefile(
        ".yaml",
        probes_directions="tests:\n  voice:\n"
        "    probe: {kind: udp, interval: 10 ms, count: 50, dscp: EF}\n"
        "    expect:\n"
        '      latency.up.p99: "<= 50 ms"\n'
        '      latency.down.p99: "<= 50 ms"\n'
        '      latency.up.loss: "<= 1 %"\n'
        '      dscp.changed: "== 0 %"\n'
        '      dscp.return.changed: "== 0 %"\n',
    )
    result = pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider", str(scenario))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*voice*latency.up.p99*<= 50 ms*pass*"])
