"""The history's pytest options, read into library objects (the pytest layer calls these).

`--qos-history DIR` (ini `qos_history`) stores each complete run; `--qos-history-keep N`
prunes; `--qos-run-id` names the run; `--qos-trend` judges each metric against its history and
`--qos-trend-fail` fails a test whose metric left its history's noise the bad way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..lab.spec import router_overrides
from .changepoints import INSTALL_HINT, extra_available
from .read import History
from .store import HistoryOptions, check_run_id, store_run
from .verdict import MIN_HISTORY, TrendJudge, past_values

if TYPE_CHECKING:
    import pytest


def add_options(parser: pytest.Parser) -> None:
    """Register the history's options in the `qos` group, and its ini key."""
    group = parser.getgroup("qos")
    group.addoption(
        "--qos-history",
        metavar="DIR",
        help="store each complete run's results in DIR, one file per run (ini: qos_history)",
    )
    group.addoption(
        "--qos-history-keep", metavar="N", help="keep only the newest N runs in --qos-history"
    )
    group.addoption(
        "--qos-run-id", metavar="TEXT", help="name this run in the history (e.g. a CI job URL)"
    )
    group.addoption(
        "--qos-trend",
        action="store_true",
        help=f"judge each metric against its own history (at least {MIN_HISTORY} earlier runs "
        "in --qos-history); needs pytest-qos[trend]",
    )
    group.addoption(
        "--qos-trend-fail",
        action="store_true",
        help="like --qos-trend, and fail a test whose metric left its history's noise the bad way",
    )
    parser.addini("qos_history", default="", help="history directory (as --qos-history)")


def _keep(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        keep = int(text)
    except ValueError:
        keep = 0
    if keep < 1:
        raise InputError(
            f"'{text}' is not a number of runs; give a whole number >= 1",
            key="--qos-history-keep",
        )
    return keep


def history_options(config: pytest.Config) -> HistoryOptions | None:
    """The run's history settings, or None without --qos-history (or ini qos_history)."""
    directory = config.getoption("qos_history") or config.getini("qos_history")
    keep = _keep(config.getoption("qos_history_keep"))
    if not directory:
        if keep is not None:
            raise InputError("needs --qos-history=DIR: what to prune", key="--qos-history-keep")
        return None
    run_id = config.getoption("qos_run_id")
    testbed = config.getoption("qos_testbed", None) or config.getini("qos_testbed")
    # A line of routers' NAME=PATH overrides are not recorded: the run keeps the one-router
    # override (the config under test that the trend page names at a change).
    router, _named = router_overrides(config.getoption("qos_router_config", None))
    root = Path(config.rootpath)
    return HistoryOptions(
        directory=Path(str(directory)),
        keep=keep,
        run_id=check_run_id(run_id) if run_id is not None else "",
        root=root,
        router_config=router,
        testbed=root / str(testbed) if testbed else None,
    )


def trend_judge(config: pytest.Config, options: HistoryOptions | None) -> TrendJudge | None:
    """The verdict against the history for --qos-trend(-fail); None without either."""
    fail = bool(config.getoption("qos_trend_fail"))
    if not (fail or config.getoption("qos_trend")):
        return None
    key = "--qos-trend-fail" if fail else "--qos-trend"
    if options is None:
        raise InputError("needs --qos-history=DIR: the runs to judge against", key=key)
    if not extra_available():
        raise InputError(INSTALL_HINT, key=key)
    history = History(options.directory)
    past = past_values(history)
    return TrendJudge(past, fail, history.notes)


def record_run(
    options: HistoryOptions,
    document: Mapping[str, Any],
    incomplete: str,
    judge: TrendJudge | None = None,
) -> str:
    """Store the run (if complete); the lines to print, with any history file skipped."""
    lines = [f"QoS history: {note}" for note in judge.notes] if judge is not None else []
    lines.append(store_run(options, document, incomplete))
    return "\n".join(lines)
