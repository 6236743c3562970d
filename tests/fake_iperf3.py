#!/usr/bin/env python3
"""A fake iperf3 for fault injection; FAKE_IPERF3_MODE (or --fake-mode=M in argv) picks the fault.

Modes:
  error     print an iperf3-style error document (text from FAKE_IPERF3_ERROR) and exit 0,
            as iperf3 -J does when a test fails
  truncated print the first part of a JSON document and exit 0 (a crash mid-output)
  garbage   print a plain-text line, not JSON, and exit 1
  hang      start a grandchild, write both pids to FAKE_IPERF3_PIDFILE, then sleep (bounded)
  stubborn  like hang, but ignore SIGTERM so only SIGKILL ends it
`--version` always answers like iperf 3.12.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

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


def main(argv: list[str]) -> int:
    """Behave like a broken iperf3 in the chosen way."""
    if "--version" in argv or "-v" in argv:
        print("iperf 3.12 (cJSON 1.7.15)\nfake iperf3 for pytest-qos tests")
        return 0
    mode = _mode(argv)
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
    if mode in ("hang", "stubborn"):
        return _hang(ignore_term=mode == "stubborn")
    print(f"fake iperf3: unknown FAKE_IPERF3_MODE {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
