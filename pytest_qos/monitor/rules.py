"""Prometheus alerting rules from scenario files: one rule per bound of every test.

Each rule's `expr` selects the series `--qos-prometheus` pushes for that bound (names.py's
rule, so rules always match pushed names) and is true while the pushed value misses the
bound. A bound relative to a stored baseline ('>= 95% of baseline') and a test's `compare:`
thresholds have no fixed limit, so no rule: a comment in the file says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..errors import InputError
from ..judge.bounds import Bound
from ..scenario.reader import TestSpec, load_scenario
from ..units import Kind, parse
from ..yamldoc import LocatedYaml
from .names import SeriesName, label_value, series_name

ALERT = "QosBoundMissed"
SUFFIXES = (".yaml", ".yml")
_PROMETHEUS_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
# The comparison that is true while a bound is missed: the bound's opposite.
_MISSED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!="}


@dataclass(frozen=True)
class RuleOptions:
    """How rules are written: `for:`, extra labels, what scenario paths are relative to."""

    hold: str = "0s"  # Prometheus duration for `for:`
    labels: Mapping[str, str] = field(default_factory=dict)
    root: Path = Path(".")


@dataclass
class Group:
    """One rule group (one scenario file): its rules and the comments between them."""

    name: str
    entries: list[dict[str, Any] | str] = field(default_factory=list)  # a rule or a comment


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The scenario files named, directories searched for *.yaml and *.yml; sorted, once each."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.suffix in SUFFIXES and child.is_file():
                    found[child] = None
        elif path.is_file():
            found[path] = None
        else:
            raise InputError(f"{path}: no such file or directory")
    if not found:
        raise InputError(f"no scenario files (*.yaml, *.yml) in {', '.join(map(str, paths))}")
    return list(found)


def hold_duration(text: str) -> str:
    """`--for`: a Prometheus duration ('5m', '1h30m') or a duration such as '90 s'."""
    stripped = text.strip()
    if _PROMETHEUS_DURATION.match(stripped):
        return stripped
    try:
        seconds = parse(stripped, Kind.DURATION, "--for")
    except InputError as error:
        raise InputError(
            f"{error.message}; or a Prometheus duration such as 5m", key="--for"
        ) from None
    if seconds < 0:
        raise InputError(f"'{text}' is negative; write e.g. 5m or '0 s'", key="--for")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def file_label(path: Path, root: Path) -> str:
    """The `scenario` label of a file: its path from `root` (pytest's node id part)."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def rule_groups(paths: Iterable[Path], options: RuleOptions) -> list[Group]:
    """One group per scenario file; ScenarioError on the first bad file."""
    groups = []
    for path in paths:
        scenario = load_scenario(path)
        located = LocatedYaml(path, path.read_text(encoding="utf-8"), nesting="")
        label = file_label(path, options.root)
        group = Group(f"pytest-qos {label}")
        for spec in scenario.tests:
            group.entries += _test_rules(spec, label, located.lines, options)
        groups.append(group)
    return groups


def _test_rules(
    spec: TestSpec, scenario: str, lines: Mapping[tuple[str, ...], int], options: RuleOptions
) -> list[dict[str, Any] | str]:
    entries: list[dict[str, Any] | str] = []
    written = ("tests", spec.name, "expect")
    for metric, bound in spec.expect.items():
        line = lines.get((*written, metric)) or lines.get((*written, "y1541")) or spec.line
        where = f"{scenario}:{line}"
        if bound.of_baseline:
            entries.append(
                f"{where}: {spec.name} {metric} '{bound.text.strip()}' has no rule: its limit "
                "is relative to a stored baseline (--qos-compare), not a fixed value"
            )
            continue
        entries.append(_rule(spec.name, metric, bound, scenario, where, options))
    for metric in spec.compare:
        line = lines.get(("tests", spec.name, "compare", metric), spec.line)
        entries.append(
            f"{scenario}:{line}: {spec.name} compare {metric} has no rule: it is a threshold "
            "against a stored baseline (--qos-compare)"
        )
    return entries


def missed_expr(series: SeriesName, selector: str, bound: Bound) -> str:
    """PromQL true while the pushed value misses `bound`."""
    metric = f"{series.name}{selector}"
    if bound.op == "..":
        assert bound.high is not None
        low, high = series.value(bound.limit), series.value(bound.high)
        return f"{metric} < {_number(low)} or {metric} > {_number(high)}"
    return f"{metric} {_MISSED[bound.op]} {_number(series.value(bound.limit))}"


def _rule(
    test: str, metric: str, bound: Bound, scenario: str, where: str, options: RuleOptions
) -> dict[str, Any]:
    series = series_name(metric)
    matchers = (("scenario", label_value(scenario)), ("test", label_value(test)), *series.labels)
    selector = "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in matchers) + "}"
    written = bound.text.strip()
    return {
        "alert": ALERT,
        "expr": missed_expr(series, selector, bound),
        "for": options.hold,
        "labels": {
            **dict(options.labels),
            "scenario": label_value(scenario),
            "test": label_value(test),
            "metric": series.name,
            "qos_metric": metric,
        },
        "annotations": {
            "summary": f"{test}: {metric} missed its bound '{written}'",
            "description": (
                f"{test} in {scenario} measured {metric} = {{{{ $value }}}} "
                f"({_unit(series)}); the scenario requires {metric} {written}"
            ),
            "scenario": where,
            "bound": written,
        },
    }


def _unit(series: SeriesName) -> str:
    for suffix, unit in (
        ("_bytes_per_second", "bytes/s"),
        ("_seconds", "s"),
        ("_bytes", "bytes"),
        ("_ratio", "ratio 0-1"),
    ):
        if series.name.endswith(suffix):
            return unit
    return "value"


def _number(value: float) -> str:
    return repr(float(value))


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(groups: Sequence[Group], command: str, options: RuleOptions) -> str:
    """The rules file: a header, then each group's rules with its comments in place."""
    lines = [
        f"# Prometheus alerting rules written by pytest-qos {__version__}: {command}",
        "# Each rule fires while the value --qos-prometheus pushed for a bound misses it.",
        f"# Scenario labels are paths relative to {options.root.resolve()} (pytest's rootdir).",
        "groups:",
    ]
    for group in groups:
        lines.append(f"- name: {_scalar(group.name)}")
        lines.append(
            "  rules:" + ("" if any(isinstance(e, dict) for e in group.entries) else " []")
        )
        for entry in group.entries:
            if isinstance(entry, str):
                lines.append(f"  # {_comment(entry)}")
            else:
                dumped = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=10_000)
                lines += [f"  {line}" for line in dumped.splitlines()]
    return "\n".join(lines) + "\n"


def _scalar(text: str) -> str:
    return yaml.safe_dump(text, allow_unicode=True, width=10_000).splitlines()[0]


def _comment(text: str) -> str:
    return " ".join(text.split())
