"""The diagnosis without root: its rules on evidence shaped as real measurements carry it, the
mesh pattern, the words, the JSON, and the reports that show it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_qos.diagnose import Diagnosis
from pytest_qos.diagnose.evidence import Evidence, Path, gather, router_counters
from pytest_qos.diagnose.finding import (
    DELAY,
    DIRECTION,
    LOCATING,
    LOSS,
    MARKING,
    MESH,
    NOT_MEASURED,
    PATH,
    PATH_CHANGE,
    QUEUE,
    Finding,
)
from pytest_qos.diagnose.mesh import annotate, mesh_findings
from pytest_qos.diagnose.step import path_change, statements
from pytest_qos.diagnose.text import path_table, sentence
from pytest_qos.errors import InputError
from pytest_qos.report import diagnosis as report
from pytest_qos.report import matrix
from pytest_qos.report.markdown import escape
from pytest_qos.report.terminal import failure
from pytest_qos.results import Check, Measurement, QosResult

NAMES = ("edge", "core", "far", "server")
ADDRESSES = ("198.18.1.1", "198.18.2.2", "198.18.3.2", "198.18.4.2")


def hop_row(hop: int, rtt: float, dscp: int | None = 46, received: int = 4) -> dict[str, Any]:
    """A path row as probes/path.py writes it."""
    return {
        "hop": hop,
        "address": ADDRESSES[hop - 1],
        "name": NAMES[hop - 1],
        "sent": 4,
        "received": received,
        "rtt_p50": rtt,
        "rtt_min": rtt,
        "dscp": dscp,
    }


def hops(rows: list[dict[str, Any]], dscp: int | None = 46, **extra: Any) -> Measurement:
    """A probe:hops measurement with that path."""
    details = {"path": rows, "destination_hop": len(rows), "dscp": dscp, "host": "198.18.4.2"}
    return Measurement("probe:hops", {}, details={**details, **extra})


def counter(side: str, obj: str, ident: str, kind: str, parent: str = "root", **n: int) -> dict:
    row = {"interface": side, "object": obj, "id": ident, "kind": kind, "parent": parent}
    figures = {"bytes": 0, "packets": 0, "drops": 0, "overlimits": 0, "requeues": 0, "backlog": 0}
    return row | figures | n


def router(name: str, index: int, rows: list[dict[str, Any]]) -> Measurement:
    addresses = [ADDRESSES[index - 1], f"198.18.{index + 1}.1"]
    return Measurement(
        "router", {}, details={"router": name, "addresses": addresses, "router_deltas": rows}
    )


IDLE = [hop_row(1, 40e-6), hop_row(2, 50e-6), hop_row(3, 60e-6), hop_row(4, 70e-6)]
TBF = [
    counter("WAN", "qdisc", "1:", "tbf", overlimits=9000),
    counter("WAN", "class", "1:1", "tbf", "1:"),
]
HTB_GOOD = [
    counter("WAN", "qdisc", "1:", "htb", overlimits=700),
    counter("WAN", "class", "1:1", "htb", overlimits=600),
    counter("WAN", "class", "1:20", "htb", "1:1", overlimits=500),
    counter("WAN", "qdisc", "20:", "bfifo", "1:20", drops=12, backlog=90000),
]


def evidence(
    loaded: list[dict[str, Any]] | None, routers: list[Measurement], **more: Any
) -> Evidence:
    found = Evidence(failed=more.pop("failed", ["latency.p99"]), **more)
    found.idle = Path.of(hops(IDLE))
    found.loaded = Path.of(hops(loaded)) if loaded is not None else None
    found.routers = router_counters(routers)
    return found


def located(findings: list[Finding]) -> dict[str, str]:
    """what → where of the statements that name a place."""
    return {f.what: f.where for f in findings if f.what in LOCATING}


# --- queue, delay, loss, marking, direction ------------------------------------------------


def test_a_queue_in_the_middle_router_names_it_with_its_qdisc_and_nothing_else() -> None:
    loaded = [hop_row(1, 40e-6), hop_row(2, 52e-6), hop_row(3, 0.210), hop_row(4, 0.211, 8)]
    routers = [router("edge", 1, []), router("core", 2, TBF), router("far", 3, [])]
    findings = statements(evidence(loaded, routers, failed=["latency.p99", "dscp.changed"]))
    assert located(findings) == {QUEUE: "core: WAN qdisc 1: (tbf)", MARKING: "far"}
    queue = next(f for f in findings if f.what == QUEUE)
    assert queue.evidence["hop"] == 3 and queue.evidence["end_to_end"] == pytest.approx(0.21093)
    assert queue.evidence["counters"][0]["overlimits"] == 9000
    marking = next(f for f in findings if f.what == MARKING)
    assert (marking.evidence["from"], marking.evidence["to"], marking.evidence["hop"]) == (46, 8, 4)
    assert [f.what for f in findings][-1] == PATH


def test_the_innermost_queued_class_and_its_queue_are_named() -> None:
    loaded = [hop_row(1, 40e-6), hop_row(2, 52e-6), hop_row(3, 0.05), hop_row(4, 0.05)]
    findings = statements(evidence(loaded, [router("edge", 1, []), router("core", 2, HTB_GOOD)]))
    assert located(findings)[QUEUE] == "core: WAN qdisc 20: (bfifo), WAN class 1:20 (htb)"


def test_a_queue_on_the_way_back_is_the_hop_that_answers_slowly() -> None:
    # Hop 3's own answers wait in far's LAN queue (a download queue): its counters say so.
    loaded = [hop_row(1, 40e-6), hop_row(2, 52e-6), hop_row(3, 0.2), hop_row(4, 0.2)]
    far = router("far", 3, [counter("LAN", "qdisc", "1:", "tbf", backlog=60000)])
    findings = statements(evidence(loaded, [router("core", 2, []), far]))
    assert located(findings)[QUEUE] == "far: LAN qdisc 1: (tbf)"


def test_without_counters_the_one_way_split_picks_the_router_else_the_stretch_is_named() -> None:
    loaded = [hop_row(1, 40e-6), hop_row(2, 52e-6), hop_row(3, 0.2), hop_row(4, 0.2)]
    up = {"latency.up.min": 0.0001, "latency.up.p99": 0.3}
    up |= {"latency.down.min": 0.0001, "latency.down.p99": 0.0002}
    found = statements(evidence(loaded, [router("core", 2, [])], one_way=up))
    assert located(found)[QUEUE].startswith("core (the delay is up (client → server)")
    assert any(f.what == DIRECTION and f.where.startswith("up") for f in found)
    alone = statements(evidence(loaded, []))
    assert located(alone)[QUEUE] == ("between hop 2 (core, 198.18.2.2) and hop 3 (far, 198.18.3.2)")
    assert any(f.what == NOT_MEASURED and f.evidence["what"] == "router counters" for f in alone)


def test_a_router_that_only_dropped_is_named_for_its_loss() -> None:
    policer = [counter("WAN", "qdisc", "1:", "tbf", drops=340)]
    found = statements(
        Evidence(failed=["loss"], routers=router_counters([router("core", 2, policer)]))
    )
    (loss,) = [f for f in found if f.what in LOCATING]
    assert (loss.what, loss.where) == (LOSS, "core: WAN qdisc 1: (tbf)")
    assert sentence(loss.to_json()) == (
        "loss at core: WAN qdisc 1: (tbf) — counters: WAN qdisc 1: dropped 340 packets"
    )


def test_a_small_rise_locates_nothing() -> None:
    loaded = [hop_row(1, 45e-6), hop_row(2, 60e-6), hop_row(3, 80e-6), hop_row(4, 300e-6)]
    assert located(statements(evidence(loaded, [router("core", 2, [])]))) == {}


def test_idle_delay_is_located_where_the_rtt_steps_up() -> None:
    path = [hop_row(1, 40e-6), hop_row(2, 50e-6), hop_row(3, 0.030), hop_row(4, 0.03001)]
    found = Evidence(failed=["latency.p50"], idle=Path.of(hops(path)))
    delay = next(f for f in statements(found) if f.what == DELAY)
    assert delay.where == "between hop 2 (core, 198.18.2.2) and hop 3 (far, 198.18.3.2)"
    assert delay.evidence["rise"] == pytest.approx(0.02995)


def test_loss_that_persists_from_a_hop_to_the_destination() -> None:
    path = [hop_row(1, 4e-5), hop_row(2, 5e-5, received=4), hop_row(3, 6e-5, received=3)]
    path.append(hop_row(4, 7e-5, received=2))
    found = Evidence(failed=["latency.loss"], idle=Path.of(hops(path)))
    loss = next(f for f in statements(found) if f.what == LOSS)
    assert loss.where == "between hop 2 (core, 198.18.2.2) and hop 3 (far, 198.18.3.2)"
    assert loss.evidence["losses"]["4"] == 50.0
    # Loss at one hop only (its ICMP rate limit, say) that the destination does not share.
    path[2], path[3] = hop_row(3, 6e-5, received=2), hop_row(4, 7e-5)
    quiet = Evidence(failed=["latency.loss"], idle=Path.of(hops(path)))
    assert not [f for f in statements(quiet) if f.what == LOSS]


def test_marking_without_per_hop_dscp_says_what_was_not_measured() -> None:
    why = "IPv4 hop DSCP needs the quoted IP header, which only a raw ICMP socket can read"
    path = [hop_row(h, 5e-5, dscp=None) for h in (1, 2, 3, 4)]
    found = Evidence(failed=["dscp.changed"], far_dscp=(46, 8))
    found.idle = Path.of(hops(path, dscp_unavailable=why))
    findings = statements(found)
    marking = next(f for f in findings if f.what == MARKING)
    assert marking.where == "between the client and the far end"
    assert any(f.what == NOT_MEASURED and f.evidence["why"] == why for f in findings)
    assert "the hop was not located" in sentence(marking.to_json())


def test_direction_of_loss_from_the_per_direction_counts() -> None:
    found = Evidence(
        failed=["latency.loss"], one_way={"latency.up.loss": 20.0, "latency.down.loss": 0.0}
    )
    (finding,) = [f for f in statements(found) if f.what == DIRECTION]
    assert finding.where == "up (client → server)" and finding.evidence["of"] == "loss"


def test_evidence_from_a_failed_results_own_measurements() -> None:
    probe = Measurement(
        "probe:udp",
        {"latency.up.p99": 0.3, "latency.up.min": 0.1, "dscp.received": 8.0},
        details={"dscp": 46},
    )
    result = QosResult(
        "t", [probe, router("core", 2, TBF)], [Check("latency.p99", "<= 1 ms", 0.3, False)]
    )
    found = gather(result)
    assert found.failed == ["latency.p99"] and found.far_dscp == (46, 8)
    assert found.one_way == {"latency.up.p99": 0.3, "latency.up.min": 0.1}
    assert [r.name for r in found.routers] == ["core"]


# --- path change, mesh ---------------------------------------------------------------------


def test_path_change_against_the_baseline() -> None:
    stored = QosResult("t", [hops(IDLE)])
    moved = [*IDLE[:2], {**IDLE[2], "address": "198.18.9.2"}, IDLE[3]]
    (change,) = path_change(Path.of(hops(moved)), stored)
    assert change.what == PATH_CHANGE
    assert sentence(change.to_json()) == "path changed: hop 3 was 198.18.3.2, now 198.18.9.2"
    assert path_change(Path.of(hops(IDLE)), stored) == []
    # A baseline that probed only for its diagnosis keeps the path there.
    diagnosed = QosResult("t", diagnosis=[{"what": PATH, "where": "", "evidence": {"hops": IDLE}}])
    assert path_change(Path.of(hops(moved)), diagnosed)[0].evidence["was"] == "198.18.3.2"


def pair(a: str, b: str, passed: bool) -> QosResult:
    check = Check("latency.loss", "<= 1 %", 0.0 if passed else 30.0, passed)
    return QosResult(f"m.yaml::voice[{a}->{b}]", checks=[check])


def mesh(failing: set[tuple[str, str]]) -> list[QosResult]:
    sites = ("site1", "site2", "site3")
    return [pair(a, b, (a, b) not in failing) for a in sites for b in sites if a != b]


def test_the_site_common_to_every_failing_pair_is_named() -> None:
    bad = {("site1", "site2"), ("site2", "site1"), ("site2", "site3"), ("site3", "site2")}
    results = mesh(bad)
    found = mesh_findings(results)
    assert len(found) == 4
    (statement,) = found["m.yaml::voice[site1->site2]"]
    assert (statement.what, statement.where) == (MESH, "site2")
    assert statement.evidence["without"] == ["site1→site3", "site3→site1"]
    text = sentence(statement.to_json())
    assert text.startswith("all 4 failing pairs involve site2") and "its other pairs: none" in text
    annotate(results)
    annotate(results)  # again: still one statement each
    assert [len(r.diagnosis) for r in results if not r.passed] == [1, 1, 1, 1]
    grid = matrix.render_terminal(results)
    assert "site2 ⚑" in grid and "⚑ site2: in every failing pair" in grid


def test_no_host_common_to_the_failing_pairs_names_none() -> None:
    results = mesh({("site1", "site2"), ("site3", "site1")})
    assert {f.where for fs in mesh_findings(results).values() for f in fs} == {"site1"}
    results = mesh({("site1", "site2"), ("site3", "site2"), ("site1", "site3")})
    found = mesh_findings(results)
    assert len(found) == 3 and all(statements == [] for statements in found.values())


# --- words, JSON, reports -------------------------------------------------------------------


def diagnosed() -> QosResult:
    loaded = [hop_row(1, 40e-6), hop_row(2, 52e-6), hop_row(3, 0.210), hop_row(4, 0.211, 8)]
    routers = [router("core", 2, TBF)]
    found = statements(evidence(loaded, routers, failed=["latency.p99"]))
    result = QosResult(
        "chain.yaml::voice", routers, [Check("latency.p99", "<= 15 ms", 0.21, False)]
    )
    result.diagnosis, result.diagnosis_time = [f.to_json() for f in found], 7.94
    return result


def test_sentences_name_the_numbers() -> None:
    said = report.render_failure(diagnosed())
    assert said.startswith("diagnosis (per-hop probing took 7.9 s):")
    assert "queue at core: WAN qdisc 1: (tbf) — the RTT (p50) rose 210 ms by hop 3" in said
    assert "core WAN qdisc 1: held packets back 9000 times" in said
    assert "DSCP changed EF (46) → CS1 (8) at far: hop 3 (far, 198.18.3.2) received EF (46)" in said
    assert "hop loss is not path loss" in said
    _caption, rows = path_table(diagnosed().diagnosis) or ("", [])
    assert rows[2] == ["3", "198.18.3.2", "far", "0 %", "60 µs", "210 ms", "EF (46)"]


def test_every_report_carries_the_diagnosis() -> None:
    result = diagnosed()
    assert "diagnosis (per-hop probing took 7.9 s):" in failure(result)
    assert report.render_text([result]).startswith(
        "chain.yaml::voice  (per-hop probing took 7.9 s)"
    )
    markdown = report.render_markdown([result], escape)
    assert markdown.startswith("### QoS diagnosis") and "- queue at core" in markdown
    html = report.render_html(result)
    assert '<ul class="qos-diagnosis">' in html and "<td>CS1 (8)</td>" in html
    back = QosResult.from_json(result.to_json())
    assert back.diagnosis == result.diagnosis and back.diagnosis_time == 7.94
    assert {"what", "where", "evidence"} == set(result.to_json()["diagnosis"][0])
    assert "diagnosis" not in QosResult("quiet").to_json()


def test_when_is_checked() -> None:
    with pytest.raises(InputError, match="'sometimes' is not one of failed, always, never"):
        Diagnosis(when="sometimes")


FAILING_ON_LOOPBACK = """\
tests:
  too-fast:
    probe: {kind: udp, interval: 10 ms, count: 10}
    expect: {latency.p99: "<= 1 ns"}
