"""Generated testbed files and Ansible inventories for fault injection (issue 23).

Used by tests/test_testbed_faults.py (bounded hypothesis examples) and by
benchmarks/fuzz_testbeds.py (10,000 files). A case is built from a seed, so any failure
reproduces from its number alone. The oracle: a testbed whose every host gives a usable
ssh/exec argv (no option where a host belongs), or one clear line naming the file.
"""

from __future__ import annotations

import random
import traceback
from pathlib import Path

from pytest_qos.errors import QosError, ScenarioError
from pytest_qos.hosts.ssh import Ssh
from pytest_qos.hosts.testbed import Testbed, load_testbed
from pytest_qos.scenario.sites import pair_target

# Each pool: (usable values, hostile ones); a hostile one is picked now and then.
HOSTS = (["branch1", "b-2", "dc_1", "h.example.net"], ["x" * 70, "1", "true", "'a b'", "é", "'-v'"])
DESTINATIONS = (
    ["198.18.1.2", "branch1.example.net", "ops@branch1", "2001:2::2"],
    [
        "'-oProxyCommand=touch /tmp/pwned'",
        "'-f'",
        "'a b'",
        "'a\\nb'",
        "''",
        "[198.18.1.2, 198.18.1.3]",
        "{a: 1}",
        "22",
        "'@x'",
        "'ops@'",
        "'-@x'",
        "~",
    ],
)
ADDRESSES = (
    ["198.18.1.2", "2001:2::2", "[198.18.1.2, '2001:2::3']"],
    ["branch", "[]", "5", "~", "'198.18.1.2 '", "'-1'"],
)
PORTS = (["22", "2222", "'2222'"], ["0", "70000", "-1", "ssh", "[22]", "1e3", "true", "'22 '"])
TEXT = (["ops", "/opt/bin/iperf3", "~/.ssh/id"], ["[x]", "{a: b}", "5", "''", "'a\\nb'"])
COMMON_ARGS = (
    ["'-o ProxyJump=bastion'", "'-oConnectTimeout=3'", "'-J ops@bastion -p 2222'", "'-4 -C'"],
    [
        "'-p 70000'",
        "'-o'",
        '"-o \'x"',
        "'-v -X'",
        "'-J -oProxyCommand=x'",
        "'-o -v'",
        "[a]",
        "5",
        "'-p2222'",
        "'-i ~/.ssh/k -l root'",
    ],
)
CONNECTIONS = (["ssh", "local", "smart"], ["docker", "[ssh]", "5"])
ANSIBLE_KEYS = {
    "ansible_host": DESTINATIONS,
    "ansible_port": PORTS,
    "ansible_user": TEXT,
    "ansible_ssh_private_key_file": TEXT,
    "ansible_ssh_common_args": COMMON_ARGS,
    "ansible_connection": CONNECTIONS,
    "ansible_python_interpreter": TEXT,
    "qos_address": ADDRESSES,
    "qos_iperf3": TEXT,
}
NATIVE_KEYS = {
    "ssh": DESTINATIONS,
    "address": ADDRESSES,
    "port": PORTS,
    "user": TEXT,
    "identity_file": TEXT,
    "ssh_options": (["[StrictHostKeyChecking=no]", "[]"], ["[-v]", "x", "[1]"]),
    "exec": (["[docker, exec, dc1]"], ["[]", "x", "[1]"]),
    "local": (["true"], ["false", "x"]),
    "iperf3": TEXT,
    "python": TEXT,
}
KINDS = ("ssh", "exec", "local")
SSH_ONLY = ("port", "user", "identity_file", "ssh_options")
MISSPELT = ["adress", "qos_adress", "ansible_hots", "x"]
ODD = [
    "[a, b]",
    "a-string",
    "5",
    "~",
    "{}",
    "[]",
    "&r [*r]",
    "[" * 300 + "]" * 300,
]


def _pick(rng: random.Random, pool: tuple[list[str], list[str]]) -> str:
    """Mostly a usable value of `pool`, now and then a hostile one."""
    good, bad = pool
    return rng.choice(bad if rng.random() < 0.06 else good)


def _host_vars(
    rng: random.Random, keys: dict[str, tuple[list[str], list[str]]], required: list[str]
) -> str:
    if rng.random() < 0.02:
        return rng.choice(ODD)
    optional = [key for key in keys if key not in KINDS]
    if required[:1] in (["exec"], ["local"]):
        optional = [key for key in optional if key not in SSH_ONLY]
    chosen = list(dict.fromkeys([*required, *rng.sample(optional, rng.randint(0, 3))]))
    if rng.random() < 0.02:
        chosen.append(rng.choice([*KINDS, *MISSPELT]))
    values = [f"{key}: {_pick(rng, keys.get(key, ADDRESSES))}" for key in chosen]
    return "{" + ", ".join(values) + "}"


