"""The settings models: one frozen pydantic model per TOML section, and :class:`Settings`.

Each section forbids unknown keys and checks its values in its own validators, so that
a wrong setting is refused at start-up with a message naming the key, not when it is
first used. Adding a section is one model class here and one field on :class:`Settings`;
:mod:`bridge.config.keys` derives the dotted keys and environment names from the field
list, and loading and error text follow from those.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bridge.config.uris import check_stream_uri

ENV_PREFIX = "CORTEX_BRIDGE_"
ENV_NESTED_DELIMITER = "__"

StreamName = Literal["eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys"]
STREAM_NAMES: tuple[str, ...] = get_args(StreamName)
ClockMode = Literal["auto", "sync", "epoch"]
Dialect = Literal["auto", "v2", "v1"]
LogLevel = Literal["debug", "info", "warning", "error"]

TEMPLATE_PLACEHOLDERS = frozenset({"stream", "headset", "cortex_stream", "emotivpro"})
PATH_KEYS = ("client_secret_file", "ca_file")
"""Keys of ``[cortex]`` holding paths (``~`` expanded, relative to the config file)."""


class _Section(BaseModel):
    """Base of every section: unknown keys are errors and settings never change once built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _expand_path(value: object) -> object:
    """``~`` in a path means the home directory of the user the daemon runs as."""
    if isinstance(value, str) and value:
        return str(Path(value).expanduser())
    return value


class CortexSettings(_Section):
    """``[cortex]``: where Cortex is, how to authenticate, and what to subscribe."""

    url: str = Field(
        default="wss://localhost:6868", description="Cortex WebSocket URL (ws:// or wss://)"
    )
    client_id: str = Field(default="", description="Cortex application client id")
    client_secret: SecretStr = Field(default=SecretStr(""), description="Cortex application secret")
    client_secret_file: str = Field(default="", description="file holding the client secret")
    tls_verify: bool = Field(default=True, description="verify Cortex's TLS certificate")
    ca_file: str = Field(default="", description="PEM CA bundle used to verify Cortex")
    headsets: tuple[str, ...] = Field(default=(), description="headset ids or fnmatch patterns")
    streams: tuple[str, ...] = Field(
        default=STREAM_NAMES, description="Cortex streams to subscribe"
    )
    activate: bool = Field(default=True, description="ask for an activated session")
    license: str = Field(default="", description="licence id passed to authorize")
    debit: int = Field(default=0, ge=0, description="sessions to debit from the licence")
    request_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a response")
    reconnect_max_delay: float = Field(default=30.0, gt=0, description="reconnect backoff cap")
    stall_timeout: float = Field(
        default=5.0, gt=0, description="seconds without data before a session is restarted"
    )
    clock: ClockMode = Field(default="auto", description="how Cortex time maps to LSL time")
    dialect: Dialect = Field(
        default="auto", description="Cortex API dialect: v2 (Cortex 2+), v1 (Cortex 1.x) or auto"
    )
    v1_latency: float = Field(
        default=0.0, ge=0, description="Cortex 1.x: delivery latency to subtract (seconds)"
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        """Cortex speaks WebSocket only; catching ``https://`` here beats a handshake error."""
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a malformed port
        except ValueError:
            raise ValueError(f"not a valid URL: {url!r}") from None
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"must be a ws:// or wss:// URL with a host, got {url!r}")
        return url

    @field_validator("client_secret_file", "ca_file", mode="before")
    @classmethod
    def _expand_user(cls, value: object) -> object:
        return _expand_path(value)

    @field_validator("headsets")
    @classmethod
    def _check_headsets(cls, headsets: tuple[str, ...]) -> tuple[str, ...]:
        """An empty or blank pattern would silently match nothing."""
        for pattern in headsets:
            if not pattern.strip():
                raise ValueError("headset ids and patterns must not be empty")
        return headsets

    @field_validator("streams")
    @classmethod
    def _check_streams(cls, streams: tuple[str, ...]) -> tuple[str, ...]:
        """Names Cortex knows, each once: a duplicate would mean two outlets for one stream.

        Plain ``str`` rather than a ``Literal`` so that callers can treat the names as
        ordinary strings.
        """
        if not streams:
            raise ValueError("must name at least one stream")
        seen: set[str] = set()
        for name in streams:
            if name not in STREAM_NAMES:
                raise ValueError(f"unknown stream {name!r} (known: {', '.join(STREAM_NAMES)})")
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return streams


