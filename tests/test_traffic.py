"""Traffic options: valid spellings, DSCP names and range, and every bad-option message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError, MeasurementError, did_you_mean
from pytest_qos.hosts.endpoints import Local
from pytest_qos.hosts.ssh import Exec
from pytest_qos.measure.traffic import Traffic, available_congestion_controls, check_congestion
from pytest_qos.units import DSCP_NAMES, parse_dscp


def test_defaults_are_one_second_of_tcp_upload() -> None:
    traffic = Traffic.from_options({})
    assert traffic == Traffic()
    assert (traffic.protocol, traffic.duration, traffic.direction) == ("tcp", 1.0, "upload")
    assert traffic.timeout == 11.0


def test_options_are_parsed_into_base_units() -> None:
    traffic = Traffic.from_options(
        {
            "protocol": "UDP",
            "streams": 4,
            "bitrate": "20 Mbit/s",
            "length": "1.4 kB",
            "duration": "3 s",
            "omit": "2000 ms",
            "direction": "Download",
            "dscp": "af41",
        }
    )
    assert traffic == Traffic("udp", 4, 20e6, 1400, 3.0, 2.0, "download", 34, None)
    assert traffic.timeout == 15.0
    assert traffic.with_options({"dscp": 0}).dscp == 0
    assert traffic.with_options({"dscp": 0}).bitrate == 20e6


@pytest.mark.parametrize(
    ("name", "dscp"),
    [
        ("EF", 46),
        ("ef", 46),
        (" EF ", 46),
        ("AF11", 10),
        ("AF41", 34),
        ("AF43", 38),
        ("CS0", 0),
        ("CS1", 8),
        ("CS6", 48),
        ("BE", 0),
        ("LE", 1),
        ("VA", 44),
        ("46", 46),
        (0, 0),
        (63, 63),
    ],
)
def test_dscp_names_and_numbers(name: object, dscp: int) -> None:
    assert parse_dscp(name) == dscp


@given(st.integers(min_value=1, max_value=4), st.integers(min_value=1, max_value=3))
def test_assured_forwarding_codepoints(klass: int, drop: int) -> None:
    # RFC 2597: AFxy is class x, drop precedence y, codepoint 8x + 2y.
    assert parse_dscp(f"AF{klass}{drop}") == 8 * klass + 2 * drop


@given(st.integers(min_value=0, max_value=7))
def test_class_selector_codepoints(klass: int) -> None:
    assert parse_dscp(f"CS{klass}") == 8 * klass


def test_every_dscp_name_fits_six_bits() -> None:
    assert all(0 <= value <= 63 for value in DSCP_NAMES.values())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (64, "DSCP 64 is out of range; use 0-63 or a name such as EF or AF41"),
        (-1, "DSCP -1 is out of range; use 0-63 or a name such as EF or AF41"),
        ("64", "DSCP 64 is out of range; use 0-63"),
        ("184", "DSCP 184 is out of range; use 0-63"),
        (
            "EFF",
            "unknown DSCP 'EFF': use a name (EF, AF11-AF43, CS0-CS7, BE) or a number 0-63"
            " — did you mean 'EF'?",
        ),
        ("AF44", "unknown DSCP 'AF44'"),
        ("CS8", "unknown DSCP 'CS8'"),
        ("expedited", "unknown DSCP 'expedited': use a name"),
        (4.5, "DSCP must be a name such as EF or a number 0-63, got 4.5"),
        (True, "DSCP must be a name such as EF or a number 0-63, got True"),
    ],
)
def test_bad_dscp_says_what_is_right(value: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_dscp(value)
    assert caught.value.message.startswith(message), caught.value.message


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        (
            {"protocl": "udp"},
            "protocl",
            "unknown traffic key 'protocl' — did you mean 'protocol'? (known: protocol, streams, "
            "bitrate, length, duration, omit, direction, dscp, congestion)",
        ),
        (
            {"rate": "10 Mbit/s"},
            "rate",
            "unknown traffic key 'rate' — did you mean 'bitrate'? (known: protocol,",
        ),
        ({"bandwidth": "1 Mbit/s"}, "bandwidth", "unknown traffic key 'bandwidth'"),
        ({"durations": "1 s"}, "durations", "unknown traffic key 'durations' — did you mean"),
        ({"protocol": "tpc"}, "protocol", "protocol 'tpc' is not tcp or udp — did you mean 'tcp'?"),
        ({"protocol": "sctp"}, "protocol", "protocol 'sctp' is not tcp or udp"),
        (
            {"direction": "downlod"},
            "direction",
            "direction 'downlod' is not one of upload, download, bidir — did you mean 'download'?",
        ),
        ({"streams": 0}, "streams", "streams must be a whole number from 1 to 128, got 0"),
        ({"streams": 129}, "streams", "streams must be a whole number from 1 to 128, got 129"),
        ({"streams": "4"}, "streams", "streams must be a whole number from 1 to 128, got '4'"),
        ({"streams": True}, "streams", "streams must be a whole number from 1 to 128, got True"),
        ({"bitrate": 10}, "bitrate", "'10' needs a unit, e.g. '10 Mbit/s'"),
        ({"bitrate": "10"}, "bitrate", "'10' needs a unit, e.g. '10 Mbit/s'"),
        (
            {"bitrate": "0 Mbit/s"},
            "bitrate",
            "bitrate must be from 1 bit/s to 10 Tbit/s, got '0 Mbit/s'",
        ),
        ({"bitrate": "10 Mbits"}, "bitrate", "unknown unit 'Mbits' in '10 Mbits'"),
        ({"duration": 10}, "duration", "'10' needs a unit, e.g. '10 s'"),
        # iperf3 reads -t with atoi(): fractional seconds must be refused, with the choices.
        (
            {"duration": "0.5 s"},
            "duration",
            "iperf3 measures whole seconds; write '1 s' instead of '0.5 s'",
        ),
        (
            {"duration": "1.5 s"},
            "duration",
            "iperf3 measures whole seconds; write '1 s' or '2 s' instead of '1.5 s'",
        ),
        (
            {"duration": "2500 ms"},
            "duration",
            "iperf3 measures whole seconds; write '2 s' or '3 s' instead of '2500 ms'",
        ),
        (
            {"omit": "0.5 s"},
            "omit",
            "iperf3 measures whole seconds; write '0 s' or '1 s' instead of '0.5 s'",
        ),
        ({"duration": "0 s"}, "duration", "duration must be from 1 s to 1 day, got '0 s'"),
        ({"duration": "2 min"}, None, None),
        ({"duration": "25 h"}, "duration", "unknown unit 'h' in '25 h'"),
        ({"omit": "-1 s"}, "omit", "omit must be from 0 s to 1 h, got '-1 s'"),
        ({"length": "0 B"}, "length", "length must be a whole number of bytes, 1 B to 1 MiB"),
        ({"length": "2 MiB"}, "length", "length must be a whole number of bytes, 1 B to 1 MiB"),
        ({"length": "1.5 B"}, "length", "length must be a whole number of bytes"),
        ({"dscp": "EFF"}, "dscp", "unknown DSCP 'EFF'"),
        ({"dscp": 64}, "dscp", "DSCP 64 is out of range"),
    ],
)
def test_bad_options_say_what_is_right(
    options: dict[str, Any], key: str | None, message: str | None
) -> None:
    if message is None:
        Traffic.from_options(options)  # valid: here only to pin the boundary
        return
    with pytest.raises(InputError) as caught:
        Traffic.from_options(options)
    assert caught.value.key == key
    assert caught.value.message.startswith(message), caught.value.message
    assert str(caught.value) == f"{key}: {caught.value.message}"


def test_unknown_congestion_control_suggests_an_available_one() -> None:
    available = available_congestion_controls()
    if "cubic" not in available:
        pytest.skip("this kernel does not offer TCP congestion control 'cubic'")
    assert Traffic.from_options({"congestion": "CUBIC"}).congestion == "cubic"
    check_congestion(Traffic(congestion="cubic"), Local())
    with pytest.raises(MeasurementError) as caught:
        check_congestion(Traffic.from_options({"congestion": "cubik"}), Local())
    assert caught.value.message.startswith(
        "TCP congestion control 'cubik' is not available on this host — did you mean 'cubic'?"
    )
    assert f"(available there: {', '.join(available)})" in caught.value.message


def test_congestion_control_is_checked_on_the_host_that_runs_the_flow() -> None:
    """A far host whose kernel offers reno and bbr only: cubic is refused there, whatever
    this host offers (the far host's list is read where it runs, once)."""
    far = Exec(["sh", "-c", "echo reno bbr", "--"], name="branch-1")
    with pytest.raises(MeasurementError) as caught:
        check_congestion(Traffic(congestion="cubic"), far)
    assert caught.value.message == (
        "TCP congestion control 'cubic' is not available on host branch-1 "
        "(available there: reno, bbr)"
    )
    check_congestion(Traffic(congestion="bbr"), far)
    assert available_congestion_controls(far) == ["reno", "bbr"]


def test_a_congestion_control_name_is_checked_for_its_form_when_read() -> None:
    with pytest.raises(InputError) as caught:
        Traffic.from_options({"congestion": "cu bic"})
    assert caught.value.key == "congestion"
    assert caught.value.message.startswith(
        "'cu bic' is not the name of a TCP congestion control; Linux names them in lower case"
    )


@pytest.mark.parametrize(
    ("word", "hint"),
    [
        ("protocl", " — did you mean 'protocol'?"),
        ("dscpp", " — did you mean 'dscp'?"),
        ("xyz", ""),
    ],
)
def test_did_you_mean(word: str, hint: str) -> None:
    assert did_you_mean(word, ["protocol", "dscp", "streams"]) == hint
