"""Hand-edited baselines given to --qos-compare (issue 23): the document is checked against its
schema when read, one line per problem with file, line and key; a bad baseline never costs the
run its own outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from pytest_qos.errors import InputError
from pytest_qos.store.baselines import load_baseline
from pytest_qos.store.validate import SCHEMA

pytest_plugins = ["pytester"]


def _document(metrics: str = '"throughput": 1000000.0', extra: str = "") -> str:
    """A small valid document, one key per line, with the metrics (and keys) given."""
    return (
        '{\n  "version": 1,\n  "complete": true,\n  "environment": {},\n  "results": [\n'
        '    {\n      "test": "t.py::a",\n      "outcome": "passed",\n'
        f'      "metrics": {{\n        {metrics}\n      }}{extra},\n'
        '      "bounds": [],\n      "measurements": []\n    }\n  ]\n}\n'
    )


CASES = [
    # (document, the one line it must give, after "PATH:")
    (_document('"throughput": 1e999'), "10: results.0.metrics.throughput: inf is not a finite"),
    (_document().replace('"test": "t.py::a"', '"test": ["t"]'), "7: results.0.test: a list is"),
    (_document(f'"throughput": {"9" * 401}'), "10: results.0.metrics.throughput: a number of 401"),
    (
        _document(extra=',\n      "spread": {"throughput": "5 %"}'),
        "12: results.0.spread.throughput",
    ),
    (_document('"throughput": true'), "10: results.0.metrics.throughput: true is not a number"),
    (_document('"throughput": -5'), "10: results.0.metrics.throughput: -5 bit/s is outside"),
    (_document('"loss": 150'), "10: results.0.metrics.loss: 150 % is outside"),
    (_document('"latency.mean": "lost"'), '10: results.0.metrics.latency.mean: "lost" is only'),
    (_document('"latency.p99": "slow"'), "10: results.0.metrics.latency.p99: the text 'slow'"),
    ("[" * 100_000 + "]" * 100_000, "nests more than 100 levels deep (line 1)"),
    (_document().replace('"bounds": []', '"bounds": [{"metric": "x"}]'), "results.0.bounds.0: has"),
]


@pytest.mark.parametrize(("text", "line"), CASES)
def test_each_problem_is_one_line_with_file_line_and_key(
    tmp_path: Path, text: str, line: str
) -> None:
    path = tmp_path / "main.json"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_baseline(str(path))
    message = str(caught.value)
    assert f"{path}:{line}" in message or line in message, message
    problem_lines = [row for row in message.splitlines()[1:]]
    assert all(row.strip().startswith(f"{path}:") for row in problem_lines), message


def test_several_problems_several_lines(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    path.write_text(_document('"throughput": true,\n        "loss": -1'))
    with pytest.raises(InputError) as caught:
        load_baseline(str(path))
    lines = str(caught.value).splitlines()
    assert "(1 problem;" in lines[0]
    assert len(lines) == 2  # the schema's problems first; ranges once the types are right
    path.write_text(_document('"throughput": -1,\n        "loss": -1'))
    with pytest.raises(InputError) as caught:
        load_baseline(str(path))
    assert [row.split(": ")[1] for row in str(caught.value).splitlines()[1:]] == [
        "results.0.metrics.throughput",
        "results.0.metrics.loss",
    ]


@pytest.mark.parametrize(
    "metrics",
    ['"throughput": 1000000.0', '"latency.p99": "lost"', '"latency.p99": 5e-324', '"x.y": -3'],
)
def test_valid_documents_pass(tmp_path: Path, metrics: str) -> None:
    path = tmp_path / "main.json"
    path.write_text(_document(metrics))
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)
    assert "t.py::a" in load_baseline(str(path))


def test_the_schema_is_valid_json_schema_and_agrees_with_written_documents(
    pytester: pytest.Pytester,
) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    pytester.makepyfile(
        """
        import math
        def test_a(qos_check):
            qos_check({"throughput": 5e6, "latency.p99": math.inf}, {"throughput": ">= 1 Mbit/s"})
        """
    )
    pytester.runpytest("--qos-json=out.json")
    document = json.loads((pytester.path / "out.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert load_baseline(str(pytester.path / "out.json"))


def test_a_tiny_baseline_value_keeps_the_runs_json(pytester: pytest.Pytester) -> None:
    """5e-324 made an infinite change, and the run's --qos-json was not written."""
    pytester.makepyfile(
        """
        def test_a(qos_check):
            qos_check({"latency.p99": 0.01}, {"latency.p99": "<= 1 s"})
        """
    )
    (pytester.path / "base.json").write_text(
        json.dumps(
            {
                "version": 1,
                "results": [
                    {
                        "test": "test_a_tiny_baseline_value_keeps_the_runs_json.py::test_a",
                        "metrics": {"latency.p99": 5e-324},
                    }
                ],
            }
        )
    )
    result = pytester.runpytest(
        "--qos-compare=base.json", "--qos-compare-fail=latency.p99:20%", "--qos-json=out.json"
    )
    assert "Traceback" not in result.stdout.str() and "INTERNALERROR" not in result.stdout.str()
    document = json.loads((pytester.path / "out.json").read_text())
    change = document["results"][0]["comparison"]["changes"][0]
    assert change["change_percent"] is None or math.isfinite(change["change_percent"])


def test_a_bad_baseline_is_a_usage_error_naming_each_problem(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(qos_check):\n    qos_check({'throughput': 1.0}, {})\n")
    (pytester.path / "base.json").write_text(_document('"throughput": true'))
    result = pytester.runpytest("--qos-compare=base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*base.json:10: results.0.metrics.throughput: true is not*"])
    assert "Traceback" not in result.stderr.str() and "iperf3" not in result.stderr.str()
