"""A real history through the router lab: runs at one tbf rate, then at half of it (root)."""

from __future__ import annotations

import json
import sys

import pytest

from pytest_qos.history.read import History
from pytest_qos.history.store import history_files
from pytest_qos.history.trends import find_trends
from pytest_qos.lab.routerlab import lab_unavailable_reason

REASON = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(REASON is not None, reason=f"router lab {REASON}"),
]
pytest.importorskip("ruptures", reason="the trend extra: pip install 'pytest-qos[trend]'")

STABLE_RUNS = 9  # MIN_HISTORY (8) runs, then one judged against them
# A change point needs 3 runs at its new level; a 4th gives Welch's test 3 degrees of freedom,
# not 2: beside four busy workers 3 runs at 10 Mbit/s spread 8.5-9.6 and kept p above 0.001.
LOWER_RUNS = 4
# Half the rate: beside four busy workers one stable run's dip once hid a 25 % step (to 15 Mbit/s)
# from the p < 0.001 test; a halving stands well clear of what load does to a stable run.
RATES = ("20mbit", "10mbit")
SCENARIO = """\
lab: {router: tbf-20.sh}
tests:
  bulk:
    traffic: {protocol: tcp, duration: 2 s}
    expect: {throughput: ">= 5 Mbit/s"}
"""


def tbf(rate: str) -> str:
    """A router config: one token bucket of `rate` each way (as scenarios/router-lab/ do)."""
    return (
        "#!/bin/sh\nset -eu\n"
        'for dev in "$WAN" "$LAN"; do\n'
        f'\ttc qdisc add dev "$dev" root handle 1: tbf rate {rate} burst 16k latency 50ms\n'
        "done\n"
    )


@pytest.mark.usefixtures("no_lab_left")
def test_a_lower_rate_is_a_change_point_and_fails_its_first_run(
    pytester: pytest.Pytester,
) -> None:
    for rate in RATES:
        config = pytester.path / f"tbf-{rate[:2]}.sh"
        config.write_text(tbf(rate))
        config.chmod(0o755)
    (pytester.path / "shaped.qos.yaml").write_text(SCENARIO)
    outcomes = []
    for run in range(STABLE_RUNS + LOWER_RUNS):
        # The lower rate comes as a new router config: the same series, a different level.
        config = [] if run < STABLE_RUNS else ["--qos-router-config=tbf-10.sh"]
        result = pytester.runpytest_subprocess(
            "--qos", "--qos-history=hist", "--qos-trend-fail", *config, "-p", "no:cacheprovider"
        )
        outcomes.append(result.parseoutcomes())
        if run == STABLE_RUNS - 1:
            result.stdout.fnmatch_lines(["*bulk*throughput*within the last 8 runs*"])
        if run == STABLE_RUNS:
            result.stdout.fnmatch_lines(["*throughput * is below the last 9 runs (*"])
    assert [o.get("passed", 0) for o in outcomes[:STABLE_RUNS]] == [1] * STABLE_RUNS
    assert outcomes[STABLE_RUNS].get("failed") == 1, outcomes[STABLE_RUNS]

    files = history_files(pytester.path / "hist")
    assert len(files) == STABLE_RUNS + LOWER_RUNS
    stored = [json.loads(path.read_text()) for path in files]
    assert "router_config" in stored[-1]["run"] and "router_config" not in stored[0]["run"]

    trends = find_trends(pytester.path / "hist", keep_test=lambda test: test.endswith("::bulk"))
    [series] = [s for s in trends.series if s.metric == "throughput"]
    assert len(series.values) == STABLE_RUNS + LOWER_RUNS  # one series: the config never splits
    [change] = trends.changes  # none in the stable part
    assert abs(change.run.index - STABLE_RUNS) <= 1
    assert change.worse is True and change.change_pct is not None and change.change_pct < -35
    page = pytester.path / "page.html"
    done = pytester.run(sys.executable, "-m", "pytest_qos", "trend", "hist", "--html", str(page))
    assert done.ret == 0 and "WORSE" in done.stdout.str()
    assert History(pytester.path / "hist").notes == []
