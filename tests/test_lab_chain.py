"""A line of routers in the lab: `lab: {routers: [...]}`, its address plan, its bad input, and
(as root) the chain itself: routed hop by hop, each router's config and counters its own."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pytest_qos.errors import InputError, QosError, ScenarioError
from pytest_qos.judge.bounds import parse_expectations
from pytest_qos.lab.counters import ANY_ROUTER, parse_name
from pytest_qos.lab.plan import AddressPlan
from pytest_qos.lab.routerlab import Lab, lab_namespaces, lab_unavailable_reason
from pytest_qos.lab.spec import RouterSpec, replace_configs, router_overrides
from pytest_qos.lab.wan import parse_wan
from pytest_qos.scenario.reader import load_scenario

UNAVAILABLE = lab_unavailable_reason()
needs_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")
PROBE_TEST = "tests:\n  t:\n    probe: {kind: udp}\n"


def config(directory: Path, name: str, body: str = "true\n") -> Path:
    """An executable router config."""
    path = directory / name
    path.write_text(f"#!/bin/sh\nset -eu\n{body}")
    path.chmod(0o755)
    return path


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    for name in ("edge.sh", "core.sh", "far.sh"):
        config(tmp_path, name)
    return tmp_path


# --- the address plan ---------------------------------------------------------------------


def test_one_router_keeps_the_addresses_it_always_had() -> None:
    plan = AddressPlan(1)
    ends = plan.ends
    assert (ends.client, ends.router_lan, ends.router_wan, ends.server) == (
        "198.18.1.2",
        "198.18.1.1",
        "198.18.2.1",
        "198.18.2.2",
    )
    assert (ends.client6, ends.server6) == ("2001:2:0:1::2", "2001:2:0:2::2")
    assert plan.routes(1) == []  # both its links are its own


def test_three_routers_link_by_link() -> None:
    plan = AddressPlan(3)
    addresses = [(plan.router(i).lan, plan.router(i).wan) for i in (1, 2, 3)]
    assert addresses == [
        ("198.18.1.1", "198.18.2.1"),
        ("198.18.2.2", "198.18.3.1"),
        ("198.18.3.2", "198.18.4.1"),
    ]
    assert plan.ends.server == "198.18.4.2" and plan.ends.server6 == "2001:2:0:4::2"
    # The middle router reaches the client's link back through the first, the server's
    # link on through the last.
    assert plan.routes(2) == [
        "route add 198.18.1.0/24 via 198.18.2.1",
        "route add 2001:2:0:1::/64 via 2001:2:0:2::1",
        "route add 198.18.4.0/24 via 198.18.3.2",
        "route add 2001:2:0:4::/64 via 2001:2:0:3::2",
    ]
    names = plan.hop_names(("edge", "core", "far"))
    assert names["198.18.2.2"] == "core" and names["198.18.4.2"] == "server"
    everything = [a for i in (1, 2, 3) for a in plan.router(i).all] + [plan.ends.server]
    assert all(a.startswith(("198.18.", "2001:2:0:")) for a in everything)


# --- reading `lab: {routers: ...}` ---------------------------------------------------------


def test_routers_are_named_after_their_stems_or_given_names(configs: Path) -> None:
    path = configs / "chain.yaml"
    path.write_text(
        "lab:\n  routers: [edge.sh, {name: core, config: core.sh}, {name: tap}, far.sh]\n"
        "  wan: {after: core, delay: 5 ms}\n"
        "  ip: both\n" + PROBE_TEST
    )
    lab = load_scenario(path).lab
    assert lab is not None
    assert lab.router_names == ("edge", "core", "tap", "far")
    assert lab.routers[1].config == (configs / "core.sh").resolve()
    assert lab.routers[2].config is None  # a plain forwarding router
    assert lab.wan_after == "core" and lab.wan is not None and lab.wan.up.delay == 0.005
    assert lab.hops == 5 and lab.families == (4, 6)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (
            "lab:\n  routers: [edge.sh]\n" + PROBE_TEST,
            2,
            "lab.routers",
            "a line of routers needs 2 or more; with 1 write 'router: CONFIG'",
        ),
        (
            "lab:\n  routers:\n    - edge.sh\n    - {name: edge, config: core.sh}\n" + PROBE_TEST,
            4,
            "lab.routers.1",
            "router name 'edge' is taken by routers[0]",
        ),
        (
            "lab:\n  routers:\n    - edge.sh\n    - missing.sh\n" + PROBE_TEST,
            4,
            "lab.routers.1",
            "router config 'missing.sh' does not exist",
        ),
        (
            "lab:\n  routers:\n    - edge.sh\n    - {name: core, config: nope.sh}\n" + PROBE_TEST,
            4,
            "lab.routers.1.config",
            "router config 'nope.sh' does not exist",
        ),
        (
            "lab:\n  routers: [edge.sh, core.sh]\n  wan:\n    after: cor\n" + PROBE_TEST,
            4,
            "lab.wan.after",
            "after 'cor' names no router of this lab — did you mean 'core'? (routers: edge, core)",
        ),
        (
            "lab:\n  router: edge.sh\n  wan: {after: edge, delay: 5 ms}\n" + PROBE_TEST,
            3,
            "lab.wan.after",
            "with one router the hop is always between it and the server",
        ),
        (
            "lab:\n  routers: [edge.sh, core.sh]\n  wan: {aftr: core}\n" + PROBE_TEST,
            3,
            "lab.wan.aftr",
            "(known: after, ",
        ),
        (
            "lab:\n  routers: [edge.sh, core.sh]\n"
            "tests:\n  t:\n    probe: {kind: hops}\n    expect:\n      hop.4.dscp: '== EF'\n",
            7,
            "tests.t.expect.hop.4.dscp",
            "hop 4 does not exist: the lab path has 3 hops (1 edge, 2 core, 3 the server)",
        ),
        (
            "lab:\n  router: edge.sh\n"
            "tests:\n  t:\n    probe: {kind: hops}\n    expect:\n"
            "      hop.3.latency.p50: '< 1 ms'\n",
            7,
            "tests.t.expect.hop.3.latency.p50",
            "hop 3 does not exist: the lab path has 2 hops (1 router, 2 the server)",
        ),
        (
            "lab:\n  routers: [edge.sh, core.sh]\n"
            "tests:\n  t:\n    probe: {kind: udp}\n    expect:\n"
            "      router.cor.class.1:20.drops: '== 0'\n",
            7,
            "tests.t.expect.router.cor.class.1:20.drops",
            "no router 'cor' in this lab — did you mean 'core'? (routers: edge, core)",
        ),
        (
            "lab:\n  routers: [edge.sh, core.sh]\n"
            "tests:\n  t:\n    probe: {kind: udp}\n    expect:\n"
            "      router.class.1:20.drops: '== 0'\n",
            7,
            "tests.t.expect.router.class.1:20.drops",
            "this lab has 2 routers (edge, core); say whose counter, e.g. "
            "'router.edge.class.1:20.drops'",
        ),
        (
            "lab:\n  routers: [edge.sh, {name: WAN, config: core.sh}]\n" + PROBE_TEST,
            2,
            "lab.routers.1.name",
            "is a word of the router metrics' names",
        ),
        (
            "lab:\n  router: edge.sh\n  routers: [edge.sh, core.sh]\n" + PROBE_TEST,
            3,
            "lab.routers",
            "give 'router:' (one router) or 'routers:' (a line of them), not both",
        ),
    ],
    ids=[
        "one-router-list",
        "duplicate-names",
        "missing-config",
        "missing-named-config",
        "wan-after-no-router",
        "wan-after-one-router",
        "wan-unknown-key",
        "hop-beyond-the-chain",
        "hop-beyond-one-router",
        "router-bound-unknown-router",
        "router-bound-without-router",
        "reserved-router-name",
        "router-and-routers",
    ],
)
def test_bad_chains_are_one_line_with_file_line_and_key(
    configs: Path, text: str, line: int, key: str, message: str
) -> None:
    path = configs / "chain.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert (error.line, error.key) == (line, key), str(error)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: {key}: ")
    assert "\n" not in str(error)


def test_router_counter_names_in_a_chain() -> None:
    core = parse_name("router.core.WAN.class.1:20.drops", ("edge", "core"))
    assert (core.router, core.side, core.object, core.id) == ("core", "WAN", "class", "1:20")
    summed = parse_name("router.core.qdisc.1:.backlog", ("edge", "core"))
    assert (summed.router, summed.side) == ("core", None)
    # Read before the lab is known, a name in front is taken for a router's.
    assert parse_name("router.far.class.1:10.bytes", ANY_ROUTER).router == "far"
    # A one-router lab's names keep their meaning and their errors.
    assert parse_name("router.WAN.class.1:20.bytes").side == "WAN"
    with pytest.raises(InputError, match="'DMZ' is not an interface of the router"):
        parse_name("router.DMZ.class.1:20.bytes")
    bounds = parse_expectations({"router.core.WAN.class.1:20.drops": "<= 10"})
    assert bounds["router.core.WAN.class.1:20.drops"].limit == 10


# --- the chain itself (root) ------------------------------------------------------------------


@pytest.mark.root
@needs_lab
def test_three_routers_route_hop_by_hop_each_with_its_config(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    seen_by = '"$ROUTER_NAME $ROUTER_INDEX $LAN_ADDR $WAN_ADDR $SERVER_ADDR"'
    body = f'echo {seen_by} >"$SEEN/$ROUTER_NAME"\n'
    os.environ["SEEN"] = str(seen)
    try:
        specs = [
            RouterSpec(name, config(tmp_path, f"{name}.sh", body)) for name in ("edge", "core")
        ]
        specs.append(RouterSpec("far"))  # no config: it only forwards
        with Lab.create(routers=specs) as lab:
            assert len(lab.namespaces) == 5 and lab.router.endswith("-r1")
            assert lab.endpoint("core").name.endswith("-r2")
            client = lab.endpoint("client")
            for address in (lab.addresses.server, lab.addresses.server6):
                ping = client.run(["ping", "-n", "-c", "1", "-W", "2", address], timeout=5)
                assert ping.returncode == 0, ping.stdout + ping.stderr
                assert "ttl=61" in ping.stdout  # three routers took one off each
            target = lab.target()
            assert target.host == "198.18.4.2"
            assert "{client,r1,r2,r3,server}" in target.requires
            assert target.hop_names["198.18.3.2"] == "far"
            assert [view.name for view in target.observers] == ["edge", "core", "far"]  # type: ignore[attr-defined]
    finally:
        del os.environ["SEEN"]
    assert (seen / "edge").read_text().split() == [
        "edge",
        "1",
        "198.18.1.1",
        "198.18.2.1",
        "198.18.4.2",
    ]
    assert (seen / "core").read_text().split()[:4] == ["core", "2", "198.18.2.2", "198.18.3.1"]
    assert not (seen / "far").exists()
    # Only this lab's names: other sessions build and remove labs meanwhile.
    assert not [name for name in lab_namespaces() if name.startswith(f"{lab.id}-")]


@pytest.mark.root
@needs_lab
def test_each_router_counts_its_own_queue_and_the_wan_hop_follows_the_named_one(
    tmp_path: Path,
) -> None:
    shaper = config(
        tmp_path,
        "core.sh",
        'tc qdisc add dev "$WAN" root handle 1: tbf rate 10mbit burst 16k latency 50ms\n',
    )
    specs = [RouterSpec("edge"), RouterSpec("core", shaper), RouterSpec("far")]
    with Lab.create(routers=specs, wan=parse_wan({"rate": "100 Mbit/s"}), wan_after="edge") as lab:
        assert lab.wan_description is not None and lab.wan_description.endswith("after edge")
        views = lab.router_views()
        before = [view.snapshot() for view in views]
        client = lab.endpoint("client")
        client.run(["ping", "-n", "-q", "-c", "20", "-i", "0.01", lab.addresses.server], timeout=10)
        measured = [
            view.measurement(then, view.snapshot(), ["router.core.WAN.qdisc.1:.packets"])
            for view, then in zip(views, before, strict=True)
        ]
        assert measured[1].metrics["router.core.WAN.qdisc.1:.packets"] >= 20
        assert measured[1].details["router"] == "core"
        assert measured[0].metrics == {} and measured[2].metrics == {}
        context = lab.failure_context()
        assert "router core qdiscs after the test" in context
        assert context.count("WAN hop:") == 1
        # The hop sits on edge's WAN link: its server-side veth's peer is core's LAN.
        toward = lab.endpoint("wan").run(["ip", "-o", "link", "show", "toserver"], timeout=5)
        core_lan = lab.endpoint("core").run(["ip", "-o", "link", "show", "lan"], timeout=5)
        peer = re.search(r"toserver@if(\d+)", toward.stdout)
        assert peer is not None and core_lan.stdout.startswith(f"{peer.group(1)}: lan@")


def test_router_config_options_fit_the_lab_or_say_why(configs: Path) -> None:
    path = configs / "chain.yaml"
    path.write_text("lab:\n  routers: [edge.sh, core.sh]\n" + PROBE_TEST)
    lab = load_scenario(path).lab
    assert lab is not None
    bloated = config(configs, "bloated.sh")
    single, named = router_overrides([f"core={bloated}"])
    assert single is None and named == {"core": bloated.resolve()}
    replaced = replace_configs(lab, single, named)
    assert [(r.name, r.config) for r in replaced] == [
        ("edge", (configs / "edge.sh").resolve()),
        ("core", bloated.resolve()),
    ]
    with pytest.raises(
        QosError, match=re.escape("no router 'cor' in this lab — did you mean 'core'?")
    ):
        replace_configs(lab, None, {"cor": bloated})
    with pytest.raises(QosError, match=r"this lab has a line of routers .* give NAME=PATH"):
        replace_configs(lab, bloated, {})
    with pytest.raises(InputError, match=re.escape("no such file: nope.sh")) as caught:
        router_overrides(["core=nope.sh"])
    assert caught.value.key == "core=nope.sh"
    # A path with '=' in it is still a path (a one-router lab's config).
    odd = config(configs, "a=b.sh")
    assert router_overrides([str(odd)]) == (odd.resolve(), {})