def native(rng: random.Random) -> str:
    """A testbed in pytest-qos's own format."""
    names = [_pick(rng, HOSTS) for _ in range(rng.randint(1, 4))]
    lines = ["hosts:"]
    for name in dict.fromkeys(names):
        kind = rng.choice(["ssh", "ssh", "ssh", "exec", "local"])
        lines.append(f"  {name}: {_host_vars(rng, NATIVE_KEYS, [kind, 'address'])}")
    if rng.random() < 0.3:
        members = ", ".join(rng.choice([*names, "nobody"]) for _ in range(rng.randint(0, 3)))
        lines += ["groups:", f"  {rng.choice(['g', 'branches', names[0]])}: [{members}]"]
    if rng.random() < 0.05:
        lines.append(f"ssh_config: {rng.choice(['missing', '~', '[a]'])}")
    if rng.random() < 0.05:
        lines.append(f"hots: {rng.choice(ODD)}")
    return "\n".join(lines) + "\n"


def _ansible_group(rng: random.Random, depth: int) -> list[str]:
    pad = "  " * depth
    lines = []
    if rng.random() < 0.4:
        group_vars = _host_vars(rng, ANSIBLE_KEYS, [])
        lines.append(f"{pad}vars: {group_vars}")
    if rng.random() < 0.9:
        if rng.random() < 0.05:
            lines.append(f"{pad}hosts: {rng.choice(ODD)}")
        else:
            lines.append(f"{pad}hosts:")
            for name in dict.fromkeys(_pick(rng, HOSTS) for _ in range(rng.randint(1, 3))):
                required = ["ansible_host"] if rng.random() < 0.9 else []
                lines.append(f"{pad}  {name}: {_host_vars(rng, ANSIBLE_KEYS, required)}")
    if depth < 4 and rng.random() < 0.4:
        lines.append(f"{pad}children:")
        for child in dict.fromkeys(rng.choice(["web", "db", "edge"]) for _ in range(2)):
            lines.append(f"{pad}  {child}:")
            lines += _ansible_group(rng, depth + 2) or [f"{pad}    hosts: ~"]
    if rng.random() < 0.03:
        lines.append(f"{pad}{rng.choice(['host', 'var', 'childs'])}: {rng.choice(ODD)}")
    return lines


def ansible(rng: random.Random) -> str:
    """An Ansible YAML inventory: `all:` with vars, hosts and nested children."""
    return "\n".join(["all:", *_ansible_group(rng, 1)]) + "\n"


def mutated(rng: random.Random) -> str:
    """A generated file with bytes inserted, deleted or swapped."""
    chars = list(ansible(rng) if rng.random() < 0.5 else native(rng))
    alphabet = ":-[]{}&*!|>'\"#%@`,?\n\t \x00\x07\u2028\ufeff0123456789e.~"
    for _ in range(rng.randint(1, 6)):
        where = rng.randrange(len(chars) + 1)
        action = rng.random()
        if action < 0.4:
            chars.insert(where, rng.choice(alphabet))
        elif chars:
            chars[min(where, len(chars) - 1)] = rng.choice(alphabet)
    return "".join(chars)


def generate(seed: int) -> str:
    """Case number `seed`: native, Ansible or mutated."""
    rng = random.Random(seed)
    choice = rng.random()
    if choice < 0.35:
        return native(rng)
    return ansible(rng) if choice < 0.8 else mutated(rng)


def use(testbed: Testbed) -> None:
    """What a run does with a testbed: endpoints, their argv, pair targets (must not raise)."""
    names = list(testbed.hosts)
    for name, spec in testbed.hosts.items():
        endpoint = spec.endpoint()
        argv = endpoint.command(["iperf3", "-s"])
        if isinstance(endpoint, Ssh):
            # The destination, just before the remote line, can never be read as an option.
            assert argv[-2] == spec.destination and not argv[-2].startswith("-"), argv
        pair_target(testbed, (names[0], name))


def classify(text: str, path: Path) -> str:
    """'testbed' or 'error' (one clear line) when the case behaved; else what went wrong."""
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        use(load_testbed(path))
    except (ScenarioError, QosError) as error:
        message = str(error)
        if "\n" in message or "\r" in message:
            return f"multi-line error: {message!r}"
        if not message.startswith(str(path)):
            return f"error without the file: {message!r}"
        return "error"
    except Exception:  # any other exception is the finding
        return "traceback: " + traceback.format_exc(limit=-3)
    return "testbed"


def check(text: str, path: Path) -> str | None:
    """None when the case behaved; else what went wrong."""
    outcome = classify(text, path)
    return None if outcome in ("testbed", "error") else outcome
