"""Which tc classifiers and actions this kernel has, and a router config's message when it
needs one it lacks.

tc itself only says "TC classifier not found" or "Failed to load TC action module", naming
neither; the lab names the kinds the config mentions that the kernel refuses, as it does for
qdiscs (routerlab.kernel_qdiscs).
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from collections.abc import Sequence

from ..hosts.endpoints import Local

PROBE_TIMEOUT = 10.0
CLASSIFIER_MISSING = "TC classifier not found"
ACTION_MISSING = "Failed to load TC action module"

# Classifier kind -> a filter line that adds one under an ingress qdisc (no other needs).
CLASSIFIERS = {
    "u32": "u32 match u32 0 0",
    "matchall": "matchall",
    "flower": "flower",
    "fw": "handle 1 fw",
    "basic": "basic",
    "route": "route",
    "flow": "handle 1 flow hash keys src divisor 16",
    "cgroup": "cgroup",
    "bpf": "bpf bytecode '1,6 0 0 0'",
}
# Action module -> an action that loads it (`tc actions add action ...`).
ACTIONS = {
    "gact": "gact drop",
    "police": "police rate 1mbit burst 10k drop",
    "mirred": "mirred egress redirect dev lo",
    "pedit": "pedit ex munge ip tos set 0x20",
    "skbedit": "skbedit priority 1",
    "vlan": "vlan push id 5",
    "csum": "csum ip",
    "connmark": "connmark",
    "ct": "ct",
    "nat": "nat egress 192.0.2.1 192.0.2.2",
    "sample": "sample rate 10 group 1",
    "tunnel_key": "tunnel_key unset",
    "skbmod": "skbmod set etype 0x0800",
    "simple": "simple sdata x",
    "ctinfo": "ctinfo dscp 0xfc000000 0x01000000",
    "mpls": "mpls pop protocol ip",
}
# Words of a tc command line that load the gact module without naming it.
GACT_VERBS = ("drop", "shot", "pass", "ok", "reclassify", "continue", "pipe")


@functools.cache
def kernel_tc_features() -> tuple[frozenset[str], frozenset[str]]:
    """(classifiers, actions) of CLASSIFIERS and ACTIONS this kernel accepts.

    One `tc -force -batch` in a throwaway network namespace; empty sets when it cannot run
    (no tc, no unshare, not root).
    """
    tc, unshare = shutil.which("tc"), shutil.which("unshare")
    if tc is None or unshare is None:
        return frozenset(), frozenset()
    lines = ["qdisc add dev lo ingress"]
    lines += [f"filter add dev lo parent ffff: protocol ip {line}" for line in CLASSIFIERS.values()]
    lines += [f"actions add action {line}" for line in ACTIONS.values()]
    with tempfile.NamedTemporaryFile("w", suffix=".tc") as batch:
        batch.write("\n".join(lines) + "\n")
        batch.flush()
        try:
            completed = Local().run(
                [unshare, "--net", tc, "-force", "-batch", batch.name], timeout=PROBE_TIMEOUT
            )
        except OSError:
            return frozenset(), frozenset()
    if "Operation not permitted" in completed.stderr and "Command failed" not in completed.stderr:
        return frozenset(), frozenset()
    refused = _refused_lines(completed.stderr)
    if 1 in refused:  # no ingress qdisc: classifiers cannot be probed this way
        return frozenset(), frozenset()
    kinds = [*CLASSIFIERS, *ACTIONS]
    found = {kinds[number - 2] for number in range(2, len(lines) + 1) if number not in refused}
    return (
        frozenset(kind for kind in CLASSIFIERS if kind in found),
        frozenset(kind for kind in ACTIONS if kind in found),
    )


def _refused_lines(stderr: str) -> set[int]:
    """Line numbers of the batch that tc reported as failed."""
    return {int(number) for number in re.findall(r"Command failed \S+:(\d+)", stderr)}


def mentioned(text: str, words: Sequence[str]) -> list[str]:
    """The `words` that occur in `text` as whole words (a config's tc lines)."""
    return [word for word in words if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)]


def missing_feature(stderr: str, config_text: str) -> str | None:
    """'needs the tc action 'police' (act_police), which this kernel lacks …', or None when
    tc's output is not about a missing classifier or action."""
    classifiers, actions = kernel_tc_features()
    if CLASSIFIER_MISSING in stderr:
        wanted = [k for k in mentioned(_filter_lines(config_text), list(CLASSIFIERS))]
        return _message("classifier", "cls", wanted, classifiers)
    if ACTION_MISSING in stderr:
        text = _filter_lines(config_text)
        wanted = [kind for kind in mentioned(text, list(ACTIONS)) if kind != "gact"]
        if "gact" in mentioned(text, ["gact"]) or re.search(
            rf"\baction\s+({'|'.join(GACT_VERBS)})\b", text
        ):
            wanted.insert(0, "gact")
        return _message("action", "act", wanted, actions)
    return None


def _filter_lines(text: str) -> str:
    """The config's lines that add filters or actions (where classifiers and actions live)."""
    return "\n".join(
        line for line in text.splitlines() if re.search(r"\b(filter|actions?|police)\b", line)
    )


def _message(what: str, module: str, wanted: list[str], available: frozenset[str]) -> str:
    has = ", ".join(sorted(available)) or "none that could be probed"
    missing = [kind for kind in wanted if kind not in available] if available else wanted
    if not missing:
        return f"asked for a tc {what} this kernel lacks (it has: {has})"
    names = ", ".join(f"'{kind}' ({module}_{kind})" for kind in missing)
    noun = what if len(missing) == 1 else f"{what}s"
    return (
        f"needs the tc {noun} {names}, which this kernel lacks (it has: {has}); load the module "
        f"(e.g. 'modprobe {module}_{missing[0]}') or use a config without it"
    )