class LslSettings(_Section):
    """``[lsl]``: how outlets are named."""

    name_template: str = Field(
        default="Emotiv-{stream}-{headset}", description="LSL stream name pattern"
    )

    @field_validator("name_template")
    @classmethod
    def _check_template(cls, template: str) -> str:
        """Catch typos in placeholders at start-up, not when the first outlet is made."""
        names = template_placeholders(template)
        unknown = sorted(names - TEMPLATE_PLACEHOLDERS)
        if unknown:
            allowed = ", ".join("{" + n + "}" for n in sorted(TEMPLATE_PLACEHOLDERS))
            shown = ", ".join("{" + n + "}" for n in unknown)
            raise ValueError(f"unknown placeholder {shown} (allowed: {allowed})")
        if not template.format(stream="x", headset="x", cortex_stream="x", emotivpro="x").strip():
            raise ValueError("must not produce an empty name")
        return template


def template_placeholders(template: str) -> set[str]:
    """The placeholder names of a ``str.format`` template; ``ValueError`` if malformed."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"malformed template {template!r}: {exc}") from None
    for _literal, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if not field_name or spec or conversion:
            raise ValueError(
                f"placeholders must be plain names such as {{headset}}, got {template!r}"
            )
        names.add(field_name)
    return names


class LogSettings(_Section):
    """``[log]``: verbosity and the status line cadence."""

    level: LogLevel = Field(default="info", description="log level")
    status_interval: float = Field(default=10.0, gt=0, description="seconds between status lines")

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        """``INFO`` and ``info`` mean the same to everybody."""
        return value.lower() if isinstance(value, str) else value


OscLayout = Literal["vector", "split"]
OscBundleMode = Literal["off", "immediate", "sample_time"]
OscTimestamps = Literal["off", "lsl", "epoch"]
OscPreset = Literal["native", "emotivbci", "mindmonitor"]
_PRESET_PREFIXES = {"native": "/emotiv", "emotivbci": "", "mindmonitor": "/muse"}  # as osc_layout
# Printable ASCII except space and what OSC reserves for patterns (and "/" inside a segment).
_OSC_ADDRESS_FORBIDDEN = frozenset(" #*,?[]{}")


def parse_osc_target(text: str, lowest: int = 1) -> tuple[str, int]:
    """``host:port`` or ``[v6-address]:port`` -> (host, port); ``ValueError`` with the reason.

    Host names are allowed (resolved once when OSC starts); IPv6 literals need brackets so
    the port is unambiguous.
    """
    value = text.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{text!r}: write IPv6 targets as [address]:port, e.g. [::1]:9000")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r}: expected host:port, e.g. 127.0.0.1:9000")
        if ":" in host:
            raise ValueError(f"{text!r}: write IPv6 targets as [address]:port, e.g. [::1]:9000")
        if any(c.isspace() or c in "/@" for c in host):
            raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    if not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from {lowest} to 65535")
    return host, int(port_text)


def _osc_table(value: object) -> object:
    """Tables from the environment: ``eeg=32,pow=4`` (a list after comma-splitting) or a
    JSON object; TOML tables pass through."""
    if isinstance(value, str):
        value = [item for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        text = ",".join(value).strip()
        if text.startswith("{"):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("expected a JSON object or name=value pairs") from None
        table: dict[str, str] = {}
        for item in value:
            name, sep, setting = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"expected name=value pairs, got {item.strip()!r}")
            table[name.strip()] = setting.strip()
        return table
    return value


def _known_streams(names: Iterable[str]) -> None:
    for name in names:
        if name not in STREAM_NAMES:
            raise ValueError(f"unknown stream {name!r} (known: {', '.join(STREAM_NAMES)})")


class OscSettings(_Section):
    """``[osc]``: OSC over UDP for Max/MSP, Pure Data and TouchDesigner (issue 4)."""

    enabled: bool = Field(default=False, description="send every bridged stream as OSC")
    targets: tuple[str, ...] = Field(default=("127.0.0.1:9000",), description="UDP receivers")
    prefix: str = Field(default="/emotiv", description="address prefix; empty for none")
    layout: OscLayout = Field(default="vector", description="vector or split, every stream")
    layouts: dict[str, OscLayout] = Field(default_factory=dict, description="per-stream layout")
    streams: tuple[str, ...] = Field(default=STREAM_NAMES, description="streams sent as OSC")
    rate_caps: dict[str, float] = Field(default_factory=dict, description="stream -> max Hz")
    bundle: OscBundleMode = Field(default="off", description="off, immediate or sample_time")
    timestamps: OscTimestamps = Field(default="off", description="sample time: off, lsl, epoch")
    preset: OscPreset = Field(default="native", description="native, emotivbci or mindmonitor")
    listen: str = Field(default="127.0.0.1:7403", description="host:port for OSC requests")

    @model_validator(mode="before")
    @classmethod
    def _preset_prefix(cls, data: object) -> object:
        """A preset's own prefix ("" for EmotivBCI, "/muse") unless prefix is set."""
        if isinstance(data, dict) and "prefix" not in data:
            return {**data, "prefix": _PRESET_PREFIXES.get(data.get("preset", ""), "/emotiv")}
        return data

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, listen: str) -> str:
        """Empty for no request input; port 0 picks a free one (tests)."""
        return listen.strip() if not listen.strip() or parse_osc_target(listen, 0) else ""

    @field_validator("targets", mode="before")
    @classmethod
    def _targets_from_env(cls, value: object) -> object:
        """``[::1]:9000,host:9001`` from the environment looks like broken JSON: split it."""
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("targets")
    @classmethod
    def _check_targets(cls, targets: tuple[str, ...]) -> tuple[str, ...]:
        if not targets:
            raise ValueError("must name at least one host:port (or set enabled = false)")
        seen: set[tuple[str, int]] = set()
        for text in targets:
            parsed = parse_osc_target(text)
            if parsed in seen:
                raise ValueError(f"{text!r} is listed twice")
            seen.add(parsed)
        return tuple(t.strip() for t in targets)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, prefix: str) -> str:
        """Receivers match addresses literally; a bad character would break every route."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"must start with '/' and not end with it, e.g. \"/emotiv\", got {prefix!r}")
        for segment in prefix[1:].split("/") if prefix else ():
            if not segment:
                raise ValueError(f"empty segment ('//') in {prefix!r}")
            bad = sorted({c for c in segment if c in _OSC_ADDRESS_FORBIDDEN or not " " < c <= "~"})
            if bad:
                raise ValueError(
                    f"{prefix!r} contains {''.join(bad)!r}; OSC addresses are printable ASCII "
                    "without spaces or # * , ? [ ] { }"
                )
        return prefix

    @field_validator("layouts", "rate_caps", mode="before")
    @classmethod
    def _tables_from_env(cls, value: object) -> object:
        return _osc_table(value)

    @field_validator("layouts")
    @classmethod
    def _check_layouts(cls, layouts: dict[str, str]) -> dict[str, str]:
        _known_streams(layouts)
        return layouts

    @field_validator("rate_caps")
    @classmethod
    def _check_rate_caps(cls, caps: dict[str, float]) -> dict[str, float]:
        _known_streams(caps)
        for name, hz in caps.items():
            if not math.isfinite(hz) or hz <= 0:
                raise ValueError(f"{name}: must be a number of Hz greater than 0, got {hz!r}")
        return caps

    @field_validator("streams")
    @classmethod
    def _check_streams(cls, streams: tuple[str, ...]) -> tuple[str, ...]:
        """Each known stream at most once; empty sends only status and markers."""
        _known_streams(streams)
        duplicates = sorted({s for s in streams if streams.count(s) > 1})
        if duplicates:
            raise ValueError(f"{duplicates[0]!r} is listed twice")
        return streams

    def layout_of(self, stream: str) -> OscLayout:
        """The layout of one stream: its ``layouts`` entry, else ``layout``."""
        return self.layouts.get(stream, self.layout)


class MarkerSettings(_Section):
    """``[markers]``: LSL and OSC markers into Cortex ``injectMarker`` (issue 5)."""

    enabled: bool = Field(default=False, description="forward markers to Cortex")
    lsl_input: bool = Field(default=True, description="read LSL marker streams")
    lsl_predicate: str = Field(
        default="type='Markers'", description="XPath predicate selecting LSL marker streams"
    )
    osc_input: bool = Field(default=False, description="listen for OSC /marker messages")
    osc_host: str = Field(default="127.0.0.1", description="address the OSC marker port binds")
    osc_port: int = Field(default=7402, ge=0, le=65535, description="UDP port for OSC markers")
    queue_limit: int = Field(
        default=10_000, ge=1, description="markers kept while Cortex is unavailable"
    )
    record: bool = Field(
        default=True, description="deprecated and ignored; to be removed"
    )
    record_title: str = Field(
        default="cortex-bridge {headset} {date} {time}", description="record title template"
    )
    echo: bool = Field(default=True, description="publish the markers of the EEG stream")
    echo_int32: bool = Field(default=False, description="also publish them as int32 markers")

    @field_validator("lsl_predicate", "osc_host")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("record_title")
    @classmethod
    def _check_title(cls, template: str) -> str:
        """Placeholders checked at start-up; Cortex wants 1 to 200 characters."""
        unknown = sorted(template_placeholders(template) - RECORD_TITLE_PLACEHOLDERS)
        if unknown:
            allowed = ", ".join("{" + n + "}" for n in sorted(RECORD_TITLE_PLACEHOLDERS))
            raise ValueError(
                f"unknown placeholder {', '.join('{' + n + '}' for n in unknown)} "
                f"(allowed: {allowed})"
            )
        if not template.strip():
            raise ValueError("must not be empty (Cortex needs a record title)")
        return template


RECORD_TITLE_PLACEHOLDERS = frozenset({"headset", "date", "time"})


EmoggFrequency = Literal["1s", "3s", "5s", "10s", "30s", "1m", "5m", "10m"]
EMOGG_CHANNELS = (
    "session_emotions_intensities",
    "session_emotions_counts",
    "session_worker_state",
)
EMOGG_EMOTIONS = (
    "exaltation", "focus", "shock", "seriousness", "fatigue", "disgust", "overwhelming",
)  # fmt: skip
"""Name of the systemd credential holding the Emogg API token."""
_EMOTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class EmoggSettings(_Section):
    """``[emogg]``: audience emotion from Emogg as a second source (issue 9)."""

    enabled: bool = Field(default=False, description="run the Emogg source")
    api_url: str = Field(default="https://api.emogg.com/v1", description="Emogg REST base URL")
    ws_url: str = Field(default="wss://api.emogg.com/ws/v1", description="Emogg WebSocket URL")
    token: SecretStr = Field(default=SecretStr(""), description="Emogg API token")
    token_file: str = Field(default="", description="file holding the Emogg API token")
    session_id: str = Field(default="", description="follow this existing session")
    session_name: str = Field(default="cortex-bridge", description="name of a created session")
    stream_uri: SecretStr = Field(default=SecretStr(""), description="rtmp/rtsp/rtmps stream")
    frequency: EmoggFrequency = Field(default="1s", description="analysis window per event")
    channels: tuple[str, ...] = Field(default=EMOGG_CHANNELS, description="channels to follow")
    emotions: tuple[str, ...] = Field(default=EMOGG_EMOTIONS, description="LSL channel order")
    ping_interval: float = Field(default=30.0, gt=0, lt=65, description="seconds between pings")
    request_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a reply")
    reconnect_max_delay: float = Field(default=60.0, gt=0, description="reconnect backoff cap")
    source_id: str = Field(default="emogg", description="stable id of the Emogg outlets")
    name_template: str = Field(default="Emogg-{stream}", description="LSL stream name pattern")

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, url: str) -> str:
        return _check_url_scheme(url, ("http", "https"))

    @field_validator("ws_url")
    @classmethod
    def _check_ws_url(cls, url: str) -> str:
        return _check_url_scheme(url, ("ws", "wss"))

    @field_validator("token_file", mode="before")
    @classmethod
    def _expand_user(cls, value: object) -> object:
        return _expand_path(value)

    @field_validator("session_name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        """Emogg allows at most 256 characters [D]; an empty name would be refused."""
        if not name.strip():
            raise ValueError("must not be empty")
        if len(name) > 256:
            raise ValueError(f"at most 256 characters, got {len(name)}")
        return name

    @field_validator("stream_uri")
    @classmethod
    def _check_stream_uri(cls, uri: SecretStr) -> SecretStr:
        """Emogg pulls rtmp, rtsp or rtmps only [D]. The URI is secret: it usually
        carries a stream key, so no message shows more than its scheme."""
        text = uri.get_secret_value()
        if text:
            check_stream_uri(text)
        return uri

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, channels: tuple[str, ...]) -> tuple[str, ...]:
        return _unique_names(channels, EMOGG_CHANNELS, "channel")

    @field_validator("emotions")
    @classmethod
    def _check_emotions(cls, emotions: tuple[str, ...]) -> tuple[str, ...]:
        """Any names (the full set is not published), each once: they are LSL channels."""
        if not emotions:
            raise ValueError("must name at least one emotion")
        for name in emotions:
            if not _EMOTION_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an emotion name (letters, digits, _)")
        if len(set(emotions)) != len(emotions):
            raise ValueError("an emotion is listed twice")
        return emotions

    @field_validator("source_id")
    @classmethod
    def _check_source_id(cls, value: str) -> str:
        """Part of every outlet's source_id: stable, non-empty, no ':' (the separator)."""
        if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
            raise ValueError(f"use letters, digits, '.', '_' or '-', got {value!r}")
        return value

    @field_validator("name_template")
    @classmethod
    def _check_template(cls, template: str) -> str:
        names = template_placeholders(template)
        unknown = sorted(names - {"stream", "headset"})
        if unknown:
            shown = ", ".join("{" + n + "}" for n in unknown)
            raise ValueError(f"unknown placeholder {shown} (allowed: {{stream}}, {{headset}})")
        if "stream" not in names:
            raise ValueError("must contain {stream}, or the Emogg outlets all get one name")
        return template


