"""Every bad scenario input gets one clear line: file, line, key, what is wrong, what is right."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conftest import ScenarioWriter
from pytest_qos.errors import ScenarioError
from pytest_qos.scenario.reader import load_scenario
from pytest_qos.scenario.spec import TrafficTest

GOOD_TEST = """\
tests:
  bulk:
    traffic: {protocol: tcp}
    expect:
      throughput: ">= 1 Mbit/s"
"""

CASES = [
    # (yaml, line, key, words the message must contain)
    ("", 1, None, "the file is empty"),
    ("tests: {}\n", 1, "tests", "'tests:' is empty"),
    ("description: x\n", 1, None, "no 'tests:' mapping"),
    ("tests: [a, b]\n", 1, "tests", "must be a mapping"),
    (
        "tets:\n  a: {}\n",
        1,
        "tets",
        "unknown key 'tets' in the scenario file — did you mean 'tests'?",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      througput: '>= 1 Mbit/s'\n",
        5,
        "tests.a.expect.througput",
        "unknown metric 'througput' — did you mean 'throughput'?",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      throughput: '>= 10'\n",
        5,
        "tests.a.expect.throughput",
        "'10' needs a unit, e.g. '10 Mbit/s'",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n"
        "      throughput: '>= 10 Mbps/s'\n",
        5,
        "tests.a.expect.throughput",
        "unknown unit 'Mbps/s'",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      throughput: 10\n",
        5,
        "tests.a.expect.throughput",
        "has no comparison; write e.g. '>= 10 Mbit/s'",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      throughput: 'about 10'\n",
        5,
        "tests.a.expect.throughput",
        "is not a bound",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n"
        "      throughput: '20 Mbit/s .. 10 Mbit/s'\n",
        5,
        "tests.a.expect.throughput",
        "low end above its high end",
    ),
    (
        "tests:\n  a:\n    traffic: {protcol: tcp}\n",
        3,
        "tests.a.traffic.protcol",
        "unknown traffic key 'protcol' — did you mean 'protocol'?",
    ),
    (
        "tests:\n  a:\n    traffic:\n      protocol: tpc\n",
        4,
        "tests.a.traffic.protocol",
        "protocol 'tpc' is not tcp or udp — did you mean 'tcp'?",
    ),
    (
        "tests:\n  a:\n    traffic:\n      bitrate: 10\n",
        4,
        "tests.a.traffic.bitrate",
        "'10' needs a unit, e.g. '10 Mbit/s'",
    ),
    (
        "tests:\n  a:\n    traffic:\n      duration: 1.5 s\n",
        4,
        "tests.a.traffic.duration",
        "iperf3 measures whole seconds",
    ),
    (
        "tests:\n  a:\n    traffic:\n      duration: 3\n",
        4,
        "tests.a.traffic.duration",
        "'3' needs a unit, e.g. '3 s'",
    ),
    (
        "tests:\n  a:\n    traffic:\n      dscp: EFF\n",
        4,
        "tests.a.traffic.dscp",
        "unknown DSCP 'EFF': use a name (EF, AF11-AF43, CS0-CS7, BE) or a number 0-63"
        " — did you mean 'EF'?",
    ),
    ("tests:\n  a:\n    traffic:\n      dscp: 64\n", 4, "tests.a.traffic.dscp", "out of range"),
    (
        "tests:\n  a:\n    traffic:\n      streams: 0\n",
        4,
        "tests.a.traffic.streams",
        "streams must be a whole number from 1 to 128",
    ),
    (
        "tests:\n  a:\n    traffic:\n      direction: up\n",
        4,
        "tests.a.traffic.direction",
        "direction 'up' is not one of upload, download, bidir",
    ),
    (
        "tests:\n  a:\n    traffic:\n      congestion: cu bic\n",
        4,
        "tests.a.traffic.congestion",
        "'cu bic' is not the name of a TCP congestion control",
    ),
    ("tests:\n  a:\n    expect: {}\n", 2, "tests.a", "a test needs 'traffic:'"),
    (
        "tests:\n  a:\n    trafic: {}\n",
        3,
        "tests.a.trafic",
        "unknown key 'trafic' in test 'a' — did you mean 'traffic'?",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      loss: '<= 1 %'\n",
        5,
        "tests.a.expect.loss",
        "measured for UDP only",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: udp}\n    expect:\n      loss: '<= 1'\n",
        5,
        "tests.a.expect.loss",
        "'1' needs a unit, e.g. '1 %'",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      latency.p99: '<= 1 ms'\n",
        5,
        "tests.a.expect.latency.p99",
        "measured by a latency probe",
    ),
    (
        "tests:\n  a:\n    probe: {kind: udp, interval: 0 ms}\n",
        3,
        "tests.a.probe.interval",
        "interval",
    ),
    ("tests:\n  a:\n    probe: {count: 10, duration: 1 s}\n", 3, "tests.a.probe.duration", "count"),
    ("tests:\n  a:\n    probe: {kind: udq}\n", 3, "tests.a.probe.kind", "did you mean 'udp'?"),
    (
        "tests:\n  a:\n    probe:\n      intervl: 20 ms\n",
        4,
        "tests.a.probe.intervl",
        "did you mean 'interval'?",
    ),
    (
        "tests:\n  a:\n    probe:\n      target: {host: 127.0.0.1, prot: 7000}\n",
        4,
        "tests.a.probe.target.prot",
        "did you mean 'port'?",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    repeat: 0\n",
        4,
        "tests.a.repeat",
        "repeat must be a whole number from 1 to 100",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    load: []\n",
        4,
        "tests.a.load",
        "'load:' is empty",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    load:\n      - {protocl: tcp}\n",
        5,
        "tests.a.load.0.protocl",
        "did you mean 'protocol'?",
    ),
    ("defaults: {durtion: 1 s}\n" + GOOD_TEST, 1, "defaults.durtion", "did you mean 'duration'?"),
    ("target: remote\n" + GOOD_TEST, 1, "target", "is not 'local' nor a mapping"),
    ("target: {port: 5201}\n" + GOOD_TEST, 1, "target", "needs 'host:'"),
    (
        "target: {host: 198.18.1.2, ports: 5204-5201}\n" + GOOD_TEST,
        1,
        "target.ports",
        "must run low-high",
    ),
    (
        "target: {host: 198.18.1.2, port: 70000}\n" + GOOD_TEST,
        1,
        "target.port",
        "a port must be a whole number from 1 to 65535",
    ),
    ("lab: {router: missing.sh}\n" + GOOD_TEST, 1, "lab.router", "does not exist"),
    (
        "tests:\n  a:\n    traffic: {protocol: udp}\n    compare:\n      loss: '5% + 1 ms'\n",
        5,
        "tests.a.compare.loss",
        "the floor in '5% + 1 ms': '1 ms' is a duration, but loss is a percentage",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: udp}\n    compare:\n      packets: '5%'\n",
        5,
        "tests.a.compare.packets",
        "'packets' is neither better higher nor lower, so it cannot regress",
    ),
    (
        "target: {host: 198.18.1.2}\nlab: {}\n" + GOOD_TEST,
        2,
        "lab",
        "'target:' (line 1) and 'lab:' in one file",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      throughput: '>= 10 ms'\n",
        5,
        "tests.a.expect.throughput",
        "'10 ms' is a duration, but throughput is a rate: write e.g. '10 Mbit/s'",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: udp}\n    expect:\n"
        "      jitter: '1 Mbit/s .. 2 ms'\n",
        5,
        "tests.a.expect.jitter",
        "'1 Mbit/s' is a rate, but jitter is a duration",
    ),
    (
        "tests:\n  a:\n    traffic: {protocol: tcp}\n  a:\n    traffic: {protocol: udp}\n",
        4,
        "tests.a",
        "duplicate key",
    ),
    ("tests:\n  a:\n    traffic: {protocol: tcp\n", 4, None, "not valid YAML"),
    (
        "tests:\n  'bad name':\n    traffic: {protocol: tcp}\n",
        2,
        "tests.bad name",
        "may use only letters",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), CASES)
def test_bad_scenario_names_file_line_and_key(
    write_scenario: ScenarioWriter, text: str, line: int, key: str | None, words: str
) -> None:
    path = write_scenario(text, "bad.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert (error.path, error.line, error.key) == (str(path), line, key)
    assert words in error.message
    rendered = str(error)
    assert rendered.startswith(f"{path}:{line}: ")
    assert "\n" not in rendered


def test_good_scenario_applies_defaults_and_parses_bounds(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(
        textwrap.dedent("""\
        description: WAN
        target: {host: 198.18.1.2, ports: 5201-5204}
        defaults: {duration: 2 s, repeat: 2}
        tests:
          voice:
            traffic: {protocol: udp, bitrate: 64 kbit/s, length: 160, dscp: EF}
            repeat: 3
            expect:
              loss: "<= 0.5 %"
              throughput: "60 kbit/s .. 70 kbit/s"
          bulk:
            traffic: {protocol: tcp, streams: 4}
            load: {protocol: tcp, congestion: cubic}
            expect: {throughput: ">= 95% of baseline"}
    """)
    )
    scenario = load_scenario(path)
    voice, bulk = scenario.tests
    assert isinstance(voice, TrafficTest) and isinstance(bulk, TrafficTest)
    assert scenario.target.ports == (5201, 5202, 5203, 5204)
    traffic = voice.request.traffic
    assert traffic is not None and traffic.duration == 2.0
    assert traffic.dscp == 46 and traffic.bitrate == 64_000
    assert voice.request.repeat == 3 and bulk.request.repeat == 2
    assert voice.expect["throughput"].judge(64_000)
    assert not voice.expect["loss"].judge(0.6)
    assert voice.line == 5 and bulk.line == 11
    load = bulk.request.load
    assert load[0].congestion == "cubic" and load[0].duration == 2.0
    assert bulk.expect["throughput"].of_baseline


def test_collection_error_is_one_line_without_traceback(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "wan.yaml").write_text(
        "tests:\n  a:\n    traffic: {protocol: tcp}\n    expect:\n      througput: '>= 1 Mbit/s'\n"
    )
    result = pytester.runpytest("--qos")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*scenarios/wan.yaml:5: tests.a.expect.througput: unknown metric 'througput'"
            " — did you mean 'throughput'?*"
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "scenario.py" not in result.stdout.str()


def test_shipped_schema_accepts_shipped_scenarios_and_rejects_typos() -> None:
    import json

    import jsonschema
    import yaml

    schema_path = Path(__file__).parents[1] / "pytest_qos" / "scenario" / "scenario.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = sorted((Path(__file__).parents[1] / "scenarios").rglob("*.yaml"))
    assert shipped
    for path in shipped:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tests": {"a": {"trafic": {}}}}, schema)


def test_schema_names_exactly_the_keys_the_parser_accepts() -> None:
    """The JSON Schema and the parser's key tables never drift apart."""
    from pytest_qos.measure.traffic import TRAFFIC_KEYS
    from pytest_qos.probes.spec import PROBE_KEYS
    from pytest_qos.probes.spec import TARGET_KEYS as PROBE_TARGET_KEYS
    from pytest_qos.scenario import reader, sections, testkinds

    schema_path = Path(__file__).parents[1] / "pytest_qos" / "scenario" / "scenario.schema.json"
    schema = json.loads(schema_path.read_text())
    top = schema["properties"]
    test = top["tests"]["additionalProperties"]["properties"]
    target = next(choice for choice in top["target"]["oneOf"] if "properties" in choice)
    probe = schema["$defs"]["probe"]["properties"]
    assert set(top) == set(reader.TOP_KEYS)
    assert set(test) == set(testkinds.TEST_KEYS)
    assert set(top["defaults"]["properties"]) == set(sections.DEFAULT_KEYS)
    assert set(target["properties"]) == set(sections.TARGET_KEYS)
    assert set(top["lab"]["properties"]) == set(sections.LAB_KEYS)
    assert set(schema["$defs"]["traffic"]["properties"]) == set(TRAFFIC_KEYS)
    assert set(probe) == set(PROBE_KEYS)
    assert set(probe["target"]["properties"]) == set(PROBE_TARGET_KEYS)
