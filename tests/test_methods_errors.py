"""Bad method input in a scenario: one clear line naming file, line and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.errors import ScenarioError
from pytest_qos.methods import rpm
from pytest_qos.scenario.reader import load_scenario

CASES = [
    # (yaml, line, key, words the message must contain)
    (
        "tests:\n  a:\n    rfc2544:\n      range: 100 Mbit/s .. 10 Mbit/s\n",
        4,
        "tests.a.rfc2544.range",
        "is upside down: its low end must be below its high end; write '10 Mbit/s .. 100 Mbit/s'",
    ),
    (
        "tests:\n  a:\n    rfc2544: {frame_sizes: [1518]}\n",
        3,
        "tests.a.rfc2544.range",
        "rfc2544 needs 'range:'",
    ),
    (
        "tests:\n  a:\n    rfc2544: {range: 1 Mbit/s .. 2 Mbit/s, frame_sizes: [40]}\n",
        3,
        "tests.a.rfc2544.frame_sizes",
        "frame size 40 B cannot be sent as one UDP datagram",
    ),
    (
        "tests:\n  a:\n    rfc2544: {range: 1 Mbit/s .. 2 Mbit/s, trials: 1 s}\n",
        3,
        "tests.a.rfc2544.trials",
        "unknown rfc2544 key 'trials' — did you mean 'trial'?",
    ),
    (
        "tests:\n  a:\n    y1564:\n      services:\n        voice:\n          cir: 10\n",
        6,
        "tests.a.y1564.services.voice.cir",
        "'10' needs a unit, e.g. '10 Mbit/s'",
    ),
    (
        "tests:\n  a:\n    y1564:\n      services:\n        voice:\n          eir: 5 Mbit/s\n",
        6,
        "tests.a.y1564.services.voice.eir",
        "eir is the excess above the committed rate: give 'cir:' too",
    ),
    (
        "tests:\n  a:\n    y1564:\n      services:\n        voice: {cir: 1 Mbit/s, fdr: 1 %}\n",
        5,
        "tests.a.y1564.services.voice.fdr",
        "unknown service key 'fdr'",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: udp}\n    rfc2544:\n"
        "      range: 1 Mbit/s .. 2 Mbit/s\n",
        3,
        "tests.a.traffic",
        "'traffic' cannot stand beside the method 'rfc2544', which runs its own flows",
    ),
    (
        "tests:\n  a:\n    rfc6349: {}\n    y1564: {services: {s: {cir: 1 Mbit/s}}}\n",
        4,
        "tests.a.y1564",
        "a test runs one method; 'rfc6349' and 'y1564' belong in separate tests",
    ),
    (
        "tests:\n  a:\n    rfc6349: {}\n    expect:\n      loss: '<= 1 %'\n",
        5,
        "tests.a.expect.loss",
        "'loss' is not measured by the rfc6349 method",
    ),
    (
        "tests:\n  a:\n    rpm:\n      interval: 1 s\n      intervals: 4\n",
        5,
        "tests.a.rpm.intervals",
        "unknown rpm key 'intervals' — did you mean 'interval'?",
    ),
    (
        "tests:\n  a:\n    rpm:\n      connections: 0\n",
        4,
        "tests.a.rpm.connections",
        "connections must be a whole number from 1 to 64, got 0",
    ),
    (
        "tests:\n  a:\n    rpm: {tolerance: 100 %}\n",
        3,
        "tests.a.rpm.tolerance",
        "tolerance must be above 0 % and below 100 % (the draft: 5 %), got '100 %'",
    ),
    (
        "tests:\n  a:\n    rpm:\n      interval: 2 s\n      duration: 1 s\n",
        5,
        "tests.a.rpm.duration",
        "duration 1 s is below one interval (2 s); stability takes at least 10 intervals",
    ),
    (
        "tests:\n  a:\n    rpm: {}\n    expect:\n      bufferbloat.grade: '>= E'\n",
        5,
        "tests.a.expect.bufferbloat.grade",
        "'E' is not a grade; write one of A+, A, B, C, D, F (A+ is best; there is no E)",
    ),
    (
        "tests:\n  a:\n    rpm: {}\n    expect:\n      latency.p99: '<= 10 ms'\n",
        5,
        "tests.a.expect.latency.p99",
        "'latency.p99' is not measured by the rpm method; it measures rpm, latency.idle",
    ),
    (
        "tests:\n  a:\n    probe: {kind: udp}\n    expect: {bufferbloat.grade: '>= B'}\n",
        4,
        "tests.a.expect.bufferbloat.grade",
        "'bufferbloat.grade' is measured by the rpm method; use 'rpm:' in a test of its own",
    ),
    (
        "tests:\n  a:\n    probe: {kind: udp}\n    expect: {y1541: class-8}\n",
        4,
        "tests.a.expect.y1541",
        "'class-8' is not a Y.1541 class; write class-0 to class-5",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect: {y1541: class-0}\n",
        4,
        "tests.a.expect.y1541.iptd",
        "is measured by a latency probe",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), CASES)
def test_bad_method_input_is_one_clear_line(
    write_scenario: Any, text: str, line: int, key: str, words: str
) -> None:
    path = write_scenario(text, "methods.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert (error.line, error.key) == (line, key), str(error)
    assert words in error.message
    assert "\n" not in str(error)


def test_method_error_at_collection_is_one_line(
    pytester: pytest.Pytester, write_scenario: Any
) -> None:
    write_scenario("tests:\n  a:\n    rfc2544: {range: 100 Mbit/s .. 10 Mbit/s}\n")
    result = pytester.runpytest("--qos")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/path.yaml:3: tests.a.rfc2544.range: "
            "range '100 Mbit/s .. 10 Mbit/s' is upside down*"
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_method_metric_in_a_flow_test_names_the_method(write_scenario: Any) -> None:
    path = write_scenario(
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect: {tcp.efficiency: '>= 99 %'}\n"
    )
    with pytest.raises(ScenarioError, match="measured by the rfc6349 method"):
        load_scenario(path)


def test_schema_covers_the_method_keys() -> None:
    import jsonschema
    import yaml

    schema = json.loads(
        (Path(__file__).parents[1] / "pytest_qos" / "scenario" / "scenario.schema.json").read_text()
    )
    good = yaml.safe_load(
        """
