#!/usr/bin/env python3
"""A fake iperf3 for fault injection; FAKE_IPERF3_MODE (or --fake-mode=M in argv) picks the fault.

Modes:
  error     print an iperf3-style error document (text from FAKE_IPERF3_ERROR) and exit 0,
            as iperf3 -J does when a test fails
  truncated print the first part of a JSON document and exit 0 (a crash mid-output)
  garbage   print a plain-text line, not JSON, and exit 1
  hang      start a grandchild, write both pids to FAKE_IPERF3_PIDFILE, then sleep (bounded)
  stubborn  like hang, but ignore SIGTERM so only SIGKILL ends it
  ok        a well-formed iperf3 3.12 document for the argv (-t, -u, -b, -R, -P, -O,
            --get-server-output); rates from FAKE_IPERF3_RATES (bit/s, one per run, the last
            repeated; default the -b rate or 1 Gbit/s); sleeps FAKE_IPERF3_SLEEP s (at most 30).
            FAKE_IPERF3_LOG, if set, gets one JSON line per run: argv, pid, start time.
            FAKE_IPERF3_BUSY=N: the first N runs answer "the server is busy".
            FAKE_IPERF3_FAIL_PORT=P: a run against port P fails like an unreachable server.
            FAKE_IPERF3_SECONDS_<P>="r0,r1,...": per-second rates of runs against port P
            (the last repeated), e.g. a fast first second a window must leave out.
            With -s it is a server instead: it listens on -B/-p until killed (at most 120 s).
  document  print the bytes of file FAKE_IPERF3_DOCUMENT as they are and exit 0
  flood     print FAKE_IPERF3_FLOOD_MB MiB of output (default 80) and exit 0
  setsid    print FAKE_IPERF3_DOCUMENT, leave a grandchild in its own session holding stdout
            open (its pid in FAKE_IPERF3_PIDFILE), and exit 0 at once
`--version` answers like iperf 3.12, unless FAKE_IPERF3_VERSION is 'hang' (sleeps) or
'bad-utf8' (prints invalid UTF-8).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# Every wait is bounded: a fake left behind by a broken test still ends on its own.
HANG_LIMIT_S = 120.0


def _mode(argv: list[str]) -> str:
    """The fault to inject: an argv flag wins over the environment."""
    for arg in argv:
        if arg.startswith("--fake-mode="):
            return arg.split("=", 1)[1]
    return os.environ.get("FAKE_IPERF3_MODE", "error")


def _hang(ignore_term: bool) -> int:
    """Sleep with a grandchild in the same process group, recording both pids."""
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen(
        [sys.executable, "-c", f"import time; time.sleep({HANG_LIMIT_S})"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pidfile = os.environ.get("FAKE_IPERF3_PIDFILE")
    if pidfile:
        with open(pidfile + ".tmp", "w") as out:
            out.write(f"{os.getpid()} {grandchild.pid}\n")
        os.replace(pidfile + ".tmp", pidfile)  # readers never see half a line
    time.sleep(HANG_LIMIT_S)
    grandchild.kill()
    grandchild.wait()
    return 0


def _option(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _runs_before(log: str | None) -> int:
    """How many runs the log recorded before this one (0 without a log)."""
    if not log or not os.path.exists(log):
        return 0
    with open(log) as lines:
        return sum(1 for _ in lines)


def _interval(start: float, seconds: float, rate: float, udp: bool, sender: bool) -> dict:
    data = {
        "start": start,
        "end": start + seconds,
        "seconds": seconds,
        "bytes": rate * seconds / 8,
        "bits_per_second": rate,
        "omitted": False,
        "sender": sender,
    }
    if udp:
        data["packets"] = int(rate * seconds / 8 / 1460)
        if not sender:
            data.update(jitter_ms=0.05, lost_packets=0, lost_percent=0.0)
    elif sender:
        data["retransmits"] = 0
    return {"streams": [dict(data)], "sum": data}


def _document(argv: list[str], rate: float) -> dict:
    """What iperf3 3.12 prints for this argv, every interval at `rate`."""
    udp = "-u" in argv
    seconds = int(_option(argv, "-t", "10")) + int(_option(argv, "-O", "0"))
    reverse = "-R" in argv
    shape = os.environ.get(f"FAKE_IPERF3_SECONDS_{_option(argv, '-p', '5201')}", "")
    per_second = [float(r) for r in shape.split(",") if r] or [rate]
    rates = [per_second[min(i, len(per_second) - 1)] for i in range(seconds)]
    client = [_interval(float(i), 1.0, r, udp, not reverse) for i, r in enumerate(rates)]
    server = [_interval(float(i), 1.0, r, udp, reverse) for i, r in enumerate(rates)]
    total = {
        "start": 0,
        "end": seconds,
        "seconds": seconds,
        "bytes": rate * seconds / 8,
        "bits_per_second": rate,
        "sender": True,
    }
    end: dict = {
        "sum_sent": {**total, **({} if udp else {"retransmits": 0})},
        "sum_received": dict(total),
        "cpu_utilization_percent": {"host_total": 5.0, "remote_total": 3.0},
    }
    if udp:
        end["sum"] = {
            **total,
            "jitter_ms": 0.05,
            "lost_percent": 0.0,
            "packets": int(rate * seconds / 8 / 1460),
            "lost_packets": 0,
        }
    host = _option(argv, "-c", "127.0.0.1")
    document = {
        "start": {
            "connected": [{"remote_host": host, "remote_port": int(_option(argv, "-p", "5201"))}],
            "version": "iperf 3.12",
            "tcp_mss_default": 1448,
            "test_start": {
                "protocol": "UDP" if udp else "TCP",
                "num_streams": int(_option(argv, "-P", "1")),
                "blksize": 1460 if udp else 131072,
                "omit": int(_option(argv, "-O", "0")),
                "duration": int(_option(argv, "-t", "10")),
                "reverse": int(reverse),
                "tos": int(_option(argv, "-S", "0")),
            },
        },
        "intervals": client,
        "end": end,
    }
    if "--get-server-output" in argv:
        document["server_output_json"] = {"start": {}, "intervals": server, "end": {}}
    return document


def _serve(argv: list[str]) -> int:
    """Listen like `iperf3 -s -B HOST -p PORT` (readiness is the listening socket), then idle."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind((_option(argv, "-B", "127.0.0.1"), int(_option(argv, "-p", "5201"))))
        server.listen()
        time.sleep(HANG_LIMIT_S)
    return 0


