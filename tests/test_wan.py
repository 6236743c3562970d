"""WAN emulation without root: `wan:` parsing, backend choice, tc lines, the delay line's queue."""

from __future__ import annotations

import importlib.util
import math
import os
import random
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.lab import delayline
from pytest_qos.lab import wan as wan_module
from pytest_qos.lab.wan import (
    WanLink,
    WanSpec,
    choose_backend,
    delay_line_command,
    parse_wan,
    queue_bound,
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


def test_delay_line_command_runs_one_direction_of_the_standalone_script_isolated() -> None:
    wan = parse_wan({"up": {"delay": "20 ms", "jitter": "1 ms"}})
    argv = delay_line_command(wan, "up", Path("/run/x/up.stats"), seed=7)
    assert argv[1:3] == ["-I", "-S"] and argv[3].endswith("delayline.py")
    options = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert options["--name"] == "up"
    assert (options["--from"], options["--to"]) == ("torouter", "toserver")
    assert options["--link"] == "0.02,0.001,0.0,0"
    assert options["--stats"] == "/run/x/up.stats"
    assert options["--bound"] == str(queue_bound(wan.up))
    assert (options["--engine"], options["--parent"], options["--seed"]) == ("auto", "1", "7")
    down = delay_line_command(wan, "down", Path("s"), engine="python", parent=False)
    options = dict(zip(down[4::2], down[5::2], strict=True))
    assert (options["--from"], options["--to"]) == ("toserver", "torouter")
    assert (options["--link"], options["--engine"], options["--parent"]) == (
        "0.0,0.0,0.0,0",
        "python",
        "0",
    )
    assert "--seed" not in options


def test_the_queue_bound_follows_the_rate_and_the_delay() -> None:
    # A window of TCP can sit in the line whole, and a rate limit's queue behind it.
    shaped = WanLink(delay=0.1, rate=100e6)
    in_flight = 100e6 / 8 * (2 * 0.1 + wan_module.QUEUE_TIME)
    assert queue_bound(shaped) == int(in_flight * 1.25 + wan_module.QUEUE_MARGIN)
    assert queue_bound(WanLink(delay=0.1, jitter=0.05, rate=100e6)) > queue_bound(shaped)
    # Without a rate the line assumes UNSHAPED_RATE; never more than MAX_BOUND.
    assert queue_bound(WanLink(delay=0.01)) < queue_bound(WanLink(delay=0.1))
    assert queue_bound(WanLink(delay=10.0)) == wan_module.MAX_BOUND
    assert queue_bound(WanLink(delay=10.0, rate=1e6)) < 8 * 2**20  # not 340 MB of frames


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
    assert [frame for _, frame in ordered.held()] == list(arrivals)
    departures = [departure for departure, _ in ordered.held()]
    assert departures == sorted(departures)
    assert all(d - arrivals[f] >= int((delay - jitter) * NS) for d, f in ordered.held())
    # Reordering allowed: taken in departure order, each exactly within delay ± jitter.
    taken = [loose.take() for _ in range(len(gaps))]
    assert [d for d, _ in taken] == sorted(d for d, _ in taken)
    low, high = int((delay - jitter) * NS), int((delay + jitter) * NS)
    assert all(low <= d - arrivals[f] <= high for d, f in taken)
    assert loose.head() is None and loose.queued_bytes == 0


def test_loss_drops_about_the_given_share_and_counts_it() -> None:
    line = delayline.Direction("up", 0.0, 0.0, 0.05, reorder=False)
    rng = random.Random(1)
    for index in range(20_000):
        line.hold(b"x", index, rng)
    assert line.received == 20_000
    assert line.lost + len(line.held()) == 20_000
    assert 0.045 < line.lost / 20_000 < 0.055  # binomial sd 0.0015: > 3 sd each side


def test_the_bound_in_bytes_drops_and_counts_what_does_not_fit() -> None:
    line = delayline.Direction("up", 1.0, 0.0, 0.0, reorder=False, bound=10 * 1514)
    rng = random.Random(0)
    for index in range(100):
        line.hold(bytes(1514), index, rng)
    assert len(line.held()) == 10 and line.bound_drops == 90
    assert line.queued_bytes == line.peak_bytes == 10 * 1514
    line.take()
    line.hold(bytes(1514), 100, rng)  # room again for one
    assert (len(line.held()), line.bound_drops) == (10, 90)


@pytest.mark.parametrize(
    "argv",
    [
        ["--from", "a", "--to", "b", "--stats", "s", "--link", "1,2"],
        ["--from", "a", "--to", "b"],  # no statistics file
        ["--from", "a", "--to", "b", "--stats", "s", "--engine", "rust"],
        ["--from", "a", "--to", "b", "--stats", "s", "--bound", "-1"],
        ["--up-from", "a", "--down-from", "b"],  # the old options
        ["--from", "a", "--to", "b", "--stats", "s", "--seed", "x"],
    ],
)
def test_delay_line_arguments_are_checked(argv: list[str]) -> None:
    assert delayline.main(argv) == 2


# -- its statistics block ------------------------------------------------------------------


@given(st.integers(0, 2**34))
def test_a_lateness_falls_in_a_bucket_no_wider_than_a_sixteenth(late: int) -> None:
    index = delayline.bucket(late)
    assert 0 <= index < delayline.HISTOGRAM_BUCKETS
    assert late <= delayline.bucket_top(index) <= late + late // 16 + 1
    assert index == 0 or delayline.bucket_top(index - 1) < late


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=300), st.sampled_from([0.5, 0.99]))
def test_percentiles_from_the_histogram_are_within_a_bucket(lates: list[int], share: float) -> None:
    histogram = [0] * delayline.HISTOGRAM_BUCKETS
    for late in lates:
        histogram[delayline.bucket(late)] += 1
    exact = sorted(lates)[max(0, math.ceil(len(lates) * share) - 1)]
    assert exact <= delayline.percentile(histogram, share) <= exact + exact // 16 + 1


