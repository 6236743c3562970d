"""ITU-T Y.1564 service activation: each service stepped alone to CIR, CIR+EIR and a policing
rate (service configuration test), then all services together at CIR (service performance test).

Figures follow the Recommendation's definitions as far as a UDP flow and a round-trip probe can:
IR counts delivered Ethernet frames (FCS included, preamble and gap not), FLR is lost / sent
frames, FTD is the probe's mean round trip (two-way FTD), FDV its 99th percentile minus its
minimum. See docs/methods.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, check_key
from ..measure.traffic import parse_dscp
from ..probes import Probe
from ..results import Check
from ..units import Kind, format_value, parse
from .frames import check_mtu, overhead, sent_frame_rate, short_of, udp_payload
from .rfc2544 import _percent, _whole_seconds
from .trial import Flow, MethodResult, Observed, Trial, frame_counts, frame_flow

KEYS = ("services", "steps", "trial", "performance")
SERVICE_KEYS = ("cir", "eir", "dscp", "frame_size", "flr", "ftd", "fdv", "ir")
DEFAULT_STEPS = (25.0, 50.0, 75.0, 100.0)
DEFAULT_TRIAL = 2.0
DEFAULT_PERFORMANCE = 5.0
DEFAULT_FRAME = 1518
DEFAULT_FLR = 0.1  # percent
DEFAULT_IR_TOLERANCE = 2.0  # percent
PROBE_INTERVAL = 0.010
POLICING_FACTOR = 1.25
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Service:
    """One service's bandwidth profile (bit/s of frames) and acceptance criteria."""

    name: str
    cir: float
    eir: float = 0.0
    dscp: int | None = None
    frame_size: int = DEFAULT_FRAME
    flr: float = DEFAULT_FLR  # percent
    ftd: float | None = None  # seconds, round trip
    fdv: float | None = None  # seconds
    ir: float = DEFAULT_IR_TOLERANCE  # percent either side of the rate the step expects

    @property
    def policing_rate(self) -> float:
        """CIR + 1.25 EIR, or 1.25 CIR + EIR when EIR is under 20 % of CIR."""
        if self.eir < 0.2 * self.cir:
            return POLICING_FACTOR * self.cir + self.eir
        return self.cir + POLICING_FACTOR * self.eir

    @classmethod
    def from_options(cls, name: str, options: Mapping[str, Any]) -> Service:
        """Validate one entry under `services:`; errors name the key at fault."""
        if not _NAME.match(name):
            raise InputError(
                f"service name '{name}' must start with a letter and use only letters, "
                "digits, '-' and '_'",
                key=name,
            )
        for key in options:
            try:
                check_key(key, SERVICE_KEYS, "service")
            except InputError as error:
                raise InputError(error.message, key=f"{name}.{key}") from None
        if "cir" not in options:
            if "eir" in options:
                raise InputError(
                    "eir is the excess above the committed rate: give 'cir:' too, "
                    "e.g. {cir: 10 Mbit/s, eir: 5 Mbit/s}",
                    key=f"{name}.eir",
                )
            raise InputError("a service needs 'cir:', e.g. 'cir: 10 Mbit/s'", key=name)
        values: dict[str, Any] = {"name": name}
        for key, value in options.items():
            try:
                values[key] = _service_option(key, value)
            except InputError as error:
                raise InputError(error.message, key=f"{name}.{key}") from None
        return cls(**values)


def _service_option(key: str, value: Any) -> Any:
    if key in ("cir", "eir"):
        rate = parse(value, Kind.RATE)
        if rate < 0 or (key == "cir" and rate == 0):
            raise InputError(f"{key} must be above 0, got {value!r}")
        return rate
    if key == "dscp":
        return parse_dscp(value)
    if key == "frame_size":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"frame_size is a whole number of bytes, e.g. 1518, got {value!r}")
        udp_payload(value)
        return value
    if key in ("flr", "ir"):
        return _percent(value, key, 0.0, 100.0)
    seconds = parse(value, Kind.DURATION)  # ftd, fdv
    if seconds <= 0:
        raise InputError(f"{key} must be above 0, got {value!r}")
    return seconds


