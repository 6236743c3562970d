"""Quantities: each unit spelling's factor, format/parse round trips, every bad-input message."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.units import Kind, format_value, parse

# The reference: each spelling a user may write and what one of it is in base units.
UNITS: dict[Kind, dict[str, float]] = {
    Kind.RATE: {
        "bit/s": 1,
        "bps": 1,
        "kbit/s": 1e3,
        "kbps": 1e3,
        "Kbps": 1e3,
        "Mbit/s": 1e6,
        "Mbps": 1e6,
        "mbps": 1e6,
        "Mb/s": 1e6,
        "Gbit/s": 1e9,
        "Gbps": 1e9,
        "GBIT/S": 1e9,
        "Tbit/s": 1e12,
        # Byte rates: the capital B means bytes, so ×8.
        "B/s": 8,
        "kB/s": 8e3,
        "KB/s": 8e3,
        "MB/s": 8e6,
        "GB/s": 8e9,
    },
    Kind.DURATION: {
        "ns": 1e-9,
        "us": 1e-6,
        "µs": 1e-6,  # micro sign U+00B5
        "μs": 1e-6,  # Greek mu U+03BC, what some keyboards give
        "ms": 1e-3,
        "s": 1,
        "sec": 1,
        "min": 60,
    },
    Kind.PERCENT: {"%": 1},
    Kind.SIZE: {"B": 1, "bytes": 1, "kB": 1e3, "KiB": 1024, "MB": 1e6, "MiB": 1024**2},
}
SPELLINGS = [
    (kind, unit, factor) for kind, units in UNITS.items() for unit, factor in units.items()
]

numbers = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("kind", "unit", "factor"), SPELLINGS, ids=[u for _, u, _ in SPELLINGS])
@given(number=numbers, space=st.sampled_from(["", " ", "  "]))
@example(number=10.0, space=" ")
@example(number=0.5, space="")
def test_parse_is_number_times_factor(
    kind: Kind, unit: str, factor: float, number: float, space: str
) -> None:
    assert parse(f"{number!r}{space}{unit}", kind) == number * factor


@given(number=st.integers(min_value=-(10**9), max_value=10**9))
def test_integer_text_parses_exactly(number: int) -> None:
    assert parse(f"{number} Mbit/s", Kind.RATE) == number * 1e6
    assert parse(f" {number}ms ", Kind.DURATION) == number * 1e-3


def _close_after_three_digits(shown: float, value: float) -> bool:
    # Three significant digits: off by at most half a unit in the third digit.
    return math.isclose(shown, value, rel_tol=5e-3, abs_tol=0.0) or shown == value


@pytest.mark.parametrize("kind", [Kind.RATE, Kind.DURATION, Kind.PERCENT, Kind.SIZE])
@given(
    magnitude=st.floats(min_value=1e-9, max_value=1e13, allow_nan=False),
    negative=st.booleans(),
)
@example(magnitude=94.1e6, negative=False)
@example(magnitude=0.00021, negative=False)
@example(magnitude=999.6, negative=False)
@example(magnitude=9.9996e-5, negative=False)
def test_format_then_parse_round_trips(kind: Kind, magnitude: float, negative: bool) -> None:
    value = -magnitude if negative else magnitude
    text = format_value(value, kind)
    assert _close_after_three_digits(parse(text, kind), value), text


@given(st.integers(min_value=0, max_value=10**12))
def test_counts_round_trip_exactly(count: int) -> None:
    assert parse(format_value(count, Kind.COUNT), Kind.COUNT) == count


@given(st.floats(min_value=1.0, max_value=5.0))
def test_scores_round_trip_to_two_decimals(score: float) -> None:
    assert parse(format_value(score, Kind.SCORE), Kind.SCORE) == pytest.approx(score, abs=0.005)


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (94_100_000, Kind.RATE, "94.1 Mbit/s"),
        (19_996_000, Kind.RATE, "20 Mbit/s"),
        (16e9, Kind.RATE, "16 Gbit/s"),
        (1500, Kind.RATE, "1.5 kbit/s"),
        (0.00021, Kind.DURATION, "0.21 ms"),
        (0.020, Kind.DURATION, "20 ms"),
        (2.5, Kind.DURATION, "2.5 s"),
        (5e-6, Kind.DURATION, "5 µs"),
        (0.5, Kind.PERCENT, "0.5 %"),
        (34.37, Kind.PERCENT, "34.4 %"),
        (0, Kind.RATE, "0 bit/s"),
        (0, Kind.DURATION, "0 s"),
        (12, Kind.COUNT, "12"),
        (4.123, Kind.SCORE, "4.12"),
        (None, Kind.RATE, "—"),
        (math.nan, Kind.DURATION, "n/a"),
    ],
)
def test_format_value_examples(value: float | None, kind: Kind, shown: str) -> None:
    assert format_value(value, kind) == shown


@pytest.mark.parametrize(
    ("value", "kind", "number"),
    [(3, Kind.COUNT, 3.0), ("3", Kind.COUNT, 3.0), (4.2, Kind.SCORE, 4.2), (1460, Kind.SIZE, 1460)],
)
def test_dimensionless_numbers_need_no_unit(value: object, kind: Kind, number: float) -> None:
    assert parse(value, kind) == number


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        # A number without its unit is an error, never a guess.
        (10, Kind.RATE, "'10' needs a unit, e.g. '10 Mbit/s'"),
        ("10", Kind.RATE, "'10' needs a unit, e.g. '10 Mbit/s'"),
        (2.5, Kind.RATE, "'2.5' needs a unit, e.g. '2.5 Mbit/s'"),
        ("20", Kind.DURATION, "'20' needs a unit, e.g. '20 ms'"),
        (20, Kind.DURATION, "'20' needs a unit, e.g. '20 ms'"),
        ("0.5", Kind.PERCENT, "'0.5' needs a unit, e.g. '0.5 %'"),
        (1.5, Kind.SIZE, "'1.5' needs a unit, e.g. '1.5 B'"),
        (
            "10 Mbits",
            Kind.RATE,
            "unknown unit 'Mbits' in '10 Mbits'; a rate takes bit/s, kbit/s, Mbit/s, Gbit/s "
            "(or bps, kbps, Mbps, Gbps; B/s, kB/s, MB/s, GB/s for bytes)",
        ),
        ("10 Mbyte/s", Kind.RATE, "unknown unit 'Mbyte/s' in '10 Mbyte/s'"),
        ("20 msec", Kind.DURATION, "unknown unit 'msec' in '20 msec'; a duration takes ns, us, µs"),
        ("20 MS", Kind.DURATION, "unknown unit 'MS' in '20 MS'"),
        ("5 percent", Kind.PERCENT, "unknown unit 'percent' in '5 percent'; a percent takes %"),
        (
            "10 Mbit/s",
            Kind.DURATION,
            "'10 Mbit/s' is a rate, but this value is a duration: write e.g. '10 ms' "
            "(a duration takes ns, us",
        ),
        ("10 ms", Kind.RATE, "'10 ms' is a duration, but this value is a rate"),
        ("5 %", Kind.SIZE, "'5 %' is a percentage, but this value is a size"),
        ("3 pkts", Kind.COUNT, "'3 pkts' takes no unit; write a plain number such as '3'"),
        ("fast", Kind.RATE, "'fast' is not a number with a unit, e.g. '10 Mbit/s'"),
        ("", Kind.DURATION, "'' is not a number with a unit, e.g. '20 ms'"),
        ("Mbit/s", Kind.RATE, "'Mbit/s' is not a number with a unit, e.g. '10 Mbit/s'"),
        ("1e999 Mbit/s", Kind.RATE, "'1e999 Mbit/s' is not a finite number"),
        (True, Kind.COUNT, "True is not a quantity; write e.g. '3'"),
        (None, Kind.RATE, "expected a quantity such as '10 Mbit/s', got None"),
        ([10], Kind.RATE, "expected a quantity such as '10 Mbit/s', got [10]"),
    ],
)
def test_bad_quantities_say_what_is_right(value: object, kind: Kind, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(value, kind)
    assert caught.value.message.startswith(message), caught.value.message
    assert caught.value.key is None


@pytest.mark.parametrize("unit", ["mB/s", "TB/s", "MBps"])
def test_a_capital_b_that_is_not_a_byte_unit_is_refused_not_read_as_bits(unit: str) -> None:
    with pytest.raises(InputError, match=f"unknown unit '{unit}'"):
        parse(f"10 {unit}", Kind.RATE)


@pytest.mark.parametrize(
    ("text", "kind", "suggestion"),
    [("10 Mbits/s", Kind.RATE, "Mbit/s"), ("10 msec", Kind.DURATION, "ms")],
)
def test_unknown_units_suggest_the_closest(text: str, kind: Kind, suggestion: str) -> None:
    with pytest.raises(InputError, match=f"did you mean '{suggestion}'"):
        parse(text, kind)


def test_grades_are_ranked_letters_best_highest() -> None:
    ranks = [parse(letter, Kind.GRADE) for letter in ("F", "D", "C", "B", "A", "a+ ")]
    assert ranks == sorted(ranks) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [format_value(rank, Kind.GRADE) for rank in ranks] == ["F", "D", "C", "B", "A", "A+"]
    for wrong in ("E", "A++", 3, None):
        with pytest.raises(InputError, match="is not a grade; write one of A\\+, A, B, C, D, F"):
            parse(wrong, Kind.GRADE)
