#!/usr/bin/env python3
"""Soak test (not in CI): the bridge against 4 virtual headsets for N minutes.

Runs the Cortex simulator (4 EPOC X, every stream) and ``cortex-bridge run`` as two
processes on a loopback-only LSL configuration, with OSC sent to a local UDP socket this
script drains. Every ``--interval`` seconds it samples the bridge's resident memory
(RSS) and CPU time; at the end it prints the table and the RSS slope (least squares,
MB per hour, over the whole run and over its second half, after warm-up).

    .venv/bin/python scripts/soak.py                # 30 minutes
    .venv/bin/python scripts/soak.py --minutes 3    # a quick check

Exit code 0 when the bridge stayed up; 1 if it died.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HEADSETS = 4
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE / 1e6


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if den == 0 else sum((t - mx) * (v - my) for t, v in points) / den * 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UdpSink:
    """Receives and counts the OSC packets the bridge sends."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.packets += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--no-osc", action="store_true", help="LSL only")
    args = parser.parse_args()

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from bridge.lslconfig import use_loopback_config

    use_loopback_config("cortex-bridge-soak")  # sets LSLAPICFG, inherited by the children
    work = Path(tempfile.mkdtemp(prefix="cortex-bridge-soak-"))
    port = free_port()
    ca = work / "ca.pem"
    sim_cmd = [sys.executable, "-m", "bridge", "simulate", "--port", str(port),
               "--ca-out", str(ca), "--seed", "1", "--log-level", "WARNING"]
    for _ in range(HEADSETS):
        sim_cmd += ["--headset", "epocx:status=connected"]
    sink = None if args.no_osc else UdpSink()
    config = work / "bridge.toml"
    config.write_text(
        "[cortex]\n"
        f'url = "wss://127.0.0.1:{port}"\n'
        'client_id = "cortex-bridge-demo"\n'
        'client_secret = "cortex-bridge-demo-secret"\n'
        f'ca_file = "{ca}"\n'
        'headsets = ["*"]\n'
        "[log]\n"
        "status_interval = 60\n"
        + ("" if sink is None else f'[osc]\nenabled = true\ntargets = ["127.0.0.1:{sink.port}"]\n')
    )
    config.chmod(0o600)
    log_path = work / "bridge.log"
    sim = subprocess.Popen(sim_cmd, cwd=root, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ca.exists():
        if time.monotonic() > deadline or sim.poll() is not None:
            print("the simulator did not start", file=sys.stderr)
            sim.kill()
            return 1
        time.sleep(0.1)
    time.sleep(0.5)
    with log_path.open("w") as log_file:
        bridge = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(config)],
            cwd=root, stdout=log_file, stderr=subprocess.STDOUT,
        )
    print(f"soak: {HEADSETS} headsets, {args.minutes:g} min, sample every {args.interval:g} s; "
          f"bridge pid {bridge.pid}, log {log_path}")
    print(f"{'t (s)':>7} {'RSS (MB)':>9} {'CPU %':>6} {'OSC packets':>12}")
    points: list[tuple[float, float]] = []
    start = time.monotonic()
    last_cpu, last_t = 0.0, start
    died = False
    try:
        end = start + args.minutes * 60
        next_sample = start + min(args.interval, 5.0)  # a first point once it runs
        k = 0
        while True:
            now = time.monotonic()
            if bridge.poll() is not None:
                died = True
                break
            if now >= next_sample:
                cpu = cpu_seconds(bridge.pid)
                usage = 100 * (cpu - last_cpu) / (now - last_t)
                last_cpu, last_t = cpu, now
                mb = rss_mb(bridge.pid)
                points.append((now - start, mb))
                osc = "-" if sink is None else str(sink.packets)
                print(f"{now - start:7.0f} {mb:9.1f} {usage:6.1f} {osc:>12}", flush=True)
                if now >= end:
                    break
                k += 1
                next_sample = min(start + k * args.interval, end)
            time.sleep(0.2)
    finally:
        for proc in (bridge, sim):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (bridge, sim):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if sink is not None:
            sink.close()
    text = log_path.read_text()
    statuses = re.findall(r"status cortex=.*", text)
    if died:
        print(f"the bridge died (exit {bridge.returncode}); last log lines:")
        print("\n".join(text.splitlines()[-20:]))
        return 1
    half = [p for p in points if p[0] >= points[-1][0] / 2]
    print(f"RSS: start {points[0][1]:.1f} MB, end {points[-1][1]:.1f} MB, "
          f"max {max(v for _, v in points):.1f} MB")
    print(f"RSS slope: {slope_per_hour(points):+.2f} MB/h over the run, "
          f"{slope_per_hour(half):+.2f} MB/h over the second half")
    print(f"bridge exit code {bridge.returncode}; warnings in its log: "
          f"{text.count(' WARNING ')}; last status: {statuses[-1][:300] if statuses else '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
