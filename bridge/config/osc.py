"""The ``[osc]`` section: targets (each with its bundle switch), layouts, caps, time
stamps, presets."""

from __future__ import annotations

import ipaddress
import json
import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bridge.config.section import STREAM_NAMES
from bridge.config.section import Section as _Section
from bridge.config.section import known_streams as _known_streams
from bridge.config.uris import host_problem

OscLayout = Literal["vector", "split"]
OscBundleMode = bool | Literal["sample_time"]
_OLD_BUNDLE_SPELLINGS = {"off": False, "immediate": True}
"""Before bundles were per loop tick, ``bundle`` took "off" and "immediate" (one bundle per
sample): still read, as false and true."""
MAX_UDP_PAYLOAD = 65_507
"""The largest UDP payload over IPv4 (65 535 - 8 UDP - 20 IP header bytes)."""
MIN_BUNDLE_DATAGRAM = 1_472
"""``max_datagram`` may not go below one Ethernet frame's payload: every single message is
built to fit that (with a bundle's header), so it always fits a bundle of its own."""
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
        problem = host_problem(host)
        if problem is not None:
            raise ValueError(f"{text[:60]!r}: {problem}")
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


class OscTarget(_Section):
    """One receiver: ``"host:port"`` in ``targets``, or ``{ target = "host:port", bundle =
    false }`` for a receiver that does not take OSC bundles."""

    target: str = Field(description="host:port or [IPv6]:port")
    bundle: bool | None = Field(default=None, description="bundles to this target; unset: osc.bundle")

    def __str__(self) -> str:
        return self.target


class OscSettings(_Section):
    """``[osc]``: OSC over UDP for Max/MSP, Pure Data and TouchDesigner (issue 4)."""

    enabled: bool = Field(default=False, description="send every bridged stream as OSC")
    targets: tuple[OscTarget, ...] = Field(
        default=(OscTarget(target="127.0.0.1:9000"),),
        description='UDP receivers: "host:port" or { target = "host:port", bundle = false }',
    )
    prefix: str = Field(default="/emotiv", description="address prefix; empty for none")
    layout: OscLayout = Field(default="vector", description="vector or split, every stream")
    layouts: dict[str, OscLayout] = Field(default_factory=dict, description="per-stream layout")
    streams: tuple[str, ...] = Field(default=STREAM_NAMES, description="streams sent as OSC")
    rate_caps: dict[str, float] = Field(default_factory=dict, description="stream -> max Hz")
    bundle: OscBundleMode = Field(
        default=True, description="one bundle per loop tick and target; false, or sample_time"
    )
    max_datagram: int = Field(
        default=8192, ge=MIN_BUNDLE_DATAGRAM, le=MAX_UDP_PAYLOAD,
        description="largest bundle datagram in bytes",
    )
    timestamps: OscTimestamps = Field(default="off", description="sample time: off, lsl, epoch")
    preset: OscPreset = Field(default="native", description="native, emotivbci or mindmonitor")
    listen: str = Field(default="127.0.0.1:7403", description="host:port for OSC requests")

    @model_validator(mode="before")
    @classmethod
    def _preset_prefix(cls, data: object) -> object:
        """A preset's own prefix ("" for EmotivBCI, "/muse") unless prefix is set."""
        if isinstance(data, dict) and "prefix" not in data:
            preset = data.get("preset", "")
            prefix = _PRESET_PREFIXES.get(preset, "/emotiv") if isinstance(preset, str) else None
            # Not a string: the field's own validation says so, one line.
            return {**data, "prefix": prefix} if prefix is not None else data
        return data

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, listen: str) -> str:
        """Empty for no request input; port 0 picks a free one (tests)."""
        return listen.strip() if not listen.strip() or parse_osc_target(listen, 0) else ""

    @field_validator("targets", mode="before")
    @classmethod
    def _targets_from_env(cls, value: object) -> object:
        """``[::1]:9000,host:9001`` from the environment looks like broken JSON: split it.
        A plain ``"host:port"`` is a target with the section's ``bundle``."""
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple):
            return [{"target": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("targets")
    @classmethod
    def _check_targets(cls, targets: tuple[OscTarget, ...]) -> tuple[OscTarget, ...]:
        if not targets:
            raise ValueError("must name at least one host:port (or set enabled = false)")
        seen: set[tuple[str, int]] = set()
        for target in targets:
            parsed = parse_osc_target(target.target)
            if parsed in seen:
                raise ValueError(f"{target.target!r} is listed twice")
            seen.add(parsed)
        return tuple(t.model_copy(update={"target": t.target.strip()}) for t in targets)

    @field_validator("bundle", mode="before")
    @classmethod
    def _old_bundle_spellings(cls, value: object) -> object:
        """"off"/"immediate" (per-sample bundles, before) read as false/true; a string
        from the environment is a TOML word ("false", "sample_time")."""
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _OLD_BUNDLE_SPELLINGS:
                return _OLD_BUNDLE_SPELLINGS[word]
            if word in ("true", "false"):
                return word == "true"
            if word != "sample_time":
                raise ValueError(f"expected true, false or 'sample_time', got {value!r}")
            return word
        return value

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

    def bundles_to(self, target: OscTarget) -> bool:
        """Whether ``target`` gets bundles: its own ``bundle``, else the section's."""
        return target.bundle if target.bundle is not None else self.bundle is not False

    def layout_of(self, stream: str) -> OscLayout:
        """The layout of one stream: its ``layouts`` entry, else ``layout``."""
        return self.layouts.get(stream, self.layout)


