"""The --qos-json document stays small: per-sample series only on request, the shipped probe
script once however many commands carry it."""

from __future__ import annotations

import base64
import json
import os

import pytest

from conftest import ScenarioWriter
from pytest_qos.results import Measurement, QosResult
from pytest_qos.store.baselines import load_baseline, save_baseline
from pytest_qos.store.document import build_document, environment, expand_texts

BLOB = base64.b64encode(os.urandom(45_000)).decode()  # like the shipped script, 60 kB


def _probe(test: str) -> QosResult:
    script = f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{BLOB}')))"
    probe = Measurement(
        "probe:udp",
        {"latency.p99": 0.001},
        command=["ssh", "site1", f"exec python3 -c '{script}' probe --port 7000"],
        series={"rtt": [(i * 0.01, 0.001 + i * 1e-6) for i in range(1000)]},
        details={"responder": ["python3", "-c", script, "responder"]},
    )
    probe.setup = [["ssh", "site2", f"exec python3 -c '{script}' responder"]]
    return QosResult(test, [probe])


def test_series_are_summarised_unless_asked_for() -> None:
    results = [_probe(f"mesh.yaml::voice[a->{n}]") for n in "bcdefg"]
    small = build_document(results, environment())
    [measurement] = small["results"][0]["measurements"]
    assert "series" not in measurement
    assert measurement["series_summary"] == {
        "rtt": {"points": 1000, "min": 0.001, "max": pytest.approx(0.001999)}
    }
    full = build_document(results, environment(), series=True)
    assert len(full["results"][0]["measurements"][0]["series"]["rtt"]) == 1000
    sizes = [len(json.dumps(document)) for document in (small, full)]
    # Six probes over ssh: the 60 kB script is kept once, not 18 times.
    assert sizes[0] < 90_000 < 18 * len(BLOB), sizes
    assert list(small["texts"]) == list(full["texts"]) and len(small["texts"]) == 1


def test_commands_come_back_whole(tmp_path: os.PathLike[str]) -> None:
    result = _probe("t.yaml::voice")
    document = build_document([result], environment())
    assert BLOB not in json.dumps(document["results"])
    expanded = expand_texts(document)
    assert expanded["results"][0]["command"] == result.command
    assert expanded["results"][0]["measurements"][0]["setup"] == result.measurements[0].setup
    save_baseline(document, "main", tmp_path)
    [loaded] = load_baseline("main", tmp_path).values()
    assert loaded.measurements[0].command == result.measurements[0].command


def test_the_option_keeps_series_in_the_file(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario("tests:\n  ping:\n    probe: {kind: udp, interval: 10 ms, count: 100}\n")
    pytester.runpytest("--qos", "--qos-json=small.json").assert_outcomes(passed=1)
    pytester.runpytest("--qos", "--qos-json=full.json", "--qos-json-series").assert_outcomes(
        passed=1
    )
    small = json.loads((pytester.path / "small.json").read_text())
    full = json.loads((pytester.path / "full.json").read_text())
    assert "series" not in small["results"][0]["measurements"][0]
    assert small["results"][0]["measurements"][0]["series_summary"]["rtt"]["points"] == 100
    assert len(full["results"][0]["measurements"][0]["series"]["rtt"]) == 100
