"""Scenarios across sites: host names checked against the testbed, mesh pairs, pair targets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from ..errors import ScenarioError, did_you_mean
from ..hosts.target import Target
from ..hosts.testbed import HostSpec, Testbed
from .reader import HostRef, MeshSpec, PathSpec, Scenario, TestSpec

PAIR_WORD = "-to-"  # what `->` in a -k expression becomes; mesh items carry "A-to-B"
HERE = "here"  # `from` when a path does not name one: this machine
Pair = tuple[str, str]


def lab_testbed(path: Path, sites: int) -> Testbed:
    """What a `lab: {sites: N}` file's generated testbed will hold (names, addresses)."""
    hosts = {
        f"site{i}": HostSpec(f"site{i}", 1, "ssh", (f"198.19.{i}.2",), destination=f"site{i}")
        for i in range(1, sites + 1)
    }
    return Testbed(path, hosts, {"sites": tuple(hosts)})


def uses_sites(scenario: Scenario) -> bool:
    """True when the file names testbed hosts (path: or mesh:, per file or per test)."""
    return bool(scenario.mesh or scenario.site_path or any(t.site_path for t in scenario.tests))


def _check(ref: HostRef, testbed: Testbed, scenario: Scenario, groups: bool) -> tuple[str, ...]:
    """The hosts a name stands for; unknown names are collection errors with did-you-mean."""
    if ref.name in testbed.hosts:
        return (ref.name,)
    if groups and ref.name in testbed.groups:
        return testbed.groups[ref.name]
    if ref.name == HERE and not groups:
        return (HERE,)
    known = testbed.names() if groups else list(testbed.hosts)
    raise ScenarioError(
        str(scenario.path),
        ref.line,
        ref.key,
        f"unknown host '{ref.name}'{did_you_mean(ref.name, known)} "
        f"(testbed {testbed.path} has: {', '.join(known)})",
    )


def round_robin(hosts: tuple[str, ...]) -> list[Pair]:
    """Every ordered pair, in rounds of disjoint pairs (circle method), then reversed rounds."""
    players: list[str | None] = list(dict.fromkeys(hosts))
    if len(players) % 2:
        players.append(None)
    count = len(players)
    rounds: list[list[Pair]] = []
    for _ in range(count - 1):
        pairs = [(players[i], players[count - 1 - i]) for i in range(count // 2)]
        rounds.append([(a, b) for a, b in pairs if a is not None and b is not None])
        players = [players[0], players[-1], *players[1:-1]]
    forward = [pair for round_ in rounds for pair in round_]
    return forward + [(b, a) for a, b in forward]


def mesh_pairs(mesh: MeshSpec, testbed: Testbed, scenario: Scenario) -> list[Pair]:
    """The ordered pairs a mesh measures."""
    if mesh.hosts:
        names = tuple(
            itertools.chain.from_iterable(_check(r, testbed, scenario, True) for r in mesh.hosts)
        )
        if len(set(names)) < 2:
            raise ScenarioError(
                str(scenario.path), mesh.hosts[0].line, mesh.hosts[0].key, "a mesh needs 2+ hosts"
            )
        return round_robin(names)
    sources = itertools.chain.from_iterable(_check(r, testbed, scenario, True) for r in mesh.from_)
    sinks = list(itertools.chain.from_iterable(_check(r, testbed, scenario, True) for r in mesh.to))
    pairs = [(a, b) for a in dict.fromkeys(sources) for b in dict.fromkeys(sinks) if a != b]
    if not pairs:
        ref = mesh.to[0]
        raise ScenarioError(
            str(scenario.path),
            ref.line,
            ref.key,
            "this mesh has no pairs: its 'from' and 'to' name the same single host, and a "
            "host is never measured to itself; name at least one other host",
        )
    return pairs


def plan(
    scenario: Scenario, testbed: Testbed | None
) -> Iterator[tuple[TestSpec, Pair | None, str]]:
    """(spec, pair, item name) of every item the file makes."""
    if not uses_sites(scenario):
        for spec in scenario.tests:
            yield spec, None, spec.name
        return
    if testbed is None:
        ref = _first_ref(scenario)
        raise ScenarioError(
            str(scenario.path),
            ref.line,
            ref.key,
            "names testbed hosts but no testbed is given: pass --qos-testbed=PATH "
            "(or ini 'qos_testbed'), or use 'lab: {sites: N}'",
        )
    if scenario.mesh is not None:
        pairs = mesh_pairs(scenario.mesh, testbed, scenario)
        for spec in scenario.tests:
            for a, b in pairs:
                yield spec, (a, b), f"{spec.name}[{a}->{b}]"
        return
    for spec in scenario.tests:
        path = spec.site_path or scenario.site_path
        if path is None:
            yield spec, None, spec.name
            continue
        yield spec, _path_pair(path, testbed, scenario), spec.name


def _path_pair(path: PathSpec, testbed: Testbed, scenario: Scenario) -> Pair:
    """(from, to) of a `path:`; `here` is this machine, and only ever the `from`."""
    to = _check(path.to, testbed, scenario, False)[0]
    if to == HERE and HERE not in testbed.hosts:
        raise ScenarioError(
            str(scenario.path),
            path.to.line,
            path.to.key,
            f"'{HERE}' (this machine) can only be a path's 'from', as servers run at 'to'; "
            "to measure toward this machine, list it in the testbed as a host, e.g. "
            "'me: {local: true, address: ADDR}', and name that host",
        )
    source = _check(path.from_, testbed, scenario, False)[0] if path.from_ else HERE
    if source == to:
        ref = path.from_ or path.to
        raise ScenarioError(
            str(scenario.path),
            ref.line,
            ref.key,
            f"a path from '{to}' to itself measures no network; 'from' and 'to' must differ",
        )
    return source, to


def _first_ref(scenario: Scenario) -> HostRef:
    if scenario.mesh is not None:
        return (scenario.mesh.hosts or scenario.mesh.from_)[0]
    path = scenario.site_path or next(t.site_path for t in scenario.tests if t.site_path)
    return path.to


def pair_target(testbed: Testbed, pair: Pair) -> Target:
    """Clients at pair[0], servers and responders at pair[1], measuring to its address."""
    source, sink = pair
    to = testbed.hosts[sink]
    client = testbed.hosts[source].endpoint() if source in testbed.hosts else None
    from ..hosts.endpoints import Local

    return Target(
        name=f"{source}->{sink}",
        host=to.address,
        client=client or Local(),
        server=to.endpoint(),
        bind=to.address,
    )
