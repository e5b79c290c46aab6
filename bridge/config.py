"""Configuration: a TOML file, overridden by ``CORTEX_BRIDGE_<SECTION>__<KEY>`` variables.

The models are pydantic-settings models (``extra="forbid"``, frozen), one class per TOML
section. :func:`load_settings` is the only way the daemon builds its settings: it reads
the two pydantic-settings sources (the TOML file and the environment) explicitly and
merges them (environment wins) instead of letting ``Settings()`` read ``os.environ`` on
its own, so that loading is a pure function of ``(path, environ)`` and tests never touch
the process environment.

Every problem becomes one line naming the dotted key, collected into a single
:class:`~bridge.errors.ConfigError`. pydantic's own messages quote the offending input,
which would leak a mistyped secret, so messages are built here from each error's ``loc``,
``type`` and context, and the inputs of secret fields are never shown.

Adding a section (``[osc]``, ``[markers]``) is one model class and one field on
:class:`Settings`; environment mapping, unknown-key detection and error messages follow
from the field list.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import stat
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridge.errors import ConfigError

ENV_PREFIX = "CORTEX_BRIDGE_"
ENV_NESTED_DELIMITER = "__"
CREDENTIAL_NAME = "client_secret"
"""Name of the systemd credential (``LoadCredential=client_secret:/path``)."""

StreamName = Literal["eeg", "mot", "dev", "eq", "pow", "met", "com", "fac", "sys"]
STREAM_NAMES: tuple[str, ...] = get_args(StreamName)
ClockMode = Literal["auto", "sync", "epoch"]
Dialect = Literal["auto", "v2", "v1"]
LogLevel = Literal["debug", "info", "warning", "error"]

TEMPLATE_PLACEHOLDERS = frozenset({"stream", "headset", "cortex_stream", "emotivpro"})
_PATH_KEYS = ("client_secret_file", "ca_file")


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
# Printable ASCII except space and what OSC reserves for patterns (and "/" inside a segment).
_OSC_ADDRESS_FORBIDDEN = frozenset(" #*,?[]{}")


def parse_osc_target(text: str) -> tuple[str, int]:
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
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
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
    targets: tuple[str, ...] = Field(
        default=("127.0.0.1:9000",), description="UDP receivers as host:port or [v6]:port"
    )
    prefix: str = Field(default="/emotiv", description="address prefix; empty for none")
    layout: OscLayout = Field(default="vector", description="vector or split, every stream")
    layouts: dict[str, OscLayout] = Field(default_factory=dict, description="per-stream layout")
    streams: tuple[str, ...] = Field(default=STREAM_NAMES, description="streams sent as OSC")
    rate_caps: dict[str, float] = Field(
        default_factory=dict, description="stream -> highest message rate in Hz"
    )
    bundle: OscBundleMode = Field(default="off", description="off, immediate or sample_time")
    timestamps: OscTimestamps = Field(
        default="off", description="sample time as two ints (s, us) in data messages"
    )

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
        if not prefix:
            return prefix
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"must start with '/' and not end with it, e.g. \"/emotiv\", got {prefix!r}")
        for segment in prefix[1:].split("/"):
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
    record: bool = Field(default=True, description="open a Cortex record per session")
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

    @field_validator("record")
    @classmethod
    def _record_needed(cls, record: bool, info: ValidationInfo) -> bool:
        """``enabled`` is validated first (field order), so it is in ``info.data``."""
        if info.data.get("enabled") and not record:
            raise ValueError(
                "must be true when markers.enabled is true (Cortex 2.x accepts "
                "injectMarker only while a record is open in the session)"
            )
        return record


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
EMOGG_CREDENTIAL_NAME = "emogg_token"
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
            from bridge.sources.emogg.protocol import check_stream_uri

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


# --- sections and keys, derived from the models -------------------------------------------


def _section_models() -> dict[str, type[BaseModel]]:
    """Section name -> model class, read from :class:`Settings` so new sections need no code here."""
    sections: dict[str, type[BaseModel]] = {}
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections[name] = annotation
    return sections


def setting_keys() -> list[str]:
    """Every dotted key (``cortex.url`` ...), in declaration order."""
    return [
        f"{section}.{key}"
        for section, model in _section_models().items()
        for key in model.model_fields
    ]


def env_var_name(dotted_key: str) -> str:
    """``cortex.url`` -> ``CORTEX_BRIDGE_CORTEX__URL``."""
    section, key = dotted_key.split(".", 1)
    return f"{ENV_PREFIX}{section.upper()}{ENV_NESTED_DELIMITER}{key.upper()}"


def _field(dotted_key: str) -> FieldInfo | None:
    section, _, key = dotted_key.partition(".")
    model = _section_models().get(section)
    return model.model_fields.get(key) if model else None


def _secret_keys() -> frozenset[str]:
    """Dotted keys whose values must never be shown (every ``SecretStr`` field)."""
    return frozenset(k for k in setting_keys() if (f := _field(k)) and f.annotation is SecretStr)


# --- environment ----------------------------------------------------------------------------


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, fed from a given mapping.

    List values are JSON (``["eeg","met"]``) or comma-separated (``eeg,met``); malformed
    JSON is passed through as text so that validation reports it against the key.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items() if value}

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return value
        return [item.strip() for item in text.split(",") if item.strip()]


def _scan_environ(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Split ``CORTEX_BRIDGE_*`` variables into known ones and problems.

    Returns ``(known variables, dotted key -> variable name, problem lines)``. Empty
    variables count as unset (systemd's ``Environment=NAME=`` idiom).
    """
    sections = _section_models()
    known: dict[str, str] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX) or not value:
            continue
        section, sep, key = name[len(ENV_PREFIX) :].lower().partition(ENV_NESTED_DELIMITER)
        if not sep or section not in sections or not key:
            problems.append(
                f"{name}: not a setting (expected {ENV_PREFIX}<SECTION>{ENV_NESTED_DELIMITER}"
                f"<KEY> with a section of {', '.join(sections)})"
            )
        elif key not in sections[section].model_fields:
            problems.append(f"{section}.{key}: unknown key (from {name})")
        else:
            known[name] = value
            origin[f"{section}.{key}"] = name
    return known, origin, problems


