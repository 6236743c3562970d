"""`python -m pytest_qos trend DIR [--html FILE] [--md FILE] [--json FILE] [-k EXPR] [--metric M]`.

Prints the change points (worst first) and writes the pages asked for. Bad input never ends
in a traceback: files of the history that cannot be used are notes; a bad option, an
unwritable output or the missing extra is one line and exit status 2 (1 for the extra).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from ..errors import QosError
from ..store.output import write_output
from .changepoints import ExtraMissing, libraries
from .page import json_text, render_html, render_markdown, render_text
from .series import TestFilter
from .trends import find_trends

PROG = "python -m pytest_qos trend"


def parser() -> argparse.ArgumentParser:
    """The command's options."""
    command = argparse.ArgumentParser(
        prog=PROG,
        description="Trends of a --qos-history directory: each test's metrics across runs, "
        "their change points, worst first.",
    )
    command.add_argument("directory", metavar="DIR", type=Path, help="the --qos-history directory")
    command.add_argument("--html", metavar="FILE", type=Path, help="write the page with plots")
    command.add_argument("--md", metavar="FILE", type=Path, help="write the report as Markdown")
    command.add_argument("--json", metavar="FILE", type=Path, help="write changes and series")
    command.add_argument(
        "-k", metavar="EXPRESSION", dest="keyword", help="only tests matching, as pytest -k"
    )
    command.add_argument(
        "--metric",
        metavar="NAME",
        action="append",
        default=[],
        help="follow this metric (a pattern: 'latency.*'; repeatable) instead of each test's "
        "checked and headline metrics",
    )
    return command


def keyword_filter(expression: str | None) -> TestFilter | None:
    """pytest's -k: words matched case-insensitively in the test id, with and/or/not."""
    if not expression:
        return None
    # pytest is a dependency of the package, but the history library imports without it.
    from _pytest.mark.expression import Expression

    try:
        compiled = Expression.compile(expression)
    except Exception as error:  # pytest's ParseError or SyntaxError, by version
        raise QosError(f"-k {expression!r}: {error}") from None

    def keep(test: str) -> bool:
        def matches(word: str, /, **_: str | int | bool | None) -> bool:
            return word.lower() in test.lower()

        return compiled.evaluate(matches)

    return keep


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command; the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    options = parser().parse_args(list(argv))
    try:
        libraries()
        trends = find_trends(options.directory, options.metric, keyword_filter(options.keyword))
    except ExtraMissing as missing:
        err.write(f"{PROG}: {missing}\n")
        return 1
    except QosError as error:
        err.write(f"{PROG}: {error}\n")
        return 2
    out.write(render_text(trends))
    outputs: list[tuple[str, Path | None, Callable[[], str]]] = [
        ("--html", options.html, lambda: render_html(trends)),
        ("--md", options.md, lambda: render_markdown(trends)),
        ("--json", options.json, lambda: json_text(trends)),
    ]
    status = 0
    for option, path, render in outputs:
        if path is None:
            continue
        try:
            write_output(path, render())
        except (OSError, QosError) as error:
            reason = getattr(error, "strerror", None) or error
            err.write(f"{PROG}: {option}: cannot write {path}: {reason}\n")
            status = 2
        else:
            out.write(f"{option}: wrote {path}\n")
    return status