def _ok(argv: list[str]) -> int:
    """Answer like a working iperf3 client, after sleeping as configured."""
    if "-s" in argv:
        return _serve(argv)
    log = os.environ.get("FAKE_IPERF3_LOG")
    index = _runs_before(log)
    if log:
        with open(log, "a") as out:
            out.write(json.dumps({"argv": argv, "pid": os.getpid(), "time": time.time()}) + "\n")
    if index < int(os.environ.get("FAKE_IPERF3_BUSY", "0")):
        print(json.dumps({"error": "the server is busy running a test. try again later"}))
        return 0
    if _option(argv, "-p", "") == os.environ.get("FAKE_IPERF3_FAIL_PORT"):
        print(json.dumps({"error": "unable to connect to server: Connection refused"}))
        return 0
    rates = [float(r) for r in os.environ.get("FAKE_IPERF3_RATES", "").split(",") if r]
    rate = rates[min(index, len(rates) - 1)] if rates else float(_option(argv, "-b", "1e9"))
    time.sleep(min(float(os.environ.get("FAKE_IPERF3_SLEEP", "0")), 30.0))
    print(json.dumps(_document(argv, rate), indent=1))
    return 0


def _version() -> int:
    how = os.environ.get("FAKE_IPERF3_VERSION", "")
    if how == "hang":
        time.sleep(HANG_LIMIT_S)
    elif how == "bad-utf8":
        sys.stdout.buffer.write(b"iperf \xff\xfe 3.12\n")
    else:
        print("iperf 3.12 (cJSON 1.7.15)\nfake iperf3 for pytest-qos tests")
    return 0


def _setsid_grandchild() -> int:
    """Print the document; a grandchild in a new session keeps our stdout open, sleeping."""
    if os.fork() == 0:
        os.setsid()
        pidfile = os.environ.get("FAKE_IPERF3_PIDFILE")
        if pidfile:
            with open(pidfile + ".tmp", "w") as out:
                out.write(f"{os.getpid()}\n")
            os.replace(pidfile + ".tmp", pidfile)
        time.sleep(HANG_LIMIT_S)
        os._exit(0)
    time.sleep(0.1)  # the grandchild has its session before we exit
    sys.stdout.buffer.write(Path(os.environ["FAKE_IPERF3_DOCUMENT"]).read_bytes())
    sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    """Behave like a broken iperf3 in the chosen way."""
    if "--version" in argv or "-v" in argv:
        return _version()
    mode = _mode(argv)
    if mode == "document":
        sys.stdout.buffer.write(Path(os.environ["FAKE_IPERF3_DOCUMENT"]).read_bytes())
        return 0
    if mode == "flood":
        block = b"x" * 2**20
        for _ in range(int(os.environ.get("FAKE_IPERF3_FLOOD_MB", "80"))):
            try:
                sys.stdout.buffer.write(block)
            except BrokenPipeError:
                return 1
        return 0
    if mode == "setsid":
        return _setsid_grandchild()
    if mode == "error":
        message = os.environ.get("FAKE_IPERF3_ERROR", "unable to send cookie to server: injected")
        print(json.dumps({"start": {}, "intervals": [], "end": {}, "error": message}, indent=1))
        return 0
    if mode == "truncated":
        sys.stdout.write('{\n\t"start":\t{\n\t\t"connected":\t[{\n\t\t\t"socket":\t5,')
        return 0
    if mode == "garbage":
        print("iperf3: parameter error - must either be a client (-c) or server (-s)")
        return 1
    if mode == "ok":
        return _ok(argv)
    if mode in ("hang", "stubborn"):
        return _hang(ignore_term=mode == "stubborn")
    print(f"fake iperf3: unknown FAKE_IPERF3_MODE {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
