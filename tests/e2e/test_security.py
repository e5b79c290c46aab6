"""Secrets stay secret, sockets stay local.

The daemon runs as a real process at debug level with a distinctive client id and
secret, goes through authorize, token renewal (the simulator's tokens live just over
the renewal margin, so the bridge renews them every few seconds) and a reconnect, and
every line it writes is scanned for the secret, the client id's random part and every
token the simulator issued. While it runs, the sockets it listens on are read from
/proc: each must be on loopback, except liblsl's own (the LSL network scope is liblsl's
configuration, see README "LSL network scope").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.cortex.auth import TOKEN_REFRESH_MARGIN
from bridge.lslconfig import LSL_BASE_PORT, LSL_PORT_RANGE
from bridge.simulator import SimulatorConfig, SimulatorThread

CLIENT_RANDOM = "Qx7Z9kP2m4TT8wRb"
CLIENT_ID = f"lab-bridge-{CLIENT_RANDOM}"
CLIENT_SECRET = "s3cr3t-Vq2LmN8pR4tY6uI0oP9aS1dF3gH5jK7l"
WINDOW = 10  # any 10 characters of a secret or token in a line count as a leak
LSL_PORTS = range(LSL_BASE_PORT - 1, LSL_BASE_PORT + LSL_PORT_RANGE)  # multicast port, then ours


def listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every socket of ``pid`` that listens (TCP) or is
    bound (UDP), from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode not in inodes:
                continue
            if proto.startswith("tcp") and state != "0A":  # 0A = LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            port = int(hex_port, 16)
            if port == 0:
                continue
            found.append((proto, _address(hex_addr), port))
    return found


def _address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ".".join(str(b) for b in reversed(raw))
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    import ipaddress

    return str(ipaddress.IPv6Address(b"".join(words)))


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1")


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_debug_log_holds_no_secret_and_sockets_are_local(
    tmp_path: Path, unique_id: str
) -> None:
    headset = f"EPOCX-{unique_id[:8].upper()}"
    config = SimulatorConfig(
        port=0,
        headsets=[f"epocx:id={headset},status=connected"],
        seed=9,
        control=True,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_lifetime_s=TOKEN_REFRESH_MARGIN + 2,  # renewed a couple of seconds after issue
    )
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    secret_file.chmod(0o600)
    with SimulatorThread(config) as sim:
        path = tmp_path / "bridge.toml"
        path.write_text(
            "[cortex]\n"
            f'url = "{sim.url}"\n'
            f'client_id = "{CLIENT_ID}"\n'
            f'client_secret_file = "{secret_file}"\n'
            f'ca_file = "{sim.ca_pem_path}"\n'
            'streams = ["eeg", "met"]\n'
            "[log]\n"
            "status_interval = 1\n"
            "[markers]\n"
            "enabled = true\n"
            "osc_input = true\n"
            "osc_port = 0\n"
            "[osc]\n"
            "enabled = true\n"
        )
        path.chmod(0o600)
        # A file, not a pipe: a debug log fills a pipe buffer that nobody reads yet.
        log_path = tmp_path / "daemon.log"
        log_file = log_path.open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(path), "--log-level",
             "debug"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not any(s["streams"] for s in sim.state()["sessions"]):
                assert time.monotonic() < deadline, "the daemon never subscribed"
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.2)
            time.sleep(3.0)  # token renewals (generateNewToken)
            sockets = listening_sockets(proc.pid)
            issued_before = sim.state()["tokensIssued"]
            sim.call(lambda s: s.drop_connections("abort"))
            deadline = time.monotonic() + 15
            while not (
                len(sessions := sim.state()["sessions"]) >= 2 and sessions[-1]["streams"]
            ):
                assert time.monotonic() < deadline, "the daemon did not reconnect"
                time.sleep(0.2)
            time.sleep(2.0)
            tokens = sim.call(lambda s: sorted(s.service.tokens.issued))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log_file.close()
    text = log_path.read_text()
    assert proc.returncode == 0, text[-3000:]
    lines = text.splitlines()
    assert any(" DEBUG " in line for line in lines), "not at debug level"
    assert any("authorized with Cortex" in line for line in lines)
    assert any("renewed" in line for line in lines), "no token renewal happened"
    assert issued_before >= 2 and len(tokens) >= 3
    print(f"{len(lines)} log lines, {len(tokens)} tokens, sockets: {sockets}")
    # Any piece of a secret: a truncated frame in a log leaks its head or tail. A JWT's
    # header is the same for everybody; its payload and signature are the token.
    secrets = {"the client secret": CLIENT_SECRET, "the client id's random part": CLIENT_RANDOM}
    secrets.update({f"token {i}": t.split(".", 1)[1] for i, t in enumerate(tokens)})
    needles = {
        text[i : i + WINDOW]: what
        for what, text in secrets.items()
        for i in range(len(text) - WINDOW + 1)
    }
    for line in lines:
        for i in range(len(line) - WINDOW + 1):
            what = needles.get(line[i : i + WINDOW])
            assert what is None, f"part of {what} in the log: {line[:240]}"
    assert sockets, "found no socket at all: the check would be empty"
    for proto, address, port in sockets:
        assert is_loopback(address) or port in LSL_PORTS, (proto, address, port)