@dataclass(frozen=True)
class Y1564:
    """`y1564:` options: services, CIR steps (percent), step and performance durations."""

    services: tuple[Service, ...]
    steps: tuple[float, ...] = DEFAULT_STEPS
    trial: float = DEFAULT_TRIAL
    performance: float = DEFAULT_PERFORMANCE  # 0: no service performance test

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Y1564:
        """Validate `y1564:`; an InputError's key names the option at fault."""
        for key in options:
            check_key(key, KEYS, "y1564")
        services = options.get("services")
        if not isinstance(services, dict) or not services:
            raise InputError(
                "y1564 needs 'services:', a mapping of service name -> {cir: RATE, ...}",
                key="services",
            )
        parsed = []
        for name, data in services.items():
            if not isinstance(data, dict):
                raise InputError(
                    "a service is a mapping such as {cir: 10 Mbit/s, dscp: AF41}",
                    key=f"services.{name}",
                )
            try:
                parsed.append(Service.from_options(str(name), data))
            except InputError as error:
                raise InputError(error.message, key=f"services.{error.key}") from None
        values: dict[str, Any] = {"services": tuple(parsed)}
        if "steps" in options:
            values["steps"] = _steps(options["steps"])
        if "trial" in options:
            values["trial"] = _whole_seconds(options["trial"], "trial")
        if "performance" in options:
            performance = options["performance"]
            if str(performance).strip() in ("0", "0 s", "off"):
                values["performance"] = 0.0
            else:
                values["performance"] = _whole_seconds(performance, "performance")
        return cls(**values)


def _steps(value: Any) -> tuple[float, ...]:
    items = value if isinstance(value, list) else [value]
    steps = []
    for item in items:
        try:
            step = parse(item, Kind.PERCENT)
        except InputError as error:
            raise InputError(f"{error.message} (steps are percentages of CIR)", "steps") from None
        if not 0 < step <= 100:
            raise InputError(f"a CIR step is above 0 % and at most 100 %, got {item!r}", "steps")
        steps.append(step)
    if not steps or steps != sorted(set(steps)):
        raise InputError(
            "steps must rise, without repeats, e.g. [25 %, 50 %, 75 %, 100 %]", "steps"
        )
    return tuple(steps)


@dataclass(frozen=True)
class Step:
    """One step of a service: its id (cir50, eir, policing, performance) and offered rate."""

    id: str
    offered: float
    kind: str  # "cir", "eir", "policing", "performance"


def configuration_steps(service: Service, steps: tuple[float, ...]) -> list[Step]:
    """The service configuration test's steps for `service`, in the order they run."""
    plan = [Step(f"cir{percent:g}", service.cir * percent / 100.0, "cir") for percent in steps]
    if service.eir > 0:
        plan.append(Step("eir", service.cir + service.eir, "eir"))
    plan.append(Step("policing", service.policing_rate, "policing"))
    return plan


def step_figures(observed: Observed, service: Service) -> dict[str, float]:
    """ir, flr, ftd, fdv of one step (ftd/fdv only when the probe got replies)."""
    counts = frame_counts(observed.measured, service.frame_size)
    figures = {"ir": counts.delivered, "flr": counts.loss, "offered": counts.offered}
    ipv6 = bool(observed.measured.details.get("ipv6", False))
    sent = sent_frame_rate(observed.measured, service.frame_size, ipv6)
    if sent is not None:
        figures["sent"] = sent
    probe = observed.probe.metrics if observed.probe is not None else {}
    if observed.probe is not None:
        # The probe's frames are service frames too (one-way delivery estimated from replies).
        bits = probe_rate(_probe_of(observed), ipv6)
        figures["offered"] += bits
        figures["ir"] += bits * (1 - probe.get("latency.loss", 0.0) / 100.0)
        if "sent" in figures:
            figures["sent"] += bits
    if "latency.mean" in probe:
        figures["ftd"] = probe["latency.mean"]
        # Y.1564's FDV is over delivered frames: when lost probes make the p99 infinite, the
        # largest delivered delay stands in (loss itself is FLR's to judge).
        high = probe["latency.p99"] if math.isfinite(probe["latency.p99"]) else probe["latency.max"]
        figures["fdv"] = high - probe["latency.min"]
    return figures


def _probe_of(observed: Observed) -> Probe:
    """The probe settings a probe measurement ran with (size and interval)."""
    assert observed.probe is not None
    details = observed.probe.details
    return Probe(
        kind="udp",
        interval=float(details.get("interval", PROBE_INTERVAL)),
        size=int(details.get("size", Probe().size)),
    )


def judge(step: Step, service: Service, figures: dict[str, float]) -> list[Check]:
    """The step's checks against the service's acceptance criteria."""
    prefix = f"y1564.{service.name}.{step.id}"
    tolerance = service.ir / 100.0
    checks = []

    def check(name: str, bound: str, ok: bool) -> None:
        measured = figures.get(name)
        note = "" if measured is not None else "not measured (no probe replies)"
        checks.append(
            Check(f"{prefix}.{name}", bound, measured, bool(ok and measured is not None), note=note)
        )

    ir = figures["ir"]
    if step.kind in ("cir", "performance"):
        low = step.offered * (1 - tolerance)
        check("ir", f">= {format_value(low, Kind.RATE)}", ir >= low)
        limits: list[tuple[str, float | None, Kind]] = [
            ("flr", service.flr, Kind.PERCENT),
            ("ftd", service.ftd, Kind.DURATION),
            ("fdv", service.fdv, Kind.DURATION),
        ]
        for name, limit, kind in limits:
            value = figures.get(name)
            if limit is not None:
                ok = value is not None and value <= limit
                check(name, f"<= {format_value(limit, kind)}", ok)
    else:
        # EIR and policing: frames above CIR may be dropped; the delivered rate must keep CIR
        # and never exceed CIR + EIR (within the IR tolerance).
        low, high = service.cir * (1 - tolerance), (service.cir + service.eir) * (1 + tolerance)
        bound = f"{format_value(low, Kind.RATE)} .. {format_value(high, Kind.RATE)}"
        check("ir", bound, low <= ir <= high)
    return checks


