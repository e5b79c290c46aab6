"""A stimulus program for marker tests, in a process of its own (as PsychoPy would be):
markers at ``--rate`` per second, alternately an LSL sample stamped with its send time
and an OSC ``/marker`` datagram, starting once a consumer (the bridge) has opened
its LSL stream and ending when its standard input closes; then it prints one JSON object,
``{value: send time on the LSL clock}``.

Its own process, because the truth for an OSC marker is the moment it is sent: in the
test's process, busy with a simulator and a bridge, a thread that reads the clock may
wait milliseconds for the interpreter lock before it gets to send.

    python tests/stimulus.py --lsl-name NAME --osc-port PORT [--rate 10]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time

import pylsl
from pythonosc.osc_message_builder import OscMessageBuilder


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lsl-name", required=True)
    parser.add_argument("--osc-port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(
        args.lsl_name, "Markers", 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, args.lsl_name))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", args.osc_port)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    if not outlet.wait_for_consumers(30.0):  # the bridge's marker inlet
        print("no consumer", flush=True)
        return 1
    print("ready", flush=True)
    sent: dict[str, float] = {}
    start = time.monotonic()
    n = 0
    while not stop.wait(max(0.0, start + n / args.rate - time.monotonic())):
        value = f"{'lsl' if n % 2 == 0 else 'osc'}-{n}"
        if n % 2 == 0:
            t = pylsl.local_clock()
            outlet.push_sample([value], t)
        else:
            builder = OscMessageBuilder("/marker")
            builder.add_arg(value)
            datagram = builder.build().dgram
            t = pylsl.local_clock()
            sock.sendto(datagram, target)
        sent[value] = t
        n += 1
    time.sleep(0.5)  # let the last LSL sample reach the bridge before the outlet goes
    print(json.dumps(sent), flush=True)
    return 0


class StimulusProcess:
    """Runs this file; :meth:`stop` returns what it sent."""

    def __init__(self, lsl_name: str, osc_port: int, rate: float = 10.0) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--lsl-name", lsl_name, "--osc-port", str(osc_port),
             "--rate", str(rate)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            self.proc.kill()
            raise AssertionError(f"the stimulus did not start: {first!r}")

    def stop(self) -> dict[str, float]:
        out, _ = self.proc.communicate(timeout=10)
        sent: dict[str, float] = json.loads(out.strip().splitlines()[-1])
        return sent

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


if __name__ == "__main__":
    sys.exit(main())