# --- the file -------------------------------------------------------------------------------

_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|(?P<end>end of document))\)$"
)


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's tables, with relative paths made relative to the file's directory."""
    shown = f"config file {path}"
    if not path.exists():
        raise ConfigError([f"{shown}: not found"])
    if not path.is_file():
        raise ConfigError([f"{shown}: not a regular file"])
    try:
        data = TomlConfigSettingsSource(Settings, toml_file=path)()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{shown}: {_toml_error(exc)}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{shown}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror or exc}"]) from None
    _anchor_paths(data, path.parent)
    return data


def _toml_error(exc: tomllib.TOMLDecodeError) -> str:
    """``line 3: <message> (column 5)`` from tomllib's ``<message> (at line 3, column 5)``."""
    text = str(exc)
    match = _TOML_POSITION.match(text)
    if not match:
        return text
    if match["end"]:
        return f"at end of file: {match['msg']}"
    return f"line {match['line']}: {match['msg']} (column {match['col']})"


def _anchor_paths(data: dict[str, Any], directory: Path) -> None:
    """A relative path in a config file means next to that file, whatever the working dir."""
    for section_name, keys in (("cortex", _PATH_KEYS), ("emogg", ("token_file",))):
        section = data.get(section_name)
        if not isinstance(section, dict):
            continue
        for key in keys:
            value = section.get(key)
            if isinstance(value, str) and value:
                path = Path(value).expanduser()
                section[key] = str(path if path.is_absolute() else directory / path)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``top``, tables merged key by key."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- error messages -------------------------------------------------------------------------

_EXPECTED = {
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "dict_type": "expected a table",
}