def _check_url_scheme(url: str, schemes: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise ValueError(f"not a valid URL: {url!r}") from None
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"must be a {wanted} URL with a host, got {url!r}")
    return url


def _unique_names(names: tuple[str, ...], known: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not names:
        raise ValueError(f"must name at least one {what}")
    for name in names:
        if name not in known:
            raise ValueError(f"unknown {what} {name!r} (known: {', '.join(known)})")
    if len(set(names)) != len(names):
        raise ValueError(f"a {what} is listed twice")
    return names


class Settings(BaseSettings):
    """The whole configuration; one field per TOML section."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
        env_ignore_empty=True,
    )

    # Section defaults are shared instances: they are frozen, so sharing is safe.
    cortex: CortexSettings = CortexSettings()
    lsl: LslSettings = LslSettings()
    log: LogSettings = LogSettings()
    osc: OscSettings = OscSettings()
    markers: MarkerSettings = MarkerSettings()
    emogg: EmoggSettings = EmoggSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only explicit values: :func:`load_settings` gathers file and environment itself."""
        return (init_settings,)

    @model_validator(mode="after")
    def _names_unique_per_headset(self) -> Settings:
        """Without ``{headset}``, two headsets would publish outlets with the same name."""
        if "headset" in template_placeholders(self.lsl.name_template):
            return self
        if _may_match_several(self.cortex.headsets):
            raise ValueError(
                "lsl.name_template: must contain {headset} when cortex.headsets can match "
                "more than one headset"
            )
        return self


def _may_match_several(patterns: Sequence[str]) -> bool:
    """Empty means "the first headset"; one id without wildcards is one headset."""
    if not patterns:
        return False
    return len(patterns) > 1 or any(c in patterns[0] for c in "*?[")


def may_match_several(patterns: Sequence[str]) -> bool:
    """Whether ``cortex.headsets`` can select more than one headset (then names and OSC
    addresses carry the headset id)."""
    return _may_match_several(patterns)
