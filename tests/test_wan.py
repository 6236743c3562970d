"""WAN emulation without root: `wan:` parsing, backend choice, tc lines, the delay line's queue."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.lab import delayline
from pytest_qos.lab.wan import (
    WanLink,
    WanSpec,
    choose_backend,
    delay_line_command,
    parse_wan,
    tc_lines,
    wan_emulations,
)
from pytest_qos.results import Measurement, QosResult
from pytest_qos.scenario.reader import parse_scenario

# -- parsing -------------------------------------------------------------------------------


def test_both_directions_share_the_common_keys() -> None:
    wan = parse_wan({"delay": "20 ms", "jitter": "2 ms", "loss": "0.5 %", "rate": "100 Mbit/s"})
    assert wan.up == wan.down == WanLink(0.020, 0.002, 0.005, 100e6)
    assert wan.backend == "auto"
    assert wan.describe() == "20 ms ± 2 ms, 0.5 % loss, 100 Mbit/s each way"


def test_per_direction_keys_override_the_common_ones() -> None:
    wan = parse_wan({"delay": "5 ms", "up": {"delay": "30 ms"}, "down": {"loss": "1 %"}})
    assert wan.up == WanLink(delay=0.030)
    assert wan.down == WanLink(delay=0.005, loss=0.01)
    assert wan.describe() == "up 30 ms; down 5 ms, 1 % loss"


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ({"delay": 20}, "delay", "needs a unit"),
        ({"delay": "20 mb"}, "delay", "unknown unit"),
        ({"delay": "11 s"}, "delay", "from 0 ms to 10 s"),
        ({"delay": "5 ms", "jitter": "6 ms"}, "jitter", "up to the delay"),
        ({"loss": "100 %"}, "loss", "below 100 %"),
        ({"rate": "1 bit/s"}, "rate", "from 8 kbit/s"),
        ({"reorder": "yes"}, "reorder", "true or false"),
        ({"delya": "5 ms"}, "delya", "did you mean 'delay'"),
        ({"up": {"dealy": "5 ms"}}, "up.dealy", "unknown key 'dealy' in wan up"),
        ({"up": "5 ms"}, "up", "is a mapping"),
        ({"down": {"loss": "2"}}, "down.loss", "needs a unit"),
        ({"backend": "tc"}, "backend", "auto, netem, userspace"),
    ],
)
def test_bad_wan_values_name_their_key(value: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_wan(value)
    assert caught.value.key == key
    assert message in caught.value.message


def test_wan_must_be_a_mapping() -> None:
    with pytest.raises(InputError, match="wan is a mapping such as"):
        parse_wan("20 ms")


def _scenario(lab: str, tests: str = "  t:\n    probe: {kind: udp}\n") -> str:
    return f"lab:\n{lab}tests:\n{tests}"


@pytest.mark.parametrize(
    ("lab", "line", "key", "message"),
    [
        ("  wan: {delay: 20}\n", 2, "lab.wan.delay", "'20' needs a unit, e.g. '20 ms'"),
        ("  wan:\n    up: {jitter: 1 ms}\n", 3, "lab.wan.up.jitter", "up to the delay"),
        ("  ip: 5\n", 2, "lab.ip", "ip is 4, 6 or both, got 5"),
        ("  ip: true\n", 2, "lab.ip", "ip is 4, 6 or both"),
        ("  wan: {backend: fast}\n", 2, "lab.wan.backend", "not one of auto, netem"),
    ],
)
def test_lab_key_errors_point_at_file_line_and_key(
    lab: str, line: int, key: str, message: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_scenario(lab), Path("lab.qos.yaml"))
    assert (caught.value.line, caught.value.key) == (line, key)
    assert message in caught.value.message


def test_lab_ip_and_wan_are_parsed() -> None:
    scenario = parse_scenario(
        _scenario("  ip: both\n  wan: {delay: 15 ms}\n"), Path("lab.qos.yaml")
    )
    assert scenario.lab is not None
    assert scenario.lab.families == (4, 6)
    assert scenario.lab.wan == WanSpec(WanLink(0.015), WanLink(0.015))
    six = parse_scenario(_scenario("  ip: 6\n"), Path("lab.qos.yaml"))
    assert six.lab is not None and six.lab.families == (6,) and six.lab.wan is None


# -- backends and commands -------------------------------------------------------------------


def test_backend_is_netem_when_the_kernel_has_it() -> None:
    delayed = WanSpec(WanLink(0.02), WanLink(0.02))
    assert choose_backend(delayed, kernel_has_netem=True) == "netem"
    assert choose_backend(delayed, kernel_has_netem=False) == "userspace"
    rate_only = WanSpec(WanLink(rate=50e6), WanLink())
    assert choose_backend(rate_only, kernel_has_netem=False) == "bridge"
    forced = WanSpec(WanLink(0.02), WanLink(0.02), backend="userspace")
    assert choose_backend(forced, kernel_has_netem=True) == "userspace"
    with pytest.raises(InputError, match="this kernel has no netem qdisc"):
        choose_backend(WanSpec(backend="netem"), kernel_has_netem=False)


def test_netem_lines_carry_delay_jitter_loss_and_rate_per_direction() -> None:
    wan = parse_wan(
        {
            "up": {"delay": "30 ms", "jitter": "2 ms", "rate": "100 Mbit/s"},
            "down": {"delay": "10 ms", "loss": "1 %"},
        }
    )
    up, down = tc_lines(wan, "netem")
    assert up.startswith("qdisc add dev toserver root netem delay 30000us 2000us rate 100000000bit")
    assert int(up.rsplit(" ", 1)[1]) >= 1000  # limit: the in-flight frames at 100 Mbit/s
    assert down == "qdisc add dev torouter root netem delay 10000us loss 1% limit 1000"


def test_userspace_and_bridge_rates_are_a_tbf() -> None:
    wan = parse_wan({"rate": "100 Mbit/s", "delay": "5 ms"})
    lines = tc_lines(wan, "userspace")
    assert lines == [
        "qdisc add dev toserver root tbf rate 100000000bit burst 50000 limit 1250000",
        "qdisc add dev torouter root tbf rate 100000000bit burst 50000 limit 1250000",
    ]
    assert tc_lines(parse_wan({"delay": "5 ms"}), "userspace") == []


def test_delay_line_command_runs_the_standalone_script_isolated() -> None:
    argv = delay_line_command(parse_wan({"up": {"delay": "20 ms", "jitter": "1 ms"}}), seed=7)
    assert argv[1:3] == ["-I", "-S"] and argv[3].endswith("delayline.py")
    assert argv[argv.index("--up") + 1] == "0.02,0.001,0.0,0"
    assert argv[argv.index("--down") + 1] == "0.0,0.0,0.0,0"
    assert argv[-6:] == ["--ways", "both", "--bring-up", "1", "--seed", "7"]
    up = delay_line_command(parse_wan({}), "up")
    assert up[up.index("--ways") + 1] == "up"


def test_wan_emulations_are_gathered_from_results_in_order() -> None:
    def result(wan: str | None) -> QosResult:
        details = {"wan": wan} if wan else {}
        return QosResult("t", measurements=[Measurement("router", {}, details=details)])

    assert wan_emulations([result("a"), result(None), result("b"), result("a")]) == ["a", "b"]


# -- the delay line's queue ----------------------------------------------------------------

NS = delayline.NS


@settings(max_examples=50, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 2_000_000), min_size=1, max_size=200),
    delay_ms=st.integers(0, 50),
    jitter_ms=st.integers(0, 10),
    seed=st.integers(0, 2**32),
)
def test_jitter_keeps_order_unless_reordering_is_allowed(
    gaps: list[int], delay_ms: int, jitter_ms: int, seed: int
) -> None:
    delay, jitter = delay_ms / 1e3, min(jitter_ms, delay_ms) / 1e3
    ordered = delayline.Direction("up", delay, jitter, 0.0, reorder=False)
    loose = delayline.Direction("up", delay, jitter, 0.0, reorder=True)
    rng, rng2 = random.Random(seed), random.Random(seed)
    arrivals = {}
    arrived = 0
    for index, gap in enumerate(gaps):
        arrived += gap
        frame = index.to_bytes(4, "big")
        arrivals[frame] = arrived
        ordered.hold(frame, arrived, rng)
        loose.hold(frame, arrived, rng2)
    # Order kept: frames leave as they came, never before delay - jitter.
    assert [frame for _, frame in ordered.queue] == list(arrivals)
    departures = [departure for departure, _ in ordered.queue]
    assert departures == sorted(departures)
    assert all(d - arrivals[f] >= int((delay - jitter) * NS) for d, f in ordered.queue)
    # Reordering allowed: sent in departure order, each exactly within delay ± jitter.
    assert [d for d, _ in loose.queue] == sorted(d for d, _ in loose.queue)
    low, high = int((delay - jitter) * NS), int((delay + jitter) * NS)
    assert all(low <= d - arrivals[f] <= high for d, f in loose.queue)


def test_loss_drops_about_the_given_share_and_counts_it() -> None:
    line = delayline.Direction("up", 0.0, 0.0, 0.05, reorder=False)
    rng = random.Random(1)
    for index in range(20_000):
        line.hold(b"x", index, rng)
    assert line.received == 20_000
    assert line.lost + len(line.queue) == 20_000
    assert 0.045 < line.lost / 20_000 < 0.055  # binomial sd 0.0015: > 3 sd each side


def test_delay_line_arguments_are_checked() -> None:
    assert delayline.main(["--up-from", "a", "--down-from", "b", "--up", "1,2"]) == 2


def _frame(ethertype: bytes, payload: bytes = b"") -> bytes:
    return bytes(delayline.VNET_HEADER) + bytes(12) + ethertype + payload


def test_neighbour_discovery_is_never_lost() -> None:
    line = delayline.Direction("up", 0.0, 0.0, 0.99, reorder=False)
    rng = random.Random(3)
    ipv6 = bytes(6) + bytes([58]) + bytes(33)  # ICMPv6 after a 40-byte header
    kept = [
        _frame(b"\x08\x06", bytes(28)),  # ARP
        _frame(b"\x86\xdd", ipv6 + bytes([135]) + bytes(23)),  # neighbour solicitation
        _frame(b"\x86\xdd", ipv6 + bytes([136]) + bytes(23)),  # neighbour advertisement
    ]
    for frame in kept * 20:
        line.hold(frame, 0, rng)
    assert line.lost == 0 and len(line.queue) == 60
    for frame in (_frame(b"\x08\x00", bytes(40)), _frame(b"\x86\xdd", ipv6 + bytes([128]) * 24)):
        line.hold(frame, 0, random.Random(0))
    assert line.lost == 2
