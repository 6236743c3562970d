"""Hostile scenario files (issue 15): bounded work, no silent merges, one line per error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_fuzz import EQUAL_KEYS, check, generate

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.traffic import Traffic
from pytest_qos.scenario.reader import parse_scenario
from pytest_qos.units import Kind, format_value, parse, parse_dscp

BODY = "{traffic: {protocol: tcp}}"


def _error(text: str, path: Path = Path("s.qos.yaml")) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, path)
    assert "\n" not in str(caught.value), str(caught.value)
    return caught.value


def _bomb(levels: int) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for index in range(1, levels):
        previous, name = chr(96 + index), chr(97 + index)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + f"\ntests:\n  t:\n    traffic: {{}}\n    description: *{name}\n"


def test_alias_bomb_is_refused_quickly_with_one_line() -> None:
    started = time.monotonic()
    error = _error(_bomb(9))
    assert time.monotonic() - started < 1.0
    assert "aliases expand this file to" in error.message


def test_a_few_aliases_still_work() -> None:
    text = "defaults: &d {duration: 2 s}\ntests:\n  a: {traffic: *d}\n  b: {traffic: *d}\n"
    tests = parse_scenario(text, Path("s.yaml")).tests
    assert [spec.request.traffic.duration for spec in tests] == [
        2.0,
        2.0,
    ]


@pytest.mark.parametrize("text", ["tests: &a {t: *a}\n", "tests:\n  t:\n    load: &l [*l]\n"])
def test_recursive_alias_is_one_line(text: str) -> None:
    assert "recursive alias" in _error(text).message


@pytest.mark.parametrize(("first", "second"), [pair for pair in EQUAL_KEYS if pair[1][0] != "'"])
def test_keys_equal_once_parsed_are_an_error_naming_both_lines(first: str, second: str) -> None:
    error = _error(f"tests:\n  {first}: {BODY}\n  {second}: {BODY}\n")
    assert error.line == 3
    assert f"'{second}' here and '{first}' on line 2" in error.message


def test_equal_keys_inside_a_test_are_an_error() -> None:
    text = "tests:\n  a:\n    traffic: {10: x, 0xa: y}\n"
    error = _error(text)
    assert "'0xa' here and '10' on line 3" in error.message


def test_test_names_are_text() -> None:
    error = _error(f"tests:\n  1: {BODY}\n")
    assert "not as text; quote the name" in error.message
    assert parse_scenario(f"tests:\n  '1': {BODY}\n", Path("s.yaml")).tests[0].name == "1"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (f"tests:\n  t: {{traffic: {{streams: {'9' * 5000}}}}}\n", "a number of 5,000 digits"),
        ("tests:\n  t: {traffic: {dscp: '²'}}\n", "unknown DSCP '²'"),
        ("tests:\n  t: {traffic: {}, description: 2001-13-45}\n", "month must be in 1..12"),
        ("tests:\n  t: {traffic: {bitrate: 1e308 Tbit/s}}\n", "too large to be a rate"),
        ("tests:\n  t: {traffic: {bitrate: 20 Tbit/s}}\n", "from 1 bit/s to 10 Tbit/s"),
        ("tests:\n  t: {traffic: {bitrate: 0.1 bit/s}}\n", "from 1 bit/s to 10 Tbit/s"),
        (
            "tests:\n  t: {traffic: {}, expect: {throughput: '<= 1e300 Tbit/s'}}\n",
            "too large to be a rate",
        ),
        ('tests:\n  "t\\n": {traffic: {}}\n', "test name 't\\n' may use only"),
        (
            "target: {host: 127.0.0.1, ports: ["
            + ", ".join(str(5201 + n) for n in range(65))
            + "]}\ntests:\n  t: {traffic: {}}\n",
            "ports lists 1 to 64 ports",
        ),
        ('lab: {router: "a\\0b"}\ntests:\n  t: {traffic: {}}\n', "is not a usable path"),
        (f"lab: {{router: {'x' * 300}}}\ntests:\n  t: {{traffic: {{}}}}\n", "cannot be used"),
        ("tests:\n  t: {traffic: {}, description: " + "[" * 100 + "]" * 100 + "}\n", "nested"),
    ],
)
def test_values_that_crashed_are_one_line(text: str, words: str) -> None:
    assert words in str(_error(text))


def test_control_character_error_has_a_line_number() -> None:
    error = _error("tests:\n  t: {traffic: {}}\n  u: a\x07b\n")
    assert error.line == 3
    assert "control character U+0007" in error.message


def test_dscp_digits_are_ascii() -> None:
    assert parse_dscp(" 46") == 46
    with pytest.raises(InputError):
        parse_dscp("٣")


def test_no_bitrate_reaches_iperf3_as_inf_or_zero() -> None:
    tool = Iperf3.__new__(Iperf3)
    tool.path = "iperf3"
    argv = tool.command(Traffic.from_options({"bitrate": "10 Tbit/s"}), "127.0.0.1", 5201)
    assert argv[argv.index("-b") + 1] == "10000000000000"


def test_infinite_values_format_without_crashing() -> None:
    assert format_value(float("inf"), Kind.RATE) == "∞"
    assert format_value(float("-inf"), Kind.DURATION) == "-∞"
    with pytest.raises(InputError):
        parse(float("inf"), Kind.COUNT)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_generated_scenarios_give_a_scenario_or_one_line(seed: int) -> None:
    """The fuzz of benchmarks/fuzz_scenarios.py, bounded: no traceback, no merged key."""
    assert check(generate(seed), Path("/nonexistent/faults.qos.yaml")) is None
