"""`python -m pytest_qos COMMAND` and the `pytest-qos` script: the package's commands.

`responder` and `probe` (the far end and the client of latency probes) live in `probes/cli.py`,
the module shipped to far hosts as a stdlib-only script; commands that need more than the
standard library are dispatched here, each loaded only when asked for: `trend` (the history's
change points, `history/cli.py`), `rules` (alerting rules from scenario files,
`monitor/cli.py`) and `lab list|remove` (kept labs, `lab/kept.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .probes import cli as probe_commands


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m pytest_qos` and the `pytest-qos` script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["trend"]:
        # A CLI subcommand loaded on demand: the far-end commands never pay for it.
        from .history import cli as trend_command

        return trend_command.main(arguments[1:])
    if arguments[:1] == ["rules"]:
        # A CLI subcommand loaded on demand: the probes' commands must not pay for it.
        from .monitor import cli as rules_command

        return rules_command.main(arguments[1:])
    if arguments[:1] == ["lab"]:
        # Loaded here only: the lab's modules would slow every probe command's start.
        from .lab import kept

        return kept.main(arguments[1:])
    return probe_commands.main(arguments)


if __name__ == "__main__":
    sys.exit(main())
