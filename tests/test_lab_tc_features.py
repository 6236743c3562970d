"""A router config needing a tc classifier or action the kernel lacks: the message names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qos.lab.routerlab import Lab, LabError, lab_unavailable_reason
from pytest_qos.lab.tcfeatures import kernel_tc_features, missing_feature

UNAVAILABLE = lab_unavailable_reason()
needs_lab = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "router.sh"
    path.write_text(
        '#!/bin/sh\nset -e\ntc qdisc add dev "$WAN" root handle 1: htb default 10\n'
        'tc class add dev "$WAN" parent 1: classid 1:10 htb rate 10mbit quantum 1514\n' + body
    )
    path.chmod(0o755)
    return path


def test_the_message_names_what_the_config_mentions() -> None:
    """Pure: which words of the config's filter lines are classifiers or actions."""
    config = (
        'tc filter add dev "$WAN" parent 1: protocol ip u32 match ip tos 0xb8 0xfc '
        "police rate 1mbit burst 10k drop flowid 1:10\n"
    )
    _, actions = kernel_tc_features()
    if "police" in actions:
        pytest.skip("this kernel has act_police")
    said = missing_feature("Error: Failed to load TC action module.", config) or ""
    assert said.startswith("needs the tc action 'police' (act_police), which this kernel lacks")
    gact = config.replace("police rate 1mbit burst 10k drop", "action drop")
    if "gact" not in actions:
        assert "'gact' (act_gact)" in (
            missing_feature("Failed to load TC action module", gact) or ""
        )
    assert missing_feature("Specified qdisc kind is unknown", config) is None


@pytest.mark.root
@needs_lab
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            'tc filter add dev "$WAN" parent 1: protocol ip u32 match ip tos 0xb8 0xfc '
            "police rate 1mbit burst 10k drop flowid 1:10\n",
            ("action", "'police' (act_police)", "modprobe act_police", "Failed to load TC action"),
        ),
        (
            'tc filter add dev "$WAN" parent 1: protocol ip matchall classid 1:10\n',
            ("classifier", "'matchall' (cls_matchall)", "modprobe cls_matchall", "u32"),
        ),
    ],
    ids=["action", "classifier"],
)
def test_a_missing_tc_feature_is_named_like_a_missing_qdisc(
    tmp_path: Path, body: str, words: tuple[str, ...]
) -> None:
    classifiers, actions = kernel_tc_features()
    if "police" in actions or "matchall" in classifiers:
        pytest.skip("this kernel has act_police / cls_matchall: the message cannot be provoked")
    with pytest.raises(LabError) as caught:
        Lab.create(router_config=_config(tmp_path, body))
    message = str(caught.value)
    assert message.startswith(f"router config {tmp_path / 'router.sh'} needs the tc {words[0]} ")
    for word in words[1:]:
        assert word in message, message
    assert "which this kernel lacks (it has: " in message