tests:
  a: {rfc2544: {range: 1 Mbit/s .. 2 Mbit/s, frame_sizes: [64, 1518], trial: 1 s}}
  b: {rfc6349: {bottleneck: 20 Mbit/s, duration: 2 s}, expect: {tcp.efficiency: ">= 99 %"}}
  c: {y1564: {services: {v: {cir: 1 Mbit/s, eir: 1 Mbit/s, dscp: EF, ftd: 5 ms}}}}
  d: {probe: {kind: udp}, expect: {y1541: class-0}}
  e: {rpm: {congestion: cubic, interval: 1 s, tolerance: 5 %}, expect: {bufferbloat.grade: ">= B"}}
  f: {rpm: {direction: both, sequential: true, dscp: AF11, probe_rate: 50}}
"""
    )
    jsonschema.validate(good, schema)
    assert set(schema["$defs"]["rpm"]["properties"]) == set(rpm.KEYS)
    for bad in (
        {"tests": {"a": {"rfc2544": {"rang": "1 Mbit/s .. 2 Mbit/s"}}}},
        {"tests": {"a": {"y1564": {"services": {"v": {"eir": "1 Mbit/s"}}}}}},
        {"tests": {"a": {"traffic": {}, "rfc6349": {}}}},
        {"tests": {"a": {"probe": {}, "expect": {"y1541": "class-9"}}}},
        {"tests": {"a": {"rpm": {"connection": 4}}}},
        {"tests": {"a": {"rpm": {}, "load": {}}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
