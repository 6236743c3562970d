"""`python -m pytest_qos rules SCENARIO_FILE_OR_DIR... [-o FILE]`: alerting rules from scenarios."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import QosError
from ..store.output import write_output
from .rules import RuleOptions, hold_duration, render, rule_groups, scenario_files

EXIT_USAGE = 2


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier() or key.startswith("__"):
        raise argparse.ArgumentTypeError(
            f"--label takes NAME=VALUE with NAME a label name such as severity, got {text!r}"
        )
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_qos rules",
        description="Write Prometheus alerting rules, one per bound of every scenario test, "
        "on the metrics --qos-prometheus pushes.",
    )
    parser.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO_FILE_OR_DIR")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the rules here (default: stdout)"
    )
    parser.add_argument(
        "--for",
        dest="hold",
        default="0s",
        metavar="DURATION",
        help="how long a bound must stay missed before its alert fires, e.g. 10m (default 0s)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="scenario labels are paths relative to DIR: pytest's rootdir (default: here)",
    )
    parser.add_argument(
        "--label",
        type=_label,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a label every rule carries, e.g. severity=page (repeatable)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the command; a bad input is one line on stderr and exit status 2."""
    options = _parser().parse_args(argv)
    try:
        rule_options = RuleOptions(hold_duration(options.hold), dict(options.label), options.root)
        files = scenario_files(options.scenarios)
        groups = rule_groups(files, rule_options)
        text = render(groups, "python -m pytest_qos rules " + shlex.join(argv), rule_options)
        if options.output is None:
            sys.stdout.write(text)
        else:
            write_output(options.output, text)
    except QosError as error:
        print(f"pytest-qos rules: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        print(f"pytest-qos rules: cannot write{where}: {error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    return 0
