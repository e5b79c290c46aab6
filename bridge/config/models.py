"""The settings models: one frozen pydantic model per TOML section, and :class:`Settings`.

Each section forbids unknown keys and checks its values in its own validators, so that
a wrong setting is refused at start-up with a message naming the key, not when it is
first used. Adding a section is one model class here and one field on :class:`Settings`;
:mod:`bridge.config.keys` derives the dotted keys and environment names from the field
list, and loading and error text follow from those.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import (
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

from bridge.config.lslquery import lsl_predicate_problem
from bridge.config.osc import (
    OscSettings,
)
from bridge.config.section import STREAM_NAMES
from bridge.config.section import Section as _Section
from bridge.config.uris import check_stream_uri, host_problem, url_problem

ENV_PREFIX = "CORTEX_BRIDGE_"
ENV_NESTED_DELIMITER = "__"

ClockMode = Literal["auto", "sync", "epoch"]
Dialect = Literal["auto", "v2", "v1"]
LogLevel = Literal["debug", "info", "warning", "error"]

TEMPLATE_PLACEHOLDERS = frozenset({"stream", "headset", "cortex_stream", "emotivpro", "host"})
PATH_KEYS = ("client_secret_file", "ca_file")
"""Keys of ``[cortex]`` holding paths (``~`` expanded, relative to the config file)."""


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
    request_timeout: float = Field(
        default=10.0, ge=0.5, le=300, description="seconds to wait for a response"
    )
    reconnect_max_delay: float = Field(
        default=30.0, ge=0.25, le=3600, description="reconnect backoff cap (>= its first 0.25 s)"
    )
    stall_timeout: float = Field(
        default=5.0, ge=0.5, le=3600,
        description="seconds without data before a session is restarted",
    )
    clock: ClockMode = Field(default="auto", description="how Cortex time maps to LSL time")
    dialect: Dialect = Field(
        default="auto", description="Cortex API dialect: v2 (Cortex 2+), v1 (Cortex 1.x) or auto"
    )
    v1_latency: float = Field(
        default=0.0, ge=0, le=10, description="Cortex 1.x: delivery latency to subtract (seconds)"
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        """Cortex speaks WebSocket only; catching ``https://`` here beats a handshake error.

        The port must be written out: Cortex listens on 6868 (54321 for Cortex 1.x),
        never on the scheme's default 443 or 80 that a URL without one would reach.
        """
        problem = url_problem(url, ("ws", "wss"), port_required=True)
        if problem is not None:
            raise ValueError(problem)
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
        if not template.format(stream="x", headset="x", cortex_stream="x", emotivpro="x",
                               host="x").strip():
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
    status_interval: float = Field(
        default=10.0, ge=1, le=86400, description="seconds between status lines"
    )

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        """``INFO`` and ``info`` mean the same to everybody."""
        return value.lower() if isinstance(value, str) else value


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

    @field_validator("lsl_predicate")
    @classmethod
    def _check_predicate(cls, predicate: str) -> str:
        """liblsl matches an invalid predicate against nothing, silently: the marker
        input would simply never find a stream. liblsl itself judges it here."""
        problem = lsl_predicate_problem(predicate)
        if problem is not None:
            raise ValueError(problem)
        return predicate

    @field_validator("osc_host")
    @classmethod
    def _check_osc_host(cls, host: str) -> str:
        problem = host_problem(host)
        if problem is not None:
            raise ValueError(f"{problem} (an address of this machine to listen on, e.g. 127.0.0.1)")
        return host

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
    ping_interval: float = Field(
        default=30.0, ge=0.1, lt=65, description="seconds between pings"
    )
    request_timeout: float = Field(
        default=10.0, ge=0.5, le=300, description="seconds to wait for a reply"
    )
    reconnect_max_delay: float = Field(
        default=60.0, ge=1, le=3600, description="reconnect backoff cap (>= its first 1 s)"
    )
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
    """Emogg's URLs may leave the port out: Emogg serves on the scheme's default."""
    problem = url_problem(url, schemes, port_required=False)
    if problem is not None:
        raise ValueError(problem)
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


class StatusSettings(_Section):
    """``[status]``: the status page, the diagnostics and status LSL streams, remote
    control (issue 19)."""

    listen: str = Field(
        default="127.0.0.1:7380", description="host:port of the status page; empty: off"
    )
    name: str = Field(default="", description="this bridge's name on the LSL network; "
                      "empty: the host name")
    lsl: bool = Field(default=True, description="publish the diagnostics and status streams")
    control: bool = Field(default=False, description="accept record and marker commands")
    control_remote: bool = Field(
        default=False, description="accept them from other machines too, not only loopback"
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        if not value:
            return value
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("use host:port, e.g. 127.0.0.1:7380, or \"\" for off")
        return value

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
            raise ValueError("letters, digits, '.', '_' and '-' only (it is part of source ids)")
        return value


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
    status: StatusSettings = StatusSettings()

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
