"""Parse and format quantities: bit rates, durations, percentages, sizes, plain numbers, DSCPs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from enum import Enum

from .errors import InputError, did_you_mean


class Kind(str, Enum):
    """What a quantity measures; decides its base unit and the units accepted."""

    RATE = "rate"  # bit/s
    DURATION = "duration"  # s
    PERCENT = "percent"  # %
    SIZE = "size"  # bytes
    COUNT = "count"  # dimensionless
    SCORE = "score"  # dimensionless, fractional (MOS)
    GRADE = "grade"  # a letter grade A+ .. F, stored as its rank (F 0 .. A+ 5; higher is better)
    DSCP = "dscp"  # a DiffServ code point, 0-63: 'EF', 'AF41', 'CS1' or the number


DSCP_NAMES: dict[str, int] = {
    "BE": 0,
    "DF": 0,
    "CS0": 0,
    "CS1": 8,
    "CS2": 16,
    "CS3": 24,
    "CS4": 32,
    "CS5": 40,
    "CS6": 48,
    "CS7": 56,
    "EF": 46,
    "VA": 44,
    "LE": 1,
    **{f"AF{c}{d}": 8 * c + 2 * d for c in range(1, 5) for d in range(1, 4)},
}
# The name each value is shown by: the first name listed for it (BE for 0, not DF or CS0).
_DSCP_SHOWN = {value: name for name, value in reversed(list(DSCP_NAMES.items()))}


def parse_dscp(value: object) -> int:
    """A DSCP name (EF, AF41, CS1, ...) or a number 0-63."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= 63:
            return value
        raise InputError(f"DSCP {value} is out of range; use 0-63 or a name such as EF or AF41")
    if isinstance(value, str):
        name = value.strip().upper()
        if name in DSCP_NAMES:
            return DSCP_NAMES[name]
        if re.fullmatch("[0-9]{1,3}", name):  # not isdigit(): '²' is a digit int() refuses
            return parse_dscp(int(name))
        raise InputError(
            f"unknown DSCP '{value}': use a name (EF, AF11-AF43, CS0-CS7, BE) or a number 0-63"
            f"{did_you_mean(name, DSCP_NAMES)}"
        )
    raise InputError(f"DSCP must be a name such as EF or a number 0-63, got {value!r}")


def dscp_name(value: int) -> str:
    """'EF (46)', 'CS1 (8)', or '13' for a code point without a name."""
    name = _DSCP_SHOWN.get(value)
    return f"{name} ({value})" if name else str(value)


# Decimal prefixes, as iperf3 uses for rates.
_BIT_RATES = {
    "bit/s": 1.0,
    "bps": 1.0,
    "b/s": 1.0,
    "kbit/s": 1e3,
    "kbps": 1e3,
    "kb/s": 1e3,
    "mbit/s": 1e6,
    "mbps": 1e6,
    "mb/s": 1e6,
    "gbit/s": 1e9,
    "gbps": 1e9,
    "gb/s": 1e9,
    "tbit/s": 1e12,
    "tbps": 1e12,
}
# Byte rates are case-sensitive: "MB/s" is bytes, "Mb/s" is bits.
_BYTE_RATES = {"B/s": 8.0, "kB/s": 8e3, "KB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9}
_DURATIONS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
}
_SIZES = {
    "B": 1,
    "byte": 1,
    "bytes": 1,
    "kB": 1000,
    "KB": 1000,
    "KiB": 1024,
    "K": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "M": 1024**2,
}
_UNITS: dict[Kind, tuple[str, ...]] = {
    Kind.RATE: ("bit/s", "kbit/s", "Mbit/s", "Gbit/s", "bps", "kbps", "Mbps", "Gbps", *_BYTE_RATES),
    Kind.DURATION: ("ns", "us", "µs", "ms", "s", "min"),
    Kind.PERCENT: ("%",),
    Kind.SIZE: ("B", "kB", "KiB", "MB", "MiB"),
    Kind.COUNT: (),
    Kind.SCORE: (),
    Kind.GRADE: (),
    Kind.DSCP: (),
}
_EXAMPLE = {
    Kind.RATE: "10 Mbit/s",
    Kind.DURATION: "20 ms",
    Kind.PERCENT: "0.5 %",
    Kind.SIZE: "1460 B",
    Kind.COUNT: "3",
    Kind.SCORE: "4.0",
    Kind.GRADE: "B",
    Kind.DSCP: "EF",
}
UNIT_HELP = {
    Kind.RATE: "bit/s, kbit/s, Mbit/s, Gbit/s (or bps, kbps, Mbps, Gbps; B/s, kB/s, MB/s, GB/s "
    "for bytes)",
    Kind.DURATION: "ns, us, µs, ms, s",
    Kind.PERCENT: "%",
    Kind.SIZE: "B, kB, KiB, MB, MiB",
    Kind.COUNT: "none",
    Kind.SCORE: "none",
    Kind.GRADE: "none (a letter: A+, A, B, C, D or F)",
    Kind.DSCP: "a name (EF, AF11-AF43, CS0-CS7, BE) or a number 0-63",
}
BASE_UNIT = {
    Kind.RATE: "bit/s",
    Kind.DURATION: "s",
    Kind.PERCENT: "%",
    Kind.SIZE: "B",
    Kind.COUNT: "",
    Kind.SCORE: "",
    Kind.GRADE: "",
    Kind.DSCP: "",
}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


