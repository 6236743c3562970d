"""Generated scenario files for fault injection: the oracle wants one clear line or a scenario.

Used by tests/test_scenario_fuzz.py (bounded hypothesis examples) and by
benchmarks/fuzz_scenarios.py (10,000 files). A case is built from a seed, so any failure
reproduces from its number alone.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass
from pathlib import Path

from pytest_qos.errors import ScenarioError
from pytest_qos.hosts.testbed import HostSpec, Testbed
from pytest_qos.judge.metrics import lookup
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.scenario.reader import Scenario, parse_scenario
from pytest_qos.scenario.sites import pair_target, plan, uses_sites

# Keys that are different text but one key once YAML reads them (the merge the issue found).
EQUAL_KEYS = [
    ("1", "true"),
    ("10", "0xa"),
    ("yes", "on"),
    ("null", "~"),
    ("1", "1.0"),
    ("1000", "1_000"),
    ("1", "'1'"),
    ("no", "off"),
    ("0", "false"),
]
NAMES = ["bulk", "voice-ef", "a.b", "t_1", "x" * 300, "'a\\n'", "'a\\0b'", "é", "'1'", '"2"']
NUMBERS = [
    "0",
    "-1",
    "1",
    "3",
    "64",
    "65536",
    "1e308",
    "-1e308",
    ".inf",
    "-.inf",
    ".nan",
    "9" * 5000,
    "0x" + "f" * 400,
    "1_000",
    "0o17",
    "'²'",
    "'٣'",
    "'1e400'",
    "~",
    "[]",
    "{}",
    "true",
    "''",
    "'\\x07'",
    "2001-13-45",
    "2001-01-01",
]
RATES = ["10 Mbit/s", "1e308 Tbit/s", "1e300 Tbit/s", "0 bit/s", "-5 Mbit/s", "1e-300 bit/s"]
DURATIONS = ["1 s", "2 s", "0.5 s", "1e300 s", "-1 s", "1e-300 s", "86400 s", "1 min"]
SIZES = ["1460 B", "1e300 B", "0 B", "2 MiB", "1.5 B", "1e15"]
BOUND_TEXT = [
    ">= 1 Mbit/s",
    "<= 1e300 Tbit/s",
    ">= 1e308 Tbit/s",
    "< 1e308 s",
    "1e300 ms .. 1e308 ms",
    ">= 95% of baseline",
    ">= 1e308% of baseline",
    "<= 1e400 %",
    "== .inf",
    ">= nan Mbit/s",
    ">= 1e-320 %",
    "<= 100 %",
    "< 20 ms",
]
GOOD_BOUNDS = {
    "throughput": [">= 1 Mbit/s", "1 Mbit/s .. 1 Gbit/s", ">= 95% of baseline"],
    "throughput.sent": ["> 0 bit/s"],
    "loss": ["<= 1 %"],
    "latency.p99": ["< 20 ms"],
    "mos": [">= 4.0"],
}
TRAFFIC = {  # key: (values that should pass, values that should not)
    "protocol": (["tcp", "udp", "UDP"], ["sctp", "1"]),
    "streams": (["1", "4", "128"], ["0", "129", *NUMBERS]),
    "bitrate": (["10 Mbit/s", "1 Gbit/s", "100 kB/s"], RATES + NUMBERS),
    "length": (["1460 B", "1 KiB", "100"], SIZES + NUMBERS),
    "duration": (["1 s", "2 s"], DURATIONS + NUMBERS),
    "omit": (["0 s", "1 s"], DURATIONS + NUMBERS),
    "direction": (["upload", "download", "bidir"], ["sideways", *NUMBERS]),
    "dscp": (["EF", "AF41", "46", "'10'"], ["64", "'²'", "'٣'", "' 46'", "cs9", *NUMBERS]),
    "congestion": (["cubic", "reno"], ["bbr9", *NUMBERS]),
}
PROBE = {
    "kind": (["udp", "tcp", "icmp"], ["x", *NUMBERS]),
    "timeout": (["1 s", "500 ms"], ["1e308 s", "0 s", *NUMBERS]),
    "interval": (["20 ms", "10 ms"], ["1e300 s", "0 s", *NUMBERS]),
    "count": (["10", "100"], NUMBERS),
    "size": (["64 B", "200 B"], SIZES + NUMBERS),
    "duration": (["1 s"], DURATIONS + NUMBERS),
    "dscp": (["EF", "CS5"], ["'²'", *NUMBERS]),
}
TARGET = [
    "local",
    "{host: 127.0.0.1, port: 5201}",
    "{host: 127.0.0.1, ports: 5201-5204}",
    "{host: 127.0.0.1, ports: 5201-9999}",
    "{host: 127.0.0.1, ports: [" + ", ".join(str(5201 + n) for n in range(200)) + "]}",
    "{host: 127.0.0.1, ports: '70000-70001'}",
    "{host: 127.0.0.1, port: " + "9" * 5000 + "}",
    "{host: '', port: 1}",
]
LAB = [
    "{router: 'a\\0b'}",
    "{router: '" + "x" * 5000 + "'}",
    "{router: '" + "/".join(["x" * 200] * 40) + "'}",
    "{router: ~}",
    "{router: 5}",
    "{router: missing.sh}",
]
# Scenarios across sites, judged against SITES below: paths and meshes, good and odd.
SITE_HEADS = [
    "path: {from: h1, to: h2}",
    "path: {to: h2}",
    "path: {to: here}",
    "path: {from: here, to: here}",
    "path: {from: h1, to: h1}",
    "path: {from: h9, to: h2}",
    "mesh: {group: g}",
    "mesh: {hosts: [h1, h2, h3]}",
    "mesh: {from: h1, to: [h1]}",
    "mesh: {from: g, to: [h1]}",
    "mesh: {from: [h1], to: [h2, h1]}",
    "mesh: {hosts: [h1, h1]}",
    "mesh: {group: here}",
]
SITES = Testbed(
    Path("testbed.yaml"),
    {f"h{i}": HostSpec(f"h{i}", i, "local", (f"198.18.{i}.2",)) for i in (1, 2, 3)},
    {"g": ("h1", "h2", "h3")},
)
ODD = [
    "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ),
    "r: &r [*r]\n",
    "r: &r {x: *r}\n",
    "deep: " + "[" * 2000 + "]" * 2000 + "\n",
    'ctl: "\\x07"\n',
    "ctl2: \x07\n",
    "bad: [\n",
    "bad: {a: b\n",
    "\t tab: x\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "bin: !!binary aGVsbG8=\n",
    "py: !!python/object:os.system x\n",
    "set: !!set {a, b}\n",
    "--- a\n--- b\n",
    "%YAML 1.1\n---\nx: 1\n",
    "x: \ufeffy\n",
]


@dataclass
class Case:
    """One generated file and the test names it writes under `tests:` (None: unknown)."""

    text: str
    names: list[str] | None


def _value(rng: random.Random, pool: list[str]) -> str:
    return rng.choice(pool)


def _option(rng: random.Random, values: tuple[list[str], list[str]]) -> str:
    good, bad = values
    return rng.choice(bad if rng.random() < 0.04 else good)


def _mapping(
    rng: random.Random, pools: dict[str, tuple[list[str], list[str]]], extra: float = 0.05
) -> str:
    keys = rng.sample(list(pools), rng.randint(0, min(4, len(pools))))
    parts = [f"{key}: {_option(rng, pools[key])}" for key in keys]
    if rng.random() < extra:
        parts.append(f"{rng.choice(['protcol', 'bitrat', 'x', '1'])}: 1")
    return "{" + ", ".join(parts) + "}"


FLOW_NAMES = ["voice", "video", "bulk", "a-b", "x.y", "throughput", "'1'", "1", "true", "ef"]
FLOW_BOUNDS = ["throughput: '>= 1 Mbit/s'", "loss: '<= 1 %'", "latency.p99: '< 20 ms'", "x: '1'"]


def _mix_body(rng: random.Random) -> str:
    """A `flows:` (and maybe `probes:`) test, judged by prefixed metrics."""
    names = [rng.choice(FLOW_NAMES) for _ in range(rng.randint(1, 3))]
    flows = ", ".join(f"{name}: {_mapping(rng, TRAFFIC)}" for name in names)
    lines = [f"    flows: {{{flows}}}"]
    probes: list[str] = []
    if rng.random() < 0.4:
        probes = [rng.choice(["ef", "be", "voice"]) for _ in range(rng.randint(1, 2))]
        inner = ", ".join(f"{name}: {_mapping(rng, PROBE)}" for name in probes)
        lines.append(f"    probes: {{{inner}}}")
    if rng.random() < 0.5:
        lines.append(f"    duration: {_option(rng, (['2 s', '3 s'], DURATIONS + NUMBERS))}")
    if rng.random() < 0.2:
        lines.append(f"    settle: {_option(rng, (['0 s', '1 s'], DURATIONS + NUMBERS))}")
    judged = [*names, *probes]
    bounds = [
        f"{_unquoted(rng.choice(judged))}.{rng.choice(FLOW_BOUNDS)}"
        for _ in range(rng.randint(0, 3))
    ]
    if bounds:
        lines.append(f"    expect: {{{', '.join(bounds)}}}")
    return "\n".join(lines) + "\n"


def _test_body(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return _mix_body(rng)
    lines = []
    if rng.random() < 0.9:
        lines.append(f"    traffic: {_mapping(rng, TRAFFIC)}")
    if rng.random() < 0.5:
        lines.append(f"    probe: {_mapping(rng, PROBE)}")
    if rng.random() < 0.2:
        lines.append(f"    load: [{_mapping(rng, TRAFFIC)}]")
    if rng.random() < 0.2:
        lines.append(f"    repeat: {_option(rng, (['1', '3'], NUMBERS))}")
    if rng.random() < 0.2:
        lines.append(f"    settle: {_option(rng, (['0 s', '2 s'], DURATIONS + NUMBERS))}")
    if rng.random() < 0.7:
        text = "\n".join(lines)
        # Mostly metrics this test can measure, so most files get past the bounds.
        fitting = [
            metric
            for metric in GOOD_BOUNDS
            if (metric.startswith(("latency", "mos")) and "probe:" in text)
            or (metric.startswith("throughput") and "traffic:" in text)
            or (metric == "loss" and "protocol: udp" in text.lower())
        ]
        pool = fitting if fitting and rng.random() < 0.8 else list(GOOD_BOUNDS)
        metrics = [rng.choice(pool) for _ in range(rng.randint(1, 3))]
        bounds = {metric: _option(rng, (GOOD_BOUNDS[metric], BOUND_TEXT)) for metric in metrics}
        inner = ", ".join(f"{metric}: '{text}'" for metric, text in bounds.items())
        lines.append(f"    expect: {{{inner}}}")
    if rng.random() < 0.1:
        lines.append(f"    description: {_option(rng, (['text'], NUMBERS))}")
    return "\n".join(lines) + "\n" if lines else "    {}\n"


def structured(rng: random.Random) -> Case:
    """A scenario from parts: tests with tricky names, values, bounds, targets and labs."""
    written: list[str] = []
    tests = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.1:
            pair = rng.choice(EQUAL_KEYS)
            chosen = list(pair)
        else:
            chosen = [rng.choice(NAMES) if rng.random() < 0.1 else f"t{rng.randint(0, 50)}"]
        for name in chosen:
            written.append(name)
            tests.append(f"  {name}:\n{_test_body(rng)}")
    head = []
    if rng.random() < 0.3:
        head.append(f"defaults: {_mapping(rng, TRAFFIC)}")
    if rng.random() < 0.2:
        head.append(f"target: {rng.choice(TARGET)}")
    if rng.random() < 0.05:
        head.append(f"lab: {rng.choice(LAB)}")
    elif rng.random() < 0.1:
        head.append(rng.choice(SITE_HEADS))
    if rng.random() < 0.08:
        head.append(rng.choice(ODD).rstrip("\n"))
    text = "\n".join(head) + ("\n" if head else "") + "tests:\n" + "".join(tests)
    return Case(text, written)


def mutated(rng: random.Random) -> Case:
    """A structured file with bytes inserted, deleted or swapped (names then unknown)."""
    text = structured(rng).text
    chars = list(text)
    alphabet = ":-[]{}&*!|>'\"#%@`,?\n\t \x00\x07\x1b\u2028\ufeff0123456789e.~"
    for _ in range(rng.randint(1, 8)):
        where = rng.randrange(len(chars) + 1)
        action = rng.random()
        if action < 0.4:
            chars.insert(where, rng.choice(alphabet))
        elif action < 0.7 and chars:
            del chars[min(where, len(chars) - 1)]
        elif chars:
            chars[min(where, len(chars) - 1)] = rng.choice(alphabet)
    return Case("".join(chars), None)


def generate(seed: int) -> Case:
    """Case number `seed`: three in four structured, one in four mutated."""
    rng = random.Random(seed)
    return mutated(rng) if rng.random() < 0.25 else structured(rng)


def _unquoted(name: str) -> str:
    return name[1:-1] if name[:1] in "'\"" else name


def _use(scenario: Scenario) -> None:
    """What later stages do with a scenario: argv, bound texts, limits, and across sites its
    items and their pair targets (must not raise)."""
    for _, pair, _ in plan(scenario, SITES if uses_sites(scenario) else None):
        if pair is not None:
            pair_target(SITES, pair)
    tool = Iperf3.__new__(Iperf3)
    tool.path = "iperf3"
    for spec in scenario.tests:
        for traffic in (spec.traffic, *spec.load):
            if traffic is not None:
                argv = tool.command(traffic, "127.0.0.1", 5201)
                assert all("inf" not in arg.lower() and "nan" not in arg for arg in argv[1:]), argv
        for name, bound in spec.expect.items():
            bound.describe(lookup(name))
            low, high = bound.limit, bound.high
            assert low == low and abs(low) != float("inf"), (name, bound)
            assert high is None or (high == high and abs(high) != float("inf")), (name, bound)


def classify(case: Case, path: Path) -> str:
    """'scenario' or 'error' (one clear line) when the case behaved; else what went wrong."""
    try:
        scenario = parse_scenario(case.text, path)
        _use(scenario)
    except ScenarioError as error:
        if "\n" in str(error) or "\r" in str(error):
            return f"multi-line error: {str(error)!r}"
        return "error"
    except Exception:  # any other exception is the finding
        return "traceback: " + traceback.format_exc(limit=-3)
    if case.names is not None and len(scenario.tests) != len(case.names):
        written = [_unquoted(name) for name in case.names]
        return f"merged: wrote {written}, got {[spec.name for spec in scenario.tests]}"
    return "scenario"


def check(case: Case, path: Path) -> str | None:
    """None when the case behaved; else what went wrong (traceback, merged, multi-line)."""
    outcome = classify(case, path)
    return None if outcome in ("scenario", "error") else outcome
