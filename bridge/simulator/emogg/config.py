"""The Emogg simulator's settings: one dataclass for the CLI, the tests and the demo.

Documented limits are the defaults (65 s idle, 90 connections / 60 s / IP, 80 messages
/ 60 s / user, 5 subscriptions per connection, 10 per user); tests shrink them.
Everything marked [U] in ``docs/emogg-simulator.md`` is our choice, not Emogg's.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TOKEN = "emogg-demo-token"  # a public demo value, not a secret


@dataclass
class EmoggSimulatorConfig:
    """Everything that shapes one Emogg simulator run. Ports 0 pick free ports."""

    host: str = "127.0.0.1"
    http_port: int = 8700  # REST: http://HOST:PORT/v1 [U]
    ws_port: int = 8701  # WebSocket: ws://HOST:PORT/ws/v1 [U]
    token: str = DEFAULT_TOKEN
    seed: int | None = None
    faces: int = 12  # people in view of the virtual camera [U]

    # Documented limits [D]
    idle_timeout_s: float = 65.0
    connections_per_window: int = 90
    messages_per_window: int = 80
    limit_window_s: float = 60.0
    subscriptions_per_connection: int = 5
    subscriptions_per_user: int = 10

    # REST token bucket [U] (the real numbers are not published)
    rest_bucket: int = 60
    rest_refill_per_s: float = 1.0

    worker_start_s: float = 1.0  # "starting" -> "working" after this long [U]
    unavailable_creates: int = 0  # the first N creates answer 503 [U]
    ts_format: str = "iso"  # event timestamps: "iso", "ms" or "mixed" [D?]
    id_echo: str = "echo"  # reply ids: "echo", "null" or "random" [D?]
    sei_zeros: bool = False  # list emotions nobody showed in sei (else omitted) [U]
    extra_emotion: str = ""  # an emotion beyond the seven known ones [U]
    skip_empty_windows: bool = True  # no event for a window without faces [U]
    tick_s: float = 0.05
