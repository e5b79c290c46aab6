"""Real OSC receivers for the tests: python-osc's UDP server, a raw UDP socket (for
datagram sizes and bundles), and liblo's ``oscdump`` (a receiver we did not write).

``oscdump`` comes from Debian's liblo-tools, ``pd`` (which runs the shipped patch) from
puredata-core. Tests that need one skip with a reason when it is absent, unless
``REQUIRE_RECEIVERS=1`` (set by ``.ci/run``, which installs both): then it fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_server import BlockingOSCUDPServer

from bridge.outputs.osc_codec import encode_message

REQUIRE_RECEIVERS = "REQUIRE_RECEIVERS"


def receiver_path(program: str, package: str) -> str:
    """A third-party receiver's executable, or skip (fail when the environment requires
    it: CI must never pass by skipping the receivers we did not write)."""
    path = shutil.which(program)
    if path is None:
        if os.environ.get(REQUIRE_RECEIVERS) == "1":
            pytest.fail(f"{program} not found but {REQUIRE_RECEIVERS}=1 (install {package})")
        pytest.skip(f"{program} ({package}) is not installed: apt-get install {package}")
    return path


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Ask a receiver process to end; kill it if it does not within 5 s."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def oscdump_path() -> str:
    """liblo's ``oscdump``."""
    return receiver_path("oscdump", "liblo-tools")


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    address: str
    args: tuple[Any, ...]


class _Receiver:
    """Start/stop and wait helpers shared by the receivers."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()

    def _add(self, address: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self.messages.append(Received(time.monotonic(), address, args))

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def of(self, address: str) -> list[Received]:
        return [m for m in self.snapshot() if m.address == address]

    def counts(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(m.address for m in self.snapshot() if since <= m.at < until)

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.snapshot():
                if predicate(message):
                    return message
            time.sleep(0.02)
        seen = sorted({m.address for m in self.snapshot()})[:20]
        raise AssertionError(f"no matching OSC message within {timeout} s; addresses: {seen}")


class PythonOscReceiver(_Receiver):
    """python-osc's blocking UDP server on 127.0.0.1 (port 0) in a thread; one message
    at a time, in arrival order; bundles are unpacked by python-osc."""

    def __init__(self) -> None:
        super().__init__()
        dispatcher = Dispatcher(strict_timing=False)
        dispatcher.set_default_handler(lambda address, *args: self._add(address, args))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> PythonOscReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


class RawReceiver(_Receiver):
    """A plain UDP socket: keeps every datagram (``datagrams``) and decodes it with
    python-osc's ``OscMessage``/``OscBundle`` (``elements``: each message's bytes;
    ``bundles`` as parsed)."""

    def __init__(self, family: socket.AddressFamily = socket.AF_INET) -> None:
        super().__init__()
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.datagrams: list[bytes] = []
        self.bundles: list[OscBundle] = []  # datagrams that were bundles
        self.inner_bundles: list[OscBundle] = []  # bundles inside those
        self.elements: list[bytes] = []  # every message, unpacked from bundles, in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.datagrams.append(data)
            self._unpack(data, outer=True)

    def _unpack(self, data: bytes, *, outer: bool) -> None:
        """A message, or a bundle's elements in order (bundles may nest: sample_time)."""
        if OscBundle.dgram_is_bundle(data):
            bundle = OscBundle(data)
            with self._lock:
                (self.bundles if outer else self.inner_bundles).append(bundle)
            for item in bundle:
                self._unpack(item.dgram, outer=False)
            return
        message = OscMessage(data)
        with self._lock:
            self.elements.append(data)
        self._add(message.address, tuple(message.params))

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@dataclass(frozen=True)
class DumpLine:
    at: float
    address: str
    tags: str
    args: tuple[str, ...]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OscDump:
    """``oscdump -L <port>`` in a subprocess; each printed line parsed as
    ``<timetag> <address> <tags> <args...>``. ``__enter__`` waits until it receives."""

    def __init__(self) -> None:
        self.path = oscdump_path()
        self.port = free_udp_port()
        self.lines: list[DumpLine] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            parts = raw.rstrip("\n").split(" ")
            if len(parts) < 3:
                continue
            tags = parts[2] if len(parts) > 2 else ""
            line = DumpLine(time.monotonic(), parts[1], tags, tuple(parts[3:]))
            with self._lock:
                self.lines.append(line)

    def _read_errors(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            with self._lock:
                self.errors.append(raw.rstrip("\n"))

    def snapshot(self) -> list[DumpLine]:
        with self._lock:
            return list(self.lines)

    def of(self, address: str) -> list[DumpLine]:
        return [line for line in self.snapshot() if line.address == address]

    def counts(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(line.address for line in self.snapshot() if since <= line.at < until)

    def __enter__(self) -> OscDump:
        self._proc = subprocess.Popen(
            [self.path, "-L", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        probe = encode_message("/cortex_bridge_test/probe", [1])
        deadline = time.monotonic() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.of("/cortex_bridge_test/probe"):
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.__exit__(None, None, None)
                    raise AssertionError(f"oscdump did not start: {self.errors}")
                sock.sendto(probe, ("127.0.0.1", self.port))
                time.sleep(0.05)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            for thread in self._threads:
                thread.join(5)
            for stream in (self._proc.stdout, self._proc.stderr):
                if stream is not None:
                    stream.close()
