"""Wire-rate arithmetic: frames as a Linux qdisc counts them, from what iperf3 reports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.measure.wire import add_wire_rate, framing, is_ipv6, tcp_framing, udp_framing
from pytest_qos.results import Measurement


def iperf3_measurement(
    protocol: str, goodput: float, *, mss: int = 0, blksize: int = 0, host: str = "198.18.2.2"
) -> Measurement:
    """A Measurement shaped like pytest_qos.measure.iperf3.parse_result's, with a raw document."""
    return Measurement(
        tool="iperf3",
        metrics={"throughput": goodput},
        command=["iperf3", "-c", host, "-p", "5201", "--json"],
        details={"protocol": protocol, "mss": mss, "blksize": blksize},
        raw={"start": {"connected": [{"remote_host": host}]}},
    )


def test_tcp_through_a_1500_byte_mtu_is_one_full_ethernet_frame() -> None:
    """MSS 1448 (IPv4, timestamps) and 1428 (IPv6) both fill a 1514-byte frame."""
    assert tcp_framing(1448).payload + tcp_framing(1448).overhead == 1514
    assert tcp_framing(1428, ipv6=True).payload + tcp_framing(1428, ipv6=True).overhead == 1514
    assert tcp_framing(1448).factor == pytest.approx(1514 / 1448)
    assert tcp_framing(1460, tcp_options=0).factor == pytest.approx(1514 / 1460)


def test_udp_datagrams_count_udp_ip_and_ethernet_headers() -> None:
    """1460-byte datagrams: 1502-byte frames (the 0.972 measured through a tbf)."""
    assert udp_framing(1460).factor == pytest.approx(1502 / 1460)
    assert 1460 / (1460 + udp_framing(1460).overhead) == pytest.approx(0.972, abs=0.001)
    assert udp_framing(1448).factor == pytest.approx(1490 / 1448)  # iperf3 3.12's default
    assert udp_framing(1428, ipv6=True).factor == pytest.approx(1490 / 1428)


def test_fragmented_udp_pays_headers_per_fragment() -> None:
    """A 3000-byte datagram over IPv4 at MTU 1500 travels as 3 fragments."""
    flow = udp_framing(3000)
    # 3008 bytes of UDP datagram, 1480 per fragment: 3 fragments of 20 + 14 bytes of headers.
    assert flow.overhead == 8 + 3 * (20 + 14)
    assert udp_framing(1472).overhead == 8 + 20 + 14  # just fits
    assert udp_framing(1473).overhead == 8 + 2 * (20 + 14)  # one byte over: two fragments
    assert udp_framing(1452, ipv6=True).overhead == 8 + 40 + 14
    assert udp_framing(1453, ipv6=True).overhead == 8 + 2 * (40 + 8 + 14)


@given(
    payload=st.integers(min_value=1, max_value=65_000),
    goodput=st.floats(min_value=1.0, max_value=1e11, allow_nan=False),
    ipv6=st.booleans(),
)
def test_udp_uses_the_fewest_frames_that_fit_the_mtu(
    payload: int, goodput: float, ipv6: bool
) -> None:
    """Every fragment fits the MTU, one fragment fewer could not carry the datagram."""
    flow = udp_framing(payload, ipv6=ipv6)
    ip_header = 40 if ipv6 else 20
    fragment_header = 8 if ipv6 and flow.frames > 1 else 0
    capacity = (1500 - ip_header - fragment_header) // 8 * 8 if flow.frames > 1 else 1500
    datagram = payload + 8
    assert flow.overhead == 8 + flow.frames * (ip_header + fragment_header + 14)
    if flow.frames == 1:
        assert datagram + ip_header <= 1500
    else:
        assert datagram <= flow.frames * capacity
        assert datagram > (flow.frames - 1) * capacity
    assert goodput * flow.factor > goodput


@given(payload=st.integers(min_value=1, max_value=9000), ipv6=st.booleans())
def test_bigger_payloads_never_cost_more_per_byte_below_the_mtu(payload: int, ipv6: bool) -> None:
    """Per-byte overhead falls as datagrams grow, while they still fit one frame."""
    limit = 1500 - (40 if ipv6 else 20) - 8
    if payload < limit:
        assert udp_framing(payload + 1, ipv6=ipv6).factor < udp_framing(payload, ipv6=ipv6).factor


def test_add_wire_rate_sets_the_metric_from_iperf3_details() -> None:
    """TCP reads details['mss'], UDP details['blksize']; both record the framing used."""
    tcp = iperf3_measurement("tcp", 19.12e6, mss=1448)
    assert add_wire_rate(tcp) == pytest.approx(19.12e6 * 1514 / 1448)
    assert tcp.metrics["throughput.wire"] == pytest.approx(19.995e6, rel=1e-3)
    assert tcp.details["wire_frame_payload"] == 1448
    assert tcp.details["wire_frame_overhead"] == 66
    udp = iperf3_measurement("udp", 19.44e6, blksize=1448)
    assert add_wire_rate(udp) == pytest.approx(19.44e6 * 1490 / 1448)


def test_ipv6_is_read_from_details_then_the_connected_address() -> None:
    """details['ipv6'] wins; else the peer iperf3 connected to; ::ffff:a.b.c.d is IPv4."""
    assert is_ipv6(iperf3_measurement("tcp", 1.0, mss=1428, host="2001:2:0:2::2"))
    assert not is_ipv6(iperf3_measurement("tcp", 1.0, mss=1448, host="::ffff:198.18.2.2"))
    assert not is_ipv6(iperf3_measurement("tcp", 1.0, mss=1448))
    forced = iperf3_measurement("tcp", 1.0, mss=1428)
    forced.details["ipv6"] = True
    assert is_ipv6(forced)
    rebuilt = iperf3_measurement("tcp", 1.0, mss=1428, host="2001:2::1")
    rebuilt.raw = None  # as after a JSON round trip: the command still names the host
    assert is_ipv6(rebuilt)


def test_add_wire_rate_leaves_measurements_it_cannot_frame() -> None:
    """No MSS (an old iperf3), no throughput, or not iperf3: nothing is added."""
    assert add_wire_rate(iperf3_measurement("tcp", 1e6, mss=0)) is None
    assert framing(Measurement(tool="probe:udp", metrics={"latency.p50": 0.001})) is None
    no_rate = iperf3_measurement("udp", 1e6, blksize=1448)
    del no_rate.metrics["throughput"]
    assert add_wire_rate(no_rate) is None
    assert "throughput.wire" not in no_rate.metrics


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: tcp_framing(0), "mss"),
        (lambda: tcp_framing(1448, tcp_options=13), "tcp_options"),
        (lambda: udp_framing(-1), "length"),
        (lambda: udp_framing(1000, mtu=30), "mtu"),
    ],
)
def test_impossible_framings_say_what_would_be_right(call: object, key: str) -> None:
    """Bad sizes raise InputError naming the key and the accepted range."""
    assert callable(call)
    with pytest.raises(InputError) as caught:
        call()
    assert caught.value.key == key