def probe_rate(probe: Probe, ipv6: bool = False) -> float:
    """Frame bit/s the service's delay probe adds to its class (its frames count as service's)."""
    return (probe.size + overhead(ipv6)) * 8.0 / probe.interval


def _flow(service: Service, rate: float, seconds: float, ipv6: bool) -> Flow:
    probe = Probe(kind="udp", interval=PROBE_INTERVAL, duration=seconds, dscp=service.dscp)
    # The probe rides in the service's class: the flow offers the rest, so together they
    # offer the step's rate (else a step at CIR would overload a policer by the probe's share).
    rest = max(rate - probe_rate(probe, ipv6), rate * 0.5)
    return frame_flow(
        rest,
        service.frame_size,
        seconds,
        ipv6=ipv6,
        dscp=service.dscp,
        probe=probe,
        name=service.name,
    )


def run(spec: Y1564, trial: Trial, *, ipv6: bool = False, mtu: int | None = None) -> MethodResult:
    """Both tests; metrics y1564.SERVICE.STEP.{ir,flr,ftd,fdv}, a check per criterion."""
    check_mtu([service.frame_size for service in spec.services], mtu)
    result = MethodResult("y1564")
    rows: list[dict[str, Any]] = []

    def record(service: Service, step: Step, observed: Observed) -> None:
        figures = step_figures(observed, service)
        checks = judge(step, service, figures)
        limited = short_of(figures.get("sent"), step.offered, service.ir / 100.0)
        for name in ("ir", "flr", "ftd", "fdv"):
            if name in figures:
                result.metrics[f"y1564.{service.name}.{step.id}.{name}"] = figures[name]
        result.checks.extend(checks)
        rows.append(
            {
                "service": service.name,
                "step": step.id,
                "rate": step.offered,
                "offered": figures["offered"],
                **{name: figures.get(name) for name in ("ir", "flr", "ftd", "fdv")},
                "passed": all(check.passed for check in checks) and not limited,
                **({"sent": figures["sent"]} if "sent" in figures else {}),
                **({"limited": True} if limited else {}),
            }
        )

    for service in spec.services:
        for step in configuration_steps(service, spec.steps):
            record(service, step, trial([_flow(service, step.offered, spec.trial, ipv6)])[0])
    if spec.performance > 0:
        flows = [_flow(s, s.cir, spec.performance, ipv6) for s in spec.services]
        for service, observed in zip(spec.services, trial(flows), strict=True):
            record(service, Step("performance", service.cir, "performance"), observed)
    result.details = {
        "method": "y1564",
        "steps": rows,
        "verdicts": {service.name: _verdict(service.name, rows) for service in spec.services},
        "services": {
            s.name: {
                "cir": s.cir,
                "eir": s.eir,
                "dscp": s.dscp,
                "frame_size": s.frame_size,
                "flr": s.flr,
                "ftd": s.ftd,
                "fdv": s.fdv,
                "ir": s.ir,
                "policing_rate": s.policing_rate,
            }
            for s in spec.services
        },
        "trial": spec.trial,
        "performance": spec.performance,
    }
    return result


def _verdict(service: str, rows: list[dict[str, Any]]) -> str:
    """A service's verdict over its steps: 'pass', 'FAIL', or 'limited (sender)'."""
    own = [row for row in rows if row["service"] == service]
    if any(row.get("limited") for row in own):
        return "limited (sender)"
    return "pass" if all(row["passed"] for row in own) else "FAIL"


def limit_error(details: Mapping[str, Any]) -> str:
    """Why a Y.1564 result cannot be judged ('' when it can): steps whose sender fell short of
    the step's rate beyond the service's IR tolerance test the path at a rate never offered."""
    limited = [row for row in details.get("steps", []) if row.get("limited")]
    if not limited:
        return ""
    steps = ", ".join(
        f"{row['service']} {row['step']} (sent {format_value(row['sent'], Kind.RATE)} of "
        f"{format_value(row['rate'], Kind.RATE)})"
        for row in limited
    )
    return (
        f"Y.1564: the sender fell short of the step's rate beyond the IR tolerance at {steps}: "
        "those steps never offered their rate, so their verdicts say nothing of the path; lower "
        "the service's cir/eir below what the sender can send, or use a faster sender"
    )
