"""The delay line's account of a test, without root: windows, verdicts, records, the kept-lab
command's refusals."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from pytest_qos.__main__ import main as command
from pytest_qos.lab import delayline, delaylines, wanview
from pytest_qos.lab.delaylines import WanRateWarning, carried, record_carried, warn_beyond_carried
from pytest_qos.lab.wan import WanLink, parse_wan
from pytest_qos.lab.wanview import Reading, way_window


def reading(late_ns: list[int] = (), **counts: int) -> Reading:
    """A statistics block as the lab reads it: these counters, these frames' lateness."""
    counters = dict.fromkeys(delayline.STATS_FIELDS, 0)
    counters.update({"bound": 10 * 2**20, "updated": 2_000_000_000}, **counts)
    histogram = [0] * delayline.HISTOGRAM_BUCKETS
    for late in late_ns:
        histogram[delayline.bucket(late)] += 1
    return Reading(counters, tuple(histogram))


START = reading(updated=0)


def test_a_window_that_kept_up_says_nothing() -> None:
    after = reading([20_000] * 1000, received=1000, sent=1000, lost=7, rate_drops=3)
    measured = way_window("up", WanLink(delay=0.01), START, after)
    assert measured.overload() == ""
    assert measured.unchosen == 0 and measured.seconds == 2.0
    assert measured.late["p50"] == pytest.approx(20e-6, rel=1 / 16)
    data = measured.to_json()
    assert (data["received"], data["lost"], data["rate_drops"]) == (1000, 7, 3)


def test_kernel_drops_beyond_the_tolerance_are_an_overload_in_words() -> None:
    after = reading([20_000] * 940, received=940, sent=940, kernel_drops=61)
    words = way_window("up", WanLink(delay=0.01), START, after).overload()
    assert words == "6.1 % dropped by the kernel (no room in its socket)"
    # One in 10,000 is within the tolerance.
    fine = reading([20_000] * 20_000, received=20_000, sent=20_000, kernel_drops=1)
    assert way_window("up", WanLink(delay=0.01), START, fine).overload() == ""


def test_lateness_beyond_the_tolerance_is_an_overload() -> None:
    late = [20_000] * 950 + [81_000_000] * 50
    words = way_window("up", WanLink(), START, reading(late, received=1000, sent=1000)).overload()
    assert words.startswith("p99 lateness 8") and words.endswith(" ms")
    # Too few frames to judge a p99 by.
    few = reading([81_000_000] * 10, received=10, sent=10)
    assert way_window("up", WanLink(), START, few).overload() == ""


def test_bound_drops_are_the_rate_limit_s_when_there_is_one() -> None:
    after = reading([1000] * 100, received=200, sent=100, bound_drops=100)
    shaped = way_window("up", WanLink(delay=0.1, rate=100e6), START, after)
    assert shaped.unchosen == 0 and shaped.overload() == ""
    unshaped = way_window("up", WanLink(delay=0.1), START, after)
    assert unshaped.unchosen == 100
    assert unshaped.overload() == (
        "50.0 % dropped at its memory bound (10 MiB; give wan.rate to size it)"
    )


def test_an_overloaded_line_raises_with_its_counts_on_the_result() -> None:
    class Lines:
        wan = parse_wan({"delay": "10 ms"})
        engine = "c"

    view = wanview.DelayLineView(Lines(), "userspace delay line (C engine): 10 ms each way")  # type: ignore[arg-type]
    before = {"up": START, "down": START}
    after = {
        "up": reading([20_000] * 940, received=940, sent=940, kernel_drops=61),
        "down": reading([90_000_000] * 200, received=200, sent=200),
    }
    with pytest.raises(delaylines.WanEmulationError) as caught:
        view.measurement(before, after)
    message = str(caught.value)
    assert message.startswith(
        "WAN delay line overloaded: up 6.1 % dropped by the kernel (no room in its socket); "
        "down p99 lateness 9"
    )
    assert "(c engine; its tolerance: 0.01 % of frames dropped, p99 lateness 1 ms)" in message
    assert "\n" not in message
    (measured,) = caught.value.measurements
    assert measured.tool == "wan"
    assert measured.details["delay_line"]["up"]["kernel_drops"] == 61
    assert measured.details["wan"].endswith("10 ms each way")


def test_the_carried_record_only_rises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(delaylines, "CARRIED", tmp_path / "carried.json")
    monkeypatch.setattr(delaylines, "CARRIED_HERE", {"c": 1000.0})
    assert carried("c") == (1000.0, "on the project's 2-core machine")
    record_carried("c", 500.0)
    assert carried("c")[0] == 1000.0  # the higher of the record and the project's figure
    record_carried("c", 5000.0)
    record_carried("c", 4000.0)
    best, where = carried("c")
    assert best == 5000.0 and where.startswith("on this machine (")
    assert json.loads((tmp_path / "carried.json").read_text())["c"]["frames_per_second"] == 5000


def test_a_rate_beyond_what_the_line_carried_is_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delaylines, "CARRIED", Path("/nonexistent/carried.json"))
    monkeypatch.setattr(delaylines, "CARRIED_HERE", {"python": 12_000.0})
    with pytest.warns(WanRateWarning) as caught:
        warn_beyond_carried(parse_wan({"delay": "5 ms", "rate": "1 Gbit/s"}), "python")
    assert len(caught) == 2  # both directions
    assert str(caught[0].message) == (
        "wan.rate 1 Gbit/s (up) is 82,563 full-sized frames/s, beyond the 12,000 frames/s the "
        "userspace delay line (python engine) has carried on the project's 2-core machine: a "
        "test it cannot keep up with is an error (WAN delay line overloaded), not a figure"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_beyond_carried(parse_wan({"delay": "5 ms", "rate": "100 Mbit/s"}), "python")
        warn_beyond_carried(parse_wan({"delay": "5 ms"}), "python")


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["lab"], 2, "usage: python -m pytest_qos lab list"),
        (["lab", "remove"], 2, "usage:"),
        (["lab", "remove", "../etc"], 1, "error: '../etc' is not a lab name (qos-<pid>-<n>"),
        (["lab", "remove", "qos-1-999999"], 1, "error: no lab qos-1-999999 (kept labs:"),
    ],
)
def test_the_kept_lab_command_refuses_what_it_cannot_remove(
    argv: list[str], code: int, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert command(argv) == code
    assert said in capsys.readouterr().err