def _show(value: object) -> str:
    """A value as the operator wrote it (TOML spelling for booleans), kept short."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping):
        text = "a table"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error: Mapping[str, Any], secret: bool) -> str:
    """The text after ``key:`` for one pydantic error; inputs of secret fields never appear."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = "" if secret or "input" not in error else f", got {_show(error['input'])}"
    if kind in _EXPECTED:
        return _EXPECTED[kind] + got
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the allowed values')}{got}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }
        bound = next(iter(ctx.values()), "?")
        bound = f"{bound:g}" if isinstance(bound, float) else bound
        return f"must be {words[kind]} {bound}{got}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if secret:
        return "invalid value"
    return str(error["msg"]) + got


def _format_error(
    error: Mapping[str, Any], origin: Mapping[str, str], secrets: frozenset[str]
) -> str:
    loc = tuple(error["loc"])
    key = _dotted(loc)
    if not loc:
        # model validators name their keys themselves ("lsl.name_template: ...")
        return _describe(error, secret=True)
    section_key = ".".join(str(p) for p in loc[:2])
    secret = section_key in secrets
    if error["type"] == "extra_forbidden":
        if len(loc) == 1 and not isinstance(error.get("input"), Mapping):
            text = f"unknown key (settings belong in a section: {', '.join(_section_models())})"
        else:
            text = "unknown section" if len(loc) == 1 else "unknown key"
    else:
        text = _describe(error, secret)
    source = origin.get(section_key)
    if source and error["type"] in ("list_type", "tuple_type"):
        text = text.replace("expected a list", "expected a JSON list or comma-separated values")
    return f"{key}: {text}" + (f" (from {source})" if source else "")


def _problems(exc: ValidationError, origin: Mapping[str, str]) -> list[str]:
    """One line per validation error; see the module docstring for why not ``str(exc)``."""
    secrets = _secret_keys()
    return [_format_error(e, origin, secrets) for e in exc.errors(include_url=False)]


def _validate(data: Mapping[str, Any], origin: Mapping[str, str]) -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, origin)) from None


# --- public API -----------------------------------------------------------------------------


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the TOML file at ``path`` (if any), overridden by ``environ``.

    ``environ`` defaults to ``os.environ``. Raises :class:`ConfigError` with one line
    per problem, each naming the dotted key (and the variable, if the value came from
    the environment). Relative paths in the file are relative to the file's directory.
    """
    env = os.environ if environ is None else environ
    known, origin, problems = _scan_environ(env)
    file_data: dict[str, Any] = {}
    if path is not None:
        try:
            file_data = _read_toml(Path(path))
        except ConfigError as exc:
            raise ConfigError(exc.problems + problems) from None
    env_data = _MappingEnvSource(Settings, known)()
    try:
        settings = _validate(_deep_merge(file_data, env_data), origin)
    except ConfigError as exc:
        raise ConfigError(problems + exc.problems) from None
    if problems:
        raise ConfigError(problems)
    return settings


def apply_overrides(settings: Settings, overrides: Mapping[str, object]) -> Settings:
    """``settings`` with dotted keys replaced (command-line flags beat file and env).

    The result is validated like everything else; an invalid or unknown key raises
    :class:`ConfigError` naming it.
    """
    data: dict[str, Any] = settings.model_dump()
    origin: dict[str, str] = {}
    problems: list[str] = []
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if _field(dotted) is None:
            problems.append(f"{dotted}: unknown key")
            continue
        data[section] = {**data[section], key: value}
        origin[dotted] = "the command line"
    if problems:
        raise ConfigError(problems)
    return _validate(data, origin)


def resolve_client_secret(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The client secret: the configured value, else ``client_secret_file``, else the
    systemd credential ``$CREDENTIALS_DIRECTORY/client_secret``.

    A trailing newline in a file is stripped (editors and ``echo`` add one). Raises
    :class:`ConfigError` naming the key when there is no secret or a file can't be read;
    the secret itself never appears in a message.
    """
    cortex = settings.cortex
    return _resolve_secret(cortex.client_secret.get_secret_value(), cortex.client_secret_file,
                           "cortex.client_secret", CREDENTIAL_NAME, environ)