def example(kind: Kind) -> str:
    """A valid example of a quantity of this kind, for error messages."""
    return _EXAMPLE[kind]


def _unit_factor(unit: str, kind: Kind) -> float | None:
    if kind is Kind.RATE:
        if unit in _BYTE_RATES:
            return _BYTE_RATES[unit]
        if unit.split("/")[0].endswith("B") or unit.endswith("Bps"):
            # Bit units ignore case, but a capital B means bytes: 'mB/s' is no guess to make.
            return None
        return _BIT_RATES.get(unit.lower())
    if kind is Kind.DURATION:
        return _DURATIONS.get(unit)
    if kind is Kind.PERCENT:
        return 1.0 if unit == "%" else None
    if kind is Kind.SIZE:
        return float(_SIZES[unit]) if unit in _SIZES else None
    return None


_NOUN = {
    Kind.RATE: "a rate",
    Kind.DURATION: "a duration",
    Kind.PERCENT: "a percentage",
    Kind.SIZE: "a size",
    Kind.COUNT: "a count",
    Kind.SCORE: "a score",
    Kind.GRADE: "a grade",
    Kind.DSCP: "a DSCP",
}


# Letter grades, worst first: a grade's value is its rank, so '>= B' reads as a number bound.
GRADES = ("F", "D", "C", "B", "A", "A+")


def _grade(value: object) -> float:
    """A letter grade ('B', 'a+') as its rank in GRADES; anything else is an InputError."""
    text = value.strip().upper() if isinstance(value, str) else None
    if text not in GRADES:
        raise InputError(
            f"{value!r} is not a grade; write one of {', '.join(reversed(GRADES))} "
            "(A+ is best; there is no E)"
        )
    return float(GRADES.index(text))


def parse(value: object, kind: Kind, what: str | None = None) -> float:
    """Parse `value` ("10 Mbit/s", "20 ms", "0.5 %", 3, "B") into the base unit of `kind`.

    `what` names the quantity (e.g. "throughput") in errors.
    """
    if kind is Kind.GRADE:
        return _grade(value)
    if kind is Kind.DSCP:
        return float(parse_dscp(value))
    if isinstance(value, bool):
        raise InputError(f"{value!r} is not a quantity; write e.g. '{example(kind)}'")
    if isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) > 10**300:
            raise InputError("a number of over 300 digits is too large")
        if not math.isfinite(value):
            raise InputError(f"'{value}' is not a finite number")
        if kind in (Kind.COUNT, Kind.SCORE) or (kind is Kind.SIZE and isinstance(value, int)):
            return float(value)
        raise InputError(f"'{value}' needs a unit, e.g. '{_with_unit(value, kind)}'")
    if not isinstance(value, str):
        raise InputError(f"expected a quantity such as '{example(kind)}', got {value!r}")
    match = _QUANTITY.match(value)
    if not match:
        raise InputError(f"'{value}' is not a number with a unit, e.g. '{example(kind)}'")
    number = float(match.group(1))
    unit = match.group(2)
    if not math.isfinite(number):
        raise InputError(f"'{value}' is not a finite number")
    if not unit:
        if kind in (Kind.COUNT, Kind.SCORE, Kind.SIZE):
            return number
        raise InputError(f"'{value}' needs a unit, e.g. '{_with_unit(number, kind)}'")
    if kind in (Kind.COUNT, Kind.SCORE):
        raise InputError(f"'{value}' takes no unit; write a plain number such as '{number:g}'")
    factor = _unit_factor(unit, kind)
    other = next((k for k in _UNITS if k != kind and _unit_factor(unit, k) is not None), None)
    if factor is None and other is not None:
        # A unit of another kind: no spelling suggestion would help ('ms' → 'Mbps').
        raise InputError(
            f"'{value}' is {_NOUN[other]}, but {what or 'this value'} is {_NOUN[kind]}: "
            f"write e.g. '{_with_unit(number, kind)}' ({_NOUN[kind]} takes {UNIT_HELP[kind]})"
        )
    if factor is None:
        raise InputError(
            f"unknown unit '{unit}' in '{value}'; a {kind.value} takes {UNIT_HELP[kind]}"
            f"{did_you_mean(unit, _UNITS[kind])}"
        )
    if not math.isfinite(number * factor):
        raise InputError(f"'{value}' is too large to be a {kind.value}")
    return number * factor


