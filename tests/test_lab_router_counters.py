"""The router's view without root: tc output captured on this machine (iproute2 6.1), parsed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.hosts.endpoints import Completed
from pytest_qos.judge.bounds import parse_expectations
from pytest_qos.judge.metrics import format_metric, lookup
from pytest_qos.lab.counters import (
    Counters,
    Entry,
    RouterView,
    Snapshot,
    delta,
    metrics,
    parse_class_text,
    parse_classes,
    parse_name,
    parse_qdisc_json,
    table,
)
from pytest_qos.scenario.reader import parse_scenario
from pytest_qos.units import Kind

DATA = Path(__file__).parent / "data" / "tc"


def _text(name: str) -> str:
    return (DATA / name).read_text()


def test_htb_classes_from_captured_text() -> None:
    entries = parse_class_text(_text("htb_class_loaded_wan.txt"), "WAN")
    by_id = {entry.id: entry for entry in entries}
    assert sorted(by_id) == ["1:1", "1:10", "1:20"]
    assert by_id["1:1"].parent == "root" and by_id["1:1"].kind == "htb"
    assert by_id["1:20"].parent == "1:1"
    bulk = by_id["1:20"].counters
    assert bulk.bytes == by_id["1:1"].counters.bytes > 1_000_000
    assert bulk.packets > 1000 and bulk.overlimits > 0
    assert by_id["1:10"].counters == Counters()


def test_tbf_class_and_qdiscs_from_captured_output() -> None:
    (tbf,) = parse_class_text(_text("tbf_class_wan.txt"), "WAN")
    assert (tbf.id, tbf.kind, tbf.parent, tbf.counters) == ("1:1", "tbf", "1:", Counters())
    qdiscs = parse_qdisc_json(json.loads(_text("htb_qdisc_loaded_wan.json")), "WAN")
    assert [(q.id, q.kind, q.parent) for q in qdiscs] == [
        ("1:", "htb", "root"),
        ("10:", "bfifo", "1:10"),
        ("20:", "bfifo", "1:20"),
    ]
    assert qdiscs[0].counters.bytes == qdiscs[2].counters.bytes > 1_000_000


def test_backlog_in_kilobytes_and_a_json_class_listing() -> None:
    text = (
        "class htb 1:20 parent 1:1 leaf 20: prio 1 rate 18Mbit ceil 20Mbit burst 1597b\n"
        " Sent 900 bytes 9 pkt (dropped 2, overlimits 5 requeues 1) \n"
        " backlog 15Kb 10p requeues 1\n"
    )
    (entry,) = parse_classes(text, "LAN")
    assert entry.counters == Counters(900, 9, 2, 5, 1, 15 * 1024)
    newer = '[{"class":"htb","handle":"1:20","parent":"1:1","stats":{"bytes":5,"packets":1}}]'
    (parsed,) = parse_classes(newer, "LAN")
    assert (parsed.id, parsed.kind, parsed.counters.bytes, parsed.counters.packets) == (
        "1:20",
        "htb",
        5,
        1,
    )


counts = st.integers(0, 2**40)


@given(st.lists(st.tuples(st.integers(1, 0xFFFF), counts, counts, counts, counts), max_size=8))
def test_class_text_round_trips(classes: list[tuple[int, int, int, int, int]]) -> None:
    blocks = []
    for minor, size, packets, drops, overlimits in classes:
        blocks.append(
            f"class htb 1:{minor:x} parent 1:1 prio 0 rate 1Mbit ceil 2Mbit burst 1600b\n"
            f" Sent {size} bytes {packets} pkt (dropped {drops}, overlimits {overlimits} "
            "requeues 0) \n backlog 0b 0p requeues 0\n lended: 0 borrowed: 0 giants: 0\n"
        )
    parsed = parse_class_text("\n".join(blocks), "WAN")
    assert [(e.id, e.counters.bytes, e.counters.packets, e.counters.drops) for e in parsed] == [
        (f"1:{minor:x}", size, packets, drops) for minor, size, packets, drops, _ in classes
    ]


@given(st.tuples(counts, counts), st.tuples(counts, counts))
def test_delta_is_the_change_or_the_whole_count_after_a_reset(
    before: tuple[int, int], after: tuple[int, int]
) -> None:
    changed = Counters(bytes=after[0], backlog=after[1]).minus(
        Counters(bytes=before[0], backlog=before[1])
    )
    assert changed.bytes == (after[0] - before[0] if after[0] >= before[0] else after[0])
    assert changed.backlog == after[1]  # a level, not a count


def _snapshot(*entries: Entry) -> Snapshot:
    return {(e.side, e.object, e.id): e for e in entries}


BEFORE = _snapshot(
    Entry("LAN", "class", "1:20", "htb", "1:1", Counters(bytes=100, drops=1)),
    Entry("WAN", "class", "1:20", "htb", "1:1", Counters(bytes=1000)),
    Entry("WAN", "qdisc", "1:", "htb", "root", Counters(bytes=1000)),
)
AFTER = _snapshot(
    Entry("LAN", "class", "1:20", "htb", "1:1", Counters(bytes=300, drops=4)),
    Entry("WAN", "class", "1:20", "htb", "1:1", Counters(bytes=6000, backlog=1514)),
    Entry("WAN", "class", "1:10", "htb", "1:1", Counters(bytes=50)),
    Entry("WAN", "qdisc", "1:", "htb", "root", Counters(bytes=6050)),
)


def test_metrics_per_interface_and_summed() -> None:
    values = metrics(delta(BEFORE, AFTER))
    assert values["router.LAN.class.1:20.bytes"] == 200
    assert values["router.WAN.class.1:20.bytes"] == 5000
    assert values["router.class.1:20.bytes"] == 5200
    assert values["router.class.1:20.drops"] == 3
    assert values["router.class.1:20.backlog"] == 1514
    assert values["router.WAN.class.1:10.bytes"] == 50  # new since the start: all of it
    assert values["router.qdisc.1:.bytes"] == 5050


def test_wanted_metrics_only_and_an_unknown_class_lists_those_that_exist() -> None:
    changes = delta(BEFORE, AFTER)
    assert metrics(changes, ["router.WAN.qdisc.1:.bytes"]) == {"router.WAN.qdisc.1:.bytes": 5050}
    with pytest.raises(InputError) as caught:
        metrics(changes, ["router.class.1:30.drops"])
    assert caught.value.key == "router.class.1:30.drops"
    assert caught.value.message == (
        "the router has no class 1:30 on LAN or WAN "
        "(classes that exist — LAN: 1:20; WAN: 1:10, 1:20)"
    )
    with pytest.raises(InputError, match="no class 1:10 on LAN"):
        metrics(changes, ["router.LAN.class.1:10.bytes"])
    with pytest.raises(InputError, match=r"no qdisc 2: on LAN or WAN \(qdiscs that exist"):
        metrics(changes, ["router.qdisc.2:.drops"])


def test_table_lists_every_object_by_interface() -> None:
    lines = table(delta(BEFORE, AFTER)).splitlines()
    assert lines[0].split() == [
        "if", "object", "kind", "parent", "bytes", "packets", "drops", "overlimits",
        "requeues", "backlog",
    ]  # fmt: skip
    assert [line.split()[:3] for line in lines[1:]] == [
        ["LAN", "class", "1:20"],
        ["WAN", "qdisc", "1:"],
        ["WAN", "class", "1:10"],
        ["WAN", "class", "1:20"],
    ]
    assert lines[-1].split()[-6:] == ["5000", "0", "0", "0", "0", "1514"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("router.class.bytes", "is not a router counter; write router.[whole.][LAN.|WAN.]"),
        ("router.DMZ.class.1:20.bytes", "'DMZ' is not an interface of the router"),
        ("router.filter.1:20.bytes", "'filter' is not qdisc or class"),
        ("router.class.1:20.byte", "unknown counter 'byte'"),
    ],
)
def test_bad_router_metric_names_say_what_is_right(name: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_name(name)


def test_router_metrics_have_units_for_bounds() -> None:
    assert lookup("router.class.1:20.bytes").kind is Kind.SIZE
    assert lookup("router.wan.qdisc.1:.drops").kind is Kind.COUNT
    assert "summed over LAN and WAN" in lookup("router.class.1:20.bytes").definition
    bounds = parse_expectations({"router.class.1:20.bytes": "> 1 MB"})
    assert bounds["router.class.1:20.bytes"].limit == 1e6
    assert format_metric("router.qdisc.1:.drops", 3.0) == "3"


def test_router_bounds_need_a_lab() -> None:
    text = (
        "tests:\n  t:\n    probe: {kind: udp}\n    expect:\n"
        "      router.class.1:20.bytes: '> 1 MB'\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, Path("x.qos.yaml"))
    assert (caught.value.line, caught.value.key) == (5, "tests.t.expect.router.class.1:20.bytes")
    assert "counter of the lab router; this file has no 'lab:'" in caught.value.message
    with_lab = parse_scenario("lab: {}\n" + text, Path("x.qos.yaml"))
    assert "router.class.1:20.bytes" in with_lab.tests[0].expect


def test_bad_router_name_in_a_scenario_points_at_its_line() -> None:
    text = (
        "lab: {}\ntests:\n  t:\n    probe: {kind: udp}\n    expect:\n"
        "      router.class.1:20.byts: '> 1'\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, Path("x.qos.yaml"))
    assert caught.value.line == 6
    assert "unknown counter 'byts'" in caught.value.message


class _FakeRouter:
    """Answers tc the way iproute2 6.1 does, from the captured files."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv: list[str], timeout: float) -> Completed:
        self.calls.append(argv)
        if "qdisc" in argv:
            out = _text("htb_qdisc_loaded_wan.json")
        elif "class" in argv:
            out = _text("htb_class_loaded_wan.txt")
        else:
            out = _text("htb_filter_wan.txt")
        return Completed(argv, 0, out, "")


def test_router_view_snapshot_measurement_and_filters() -> None:
    router = _FakeRouter()
    view = RouterView(router, {"WAN": "wan"}, wan="netem (kernel): 20 ms each way")
    snapshot = view.snapshot()
    assert ("WAN", "class", "1:20") in snapshot and ("WAN", "qdisc", "20:") in snapshot
    assert router.calls[:2] == [
        ["tc", "-s", "-j", "qdisc", "show", "dev", "wan"],
        ["tc", "-s", "class", "show", "dev", "wan"],
    ]
    assert set(view.delta(snapshot, snapshot).values()) == {0.0}
    measured = view.measurement({}, snapshot, ["router.class.1:20.packets", "throughput"])
    assert list(measured.metrics) == ["router.class.1:20.packets"]
    assert measured.details["wan"] == "netem (kernel): 20 ms each way"
    assert measured.details["router_deltas"][0]["interface"] == "WAN"
    assert "class 1:20" in measured.details["router_table"]
    assert view.filters().startswith("WAN (wan):\nfilter parent 1: protocol ip")