def test_the_statistics_block_is_what_the_lab_reads(tmp_path: Path) -> None:
    stats = delayline.Stats(str(tmp_path / "up.stats"), "python", bound=12345)
    line = delayline.Direction("up", 0.0, 0.0, 0.0, reorder=False)
    line.hold(bytes(100), 0, random.Random(0))
    _departure, frame = line.take()
    line.count_sent(frame, 2_000)
    line.kernel_drops = 3
    line.publish(stats, early=40_000)
    block = delayline.read_stats((tmp_path / "up.stats").read_bytes())
    assert block is not None
    counters, histogram = block
    assert counters["received"] == counters["sent"] == 1
    assert counters["received_bytes"] == 100 - delayline.VNET_HEADER
    assert (counters["kernel_drops"], counters["bound"], counters["early"]) == (3, 12345, 40_000)
    assert delayline.ENGINES[counters["engine"]] == "python"
    assert counters["pid"] == os.getpid() and counters["updated"] > 0
    assert sum(histogram) == 1 and delayline.percentile(histogram, 0.5) >= 2_000
    assert delayline.read_stats(bytes(delayline.STATS_SIZE)) is None  # not written yet


def test_the_c_engine_counts_into_the_same_block() -> None:
    """The C enum of statistics words names STATS_FIELDS in the same order."""
    source = Path(delayline.__file__).with_name("_delayline.c").read_text()
    enum = re.search(r"enum \{(.*?)\};", source, re.S)
    assert enum is not None
    names = [name.strip()[3:].lower() for name in enum.group(1).split(",")]
    assert names[:-1] == list(delayline.STATS_FIELDS) and names[-1] == "fields"
    words = re.search(r"#define ST_HISTOGRAM (\d+)", source)
    assert words is not None and int(words.group(1)) == delayline.STATS_HISTOGRAM
    module = delayline.c_engine()
    if module is not None:  # built by the install where a compiler exists
        assert module.STATS_WORDS == delayline.STATS_WORDS
        assert len(delayline.STATS_FIELDS) == module.STATS_FIELDS


def test_without_its_compiled_module_the_python_engine_is_used(tmp_path: Path) -> None:
    copy = tmp_path / "delayline.py"
    shutil.copy(delayline.__file__, copy)
    spec = importlib.util.spec_from_file_location("lone_delayline", copy)
    assert spec is not None and spec.loader is not None
    alone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(alone)
    assert alone.c_engine() is None


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
    assert line.lost == 0 and len(line.held()) == 60
    for frame in (_frame(b"\x08\x00", bytes(40)), _frame(b"\x86\xdd", ipv6 + bytes([128]) * 24)):
        line.hold(frame, 0, random.Random(0))
    assert line.lost == 2