def _with_unit(number: float, kind: Kind) -> str:
    unit = example(kind).split(" ", 1)[1] if " " in example(kind) else ""
    return f"{number:g} {unit}".strip()


def _three_significant(value: float) -> str:
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# (smallest value shown in this unit, the unit's size, the unit)
_RATE_STEPS = (
    (1e12, 1e12, "Tbit/s"),
    (1e9, 1e9, "Gbit/s"),
    (1e6, 1e6, "Mbit/s"),
    (1e3, 1e3, "kbit/s"),
    (1.0, 1.0, "bit/s"),
)
# Sub-millisecond times stay in ms down to 0.1 ms ("0.21 ms"), as network engineers read them.
_DURATION_STEPS = ((1.0, 1.0, "s"), (1e-4, 1e-3, "ms"), (1e-6, 1e-6, "µs"), (1e-9, 1e-9, "ns"))


def common_unit(values: Iterable[float], kind: Kind) -> tuple[float, str]:
    """(scale, unit) that shows every one of `values` in one unit: their median's.

    A grid of rates reads '1200, 950, 95.4' in Mbit/s rather than mixing Mbit/s and Gbit/s.
    """
    finite = sorted(abs(v) for v in values if math.isfinite(v) and v != 0)
    if kind is Kind.PERCENT:
        return 1.0, "%"
    if kind is Kind.SIZE:
        return 1.0, "B"
    if kind not in (Kind.RATE, Kind.DURATION) or not finite:
        return 1.0, BASE_UNIT.get(kind, "")
    steps = _RATE_STEPS if kind is Kind.RATE else _DURATION_STEPS
    middle = finite[len(finite) // 2]
    for smallest, scale, unit in steps:
        if middle >= smallest:
            return scale, unit
    return steps[-1][1], steps[-1][2]


def format_number(value: float, scale: float) -> str:
    """`value` / `scale` to three significant digits, no unit (for a grid in one unit)."""
    return _three_significant(value / scale)


def format_value(value: float | None, kind: Kind) -> str:
    """Humanise a base-unit value: 94100000 → '94.1 Mbit/s', 0.00021 → '0.21 ms'."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        # An infinite delay is a percentile that lost probes reached (RFC 2679 §5.1).
        if value > 0 and kind is Kind.DURATION:
            return "lost"
        return "∞" if value > 0 else "-∞"
    if kind is Kind.RATE:
        steps: tuple[tuple[float, float, str], ...] = _RATE_STEPS
    elif kind is Kind.DURATION:
        steps = _DURATION_STEPS
    elif kind is Kind.PERCENT:
        return f"{_three_significant(value)} %"
    elif kind is Kind.SIZE:
        return f"{_three_significant(value)} B"
    elif kind is Kind.COUNT:
        return f"{value:.0f}" if float(value).is_integer() else _three_significant(value)
    elif kind is Kind.GRADE:
        rank = round(value)
        return GRADES[rank] if 0 <= rank < len(GRADES) else _three_significant(value)
    elif kind is Kind.DSCP:
        return dscp_name(int(value)) if float(value).is_integer() else _three_significant(value)
    else:
        return f"{value:.2f}"
    if value == 0:
        return f"0 {BASE_UNIT[kind]}"
    for smallest, scale, unit in steps:
        if abs(value) >= smallest:
            return f"{_three_significant(value / scale)} {unit}"
    _, scale, unit = steps[-1]
    return f"{_three_significant(value / scale)} {unit}"


def whole_number(value: object, low: int, high: int, what: str, unit: str = "") -> int:
    """`value` as an int within [low, high], or an InputError saying the range (no bools)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        span = f"{low}{unit} to {high}{unit}" if unit else f"{low} to {high}"
        raise InputError(f"{what} must be a whole number from {span}, got {value!r}")
    return value