"""


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ([], "not measured: the path hop by hop (loopback: it has no hops)"),
        (["--qos-diagnose=never"], "not measured: the path hop by hop (--qos-diagnose=never)"),
    ],
)
def test_a_failed_test_on_loopback_says_what_it_could_not_measure(
    pytester: pytest.Pytester, option: list[str], said: str
) -> None:
    (pytester.path / "fast.qos.yaml").write_text(FAILING_ON_LOOPBACK)
    result = pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider", *option)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["diagnosis:", f"  - {said}", "*= QoS diagnosis =*"])
    result.stdout.fnmatch_lines(["*not measured: router counters (this path crosses no router*"])


def test_an_unknown_when_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--qos", "--qos-diagnose=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--qos-diagnose: invalid choice: 'sometimes'*"])


def test_a_path_that_changed_since_the_baseline_is_said(pytester: pytest.Pytester) -> None:
    """Saved, then one hop's address edited in the baseline: the next run says it moved."""
    (pytester.path / "path.qos.yaml").write_text(
        "tests:\n  path:\n    probe: {kind: hops, interval: 50 ms, count: 2}\n"
        "    expect: {hops: '== 1'}\n"
    )
    saved = pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider", "--qos-save=before")
    saved.assert_outcomes(passed=1)
    stored = pytester.path / ".qos" / "before.json"
    document = json.loads(stored.read_text())
    (result,) = document["results"]
    (hops_measurement,) = [m for m in result["measurements"] if m["tool"] == "probe:hops"]
    assert hops_measurement["details"]["path"][0]["address"] == "127.0.0.1"
    hops_measurement["details"]["path"][0]["address"] = "127.0.0.9"
    stored.write_text(json.dumps(document))
    compared = pytester.runpytest_subprocess(
        "--qos", "-p", "no:cacheprovider", "--qos-compare=before", "--qos-json=out.json"
    )
    compared.assert_outcomes(passed=1)
    compared.stdout.fnmatch_lines(["*path changed: hop 1 was 127.0.0.9, now 127.0.0.1*"])
    (now,) = json.loads((pytester.path / "out.json").read_text())["results"]
    assert now["diagnosis"] == [
        {
            "what": "path change",
            "where": "hop 1",
            "evidence": {"hop": 1, "was": "127.0.0.9", "now": "127.0.0.1"},
        }
    ]