def _resolve_secret(
    value: str, file: str | None, key: str, credential: str,
    environ: Mapping[str, str] | None,
) -> str:
    """``value``, else the file ``<key>_file`` names, else the systemd credential
    ``$CREDENTIALS_DIRECTORY/<credential>``; a :class:`ConfigError` naming every way
    to set it when none is there."""
    if value:
        return value
    if file:
        return _read_secret(Path(file), f"{key}_file")
    env = os.environ if environ is None else environ
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials:
        candidate = Path(credentials) / credential
        if candidate.exists():
            return _read_secret(candidate, f"{key} (systemd credential)")
    raise ConfigError(
        [
            f"{key}: not set (set {key}, {key}_file, {env_var_name(key)}, "
            f"or a systemd credential named {credential})"
        ]
    )


def _read_secret(path: Path, key: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{key}: {path}: not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{key}: {path}: cannot read: {exc.strerror or 'error'}"]) from None
    try:
        secret = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError([f"{key}: {path}: not UTF-8 text"]) from None
    if not secret:
        raise ConfigError([f"{key}: {path}: is empty"])
    return secret


def preflight(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """What ``run`` and ``check`` need beyond a valid file: credentials and a readable CA.

    Kept out of :func:`load_settings` so that example configs (which name paths on a
    production machine) load anywhere. Raises :class:`ConfigError` listing every problem.
    """
    problems: list[str] = []
    if not settings.cortex.client_id:
        problems.append(
            "cortex.client_id: not set (set it in the config file or "
            f"{env_var_name('cortex.client_id')})"
        )
    try:
        resolve_client_secret(settings, environ)
    except ConfigError as exc:
        problems.extend(exc.problems)
    ca_file = settings.cortex.ca_file
    if ca_file and not os.access(ca_file, os.R_OK):
        reason = "not found" if not Path(ca_file).exists() else "not readable"
        problems.append(f"cortex.ca_file: {ca_file}: {reason}")
    problems.extend(emogg_problems(settings, environ))
    if problems:
        raise ConfigError(problems)


def emogg_problems(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """What an enabled Emogg source needs before it starts: a token and a stream (or a
    session to follow). Empty when ``emogg.enabled`` is false."""
    emogg = settings.emogg
    if not emogg.enabled:
        return []
    problems: list[str] = []
    try:
        resolve_emogg_token(emogg, environ)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if not emogg.session_id and not emogg.stream_uri.get_secret_value():
        problems.append(
            "emogg.stream_uri: not set (the rtmp://, rtsp:// or rtmps:// stream Emogg should "
            "analyse), or set emogg.session_id to follow an existing session"
        )
    return problems


def resolve_emogg_token(emogg: EmoggSettings, environ: Mapping[str, str] | None = None) -> str:
    """The Emogg API token: ``emogg.token``, else ``emogg.token_file``, else the systemd
    credential ``$CREDENTIALS_DIRECTORY/emogg_token``. Never part of a message."""
    return _resolve_secret(emogg.token.get_secret_value().strip(), emogg.token_file,
                           "emogg.token", EMOGG_CREDENTIAL_NAME, environ)


def secret_file_warnings(path: Path) -> list[str]:
    """A warning if ``path`` holds a secret and group or others may read it.

    ``path`` is a config file (it holds a secret when ``cortex.client_secret`` is set in
    it) or a secret file (anything that is not a cortex-bridge config). No warning for a
    missing file or on Windows, where mode bits mean nothing. The secret is never read
    into the message.
    """
    if os.name == "nt":
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if not mode & (stat.S_IRGRP | stat.S_IROTH) or not _holds_secret(path):
        return []
    return [
        f"{path} holds a secret and is readable by group or others "
        f"(mode {stat.S_IMODE(mode):04o}); restrict it with: chmod go-rwx {path}"
    ]


def _holds_secret(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # not a TOML config: a raw secret file (or unreadable: assume the worst)
    if not any(isinstance(data.get(s), dict) for s in _section_models()):
        return True
    cortex = data.get("cortex")
    emogg = data.get("emogg")
    return (isinstance(cortex, dict) and bool(cortex.get("client_secret"))) or (
        isinstance(emogg, dict) and bool(emogg.get("token"))
    )
