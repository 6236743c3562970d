"""UDP loss over the counted window: captured iperf3 3.12 documents, and the router's counters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_lab import UNAVAILABLE, write_config

from pytest_qos.lab.routerlab import Lab
from pytest_qos.measure.iperf3 import Iperf3, parse_result
from pytest_qos.measure.loss import window_loss
from pytest_qos.measure.traffic import Traffic

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    """A captured document: 12 Mbit/s UDP into a 10 Mbit/s tbf, `-O 2 -t 2`."""
    return dict(json.loads((DATA / name).read_text()))


def test_upload_loss_comes_from_the_servers_counted_intervals() -> None:
    """iperf3 says 35 %; the server's counted intervals say 19 %, as the router's drops do."""
    document = load("udp_shaped_upload_omit2.json")
    assert document["end"]["sum"]["lost_percent"] == pytest.approx(35.0, abs=0.1)
    measurement = parse_result(document, ["iperf3"])
    # This capture has iperf3's merged interval ("1.00-1.00 sec", 2 s long): half of it counts.
    assert measurement.metrics["loss"] == pytest.approx(19.0, abs=0.1)
    # abs=3: the text's rounded MBytes and Mbits/sec give the merged interval's length.
    assert measurement.metrics["packets"] == pytest.approx(1036.5 + 1036 + 61, abs=3)
    assert measurement.details["loss_from"] == "server (text)"


def test_download_loss_comes_from_the_clients_counted_intervals() -> None:
    document = load("udp_shaped_download_omit2.json")
    measurement = parse_result(document, ["iperf3"])
    assert measurement.metrics["loss"] == pytest.approx(100 * 394 / 2072)
    assert measurement.metrics["lost_packets"] == 394
    assert measurement.details["loss_from"] == "client"


def test_json_server_output_and_merged_intervals_are_prorated() -> None:
    """A `-J` server's intervals: omitted ones skipped, a 2 s one counted for 1 s."""

    def interval(seconds: float, packets: int, lost: int, omitted: bool) -> dict[str, Any]:
        summary = {"seconds": seconds, "packets": packets, "lost_packets": lost}
        return {"sum": {**summary, "omitted": omitted}}

    document = {
        "start": {"test_start": {"reverse": 0}},
        "server_output_json": {
            "intervals": [
                interval(1.0, 971, 122, True),
                interval(2.0, 2072, 394, False),
                interval(1.0, 1036, 197, False),
            ]
        },
    }
    loss = window_loss(document)
    assert loss is not None
    assert (loss.total, loss.lost, loss.source) == (2072, 394, "server (json)")


def test_several_streams_count_their_sum_lines() -> None:
    text = "\n".join(
        [
            "[  5]   0.00-1.00   sec  1.43 MBytes  12.0 Mbits/sec  0.013 ms  10/1035 (1%)",
            "[  6]   0.00-1.00   sec  1.43 MBytes  12.0 Mbits/sec  0.011 ms  20/1035 (2%)",
            "[SUM]   0.00-1.00   sec  2.86 MBytes  24.0 Mbits/sec  0.012 ms  30/2070 (1.4%)",
            "[SUM]   0.00-1.00   sec  2.86 MBytes  24.0 Mbits/sec  0.007 ms  30/2070 (1%) receiver",
        ]
    )
    loss = window_loss({"start": {"test_start": {}}, "server_output_text": text})
    assert loss is not None and (loss.total, loss.lost) == (2070, 30)


def test_without_receiver_intervals_iperf3s_summary_stays() -> None:
    document = load("udp.json")
    measurement = parse_result(document, ["iperf3"])
    assert measurement.metrics["loss"] == document["end"]["sum"]["lost_percent"]
    assert measurement.details["loss_from"] == "iperf3 end.sum"


def test_udp_uploads_ask_for_the_servers_counts() -> None:
    command = Iperf3().command(Traffic(protocol="udp"), "127.0.0.1", 5201)
    assert "--get-server-output" in command
    download = Iperf3().command(Traffic(protocol="udp", direction="download"), "127.0.0.1", 5201)
    assert "--get-server-output" not in download


# --- against the router's drop counters ------------------------------------------------------


class Counters:
    """The router's tbf counters on one interface, every 50 ms: (time, sent, drops, queued)."""

    def __init__(self, lab: Lab, device: str) -> None:
        self.router = lab.endpoint("router")
        self.device = device
        self.samples: list[tuple[float, int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> tuple[float, int, int, int]:
        """One sample now."""
        shown = self.router.run(["tc", "-s", "-j", "qdisc", "show", "dev", self.device], 5)
        qdisc = next(q for q in json.loads(shown.stdout) if q["kind"] == "tbf")
        return time.time(), int(qdisc["packets"]), int(qdisc["drops"]), int(qdisc["qlen"])

    def _run(self) -> None:
        for _ in range(400):  # bounded: 20 s at most
            self.samples.append(self.read())
            if self._stop.wait(0.05):
                break

    def __enter__(self) -> Counters:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.samples.append(self.read())

    def loss_after(self, moment: float) -> float:
        """Drops as a percentage of what reached the shaper, from `moment` to the end."""
        first = next(sample for sample in self.samples if sample[0] >= moment)
        last = self.samples[-1]
        # What was queued at `moment` arrived before it; it leaves (is "sent") after it.
        offered = (last[1] - first[1]) + (last[2] - first[2]) - first[3] + last[3]
        return 100.0 * (last[2] - first[2]) / offered


@pytest.fixture(scope="module")
def shaped_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab with a 10 Mbit/s tbf on both router interfaces."""
    if UNAVAILABLE:
        pytest.skip(f"router lab {UNAVAILABLE}")
    body = (
        'for dev in "$WAN" "$LAN"; do\n'
        '    tc qdisc add dev "$dev" root tbf rate 10mbit burst 16384 latency 50ms\n'
        "done\n"
    )
    config = write_config(tmp_path_factory.mktemp("truth-loss"), body, "tbf-10.sh")
    with Lab.create(router_config=config) as lab:
        yield lab


@pytest.mark.root
@pytest.mark.alone  # within 0.6 points of the shaper's drops: a starved receiver loses more
@pytest.mark.parametrize("omit", [0, 1, 2])
@pytest.mark.parametrize("direction", ["upload", "download"])
def test_loss_matches_the_routers_drops(shaped_lab: Lab, direction: str, omit: int) -> None:
    """12 Mbit/s offered into 10 Mbit/s: loss within 0.6 points of the shaper's own drop ratio."""
    lab = shaped_lab
    iperf3 = Iperf3()
    target = lab.target()
    assert target.server is not None and target.bind is not None
    # The shaper a flow meets is on the interface it leaves the router by.
    device = lab.interfaces.wan if direction == "upload" else lab.interfaces.lan
    traffic = Traffic(
        protocol="udp", bitrate=12e6, duration=2 if omit == 0 else 1, omit=omit, direction=direction
    )
    with iperf3.server(target.server, target.bind) as server, Counters(lab, device) as counters:
        measurement = iperf3.run(
            traffic, target.host, server.port, endpoint=target.client, server=server
        )
    # Without omit the whole run counts (its first ~0.1 s fill the queue, losing nothing).
    moment = measurement.started + omit if omit else 0.0
    router = counters.loss_after(moment)
    reported = measurement.metrics["loss"]
    print(f"{direction} omit {omit}: loss {reported:.2f} %, router {router:.2f} %")
    assert reported == pytest.approx(router, abs=0.6)
