"""``[osc]`` settings: defaults, file and environment forms, one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import (
    STREAM_NAMES,
    load_settings,
    may_match_several,
    parse_osc_target,
)
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ)
    return info.value.problems


def test_defaults() -> None:
    osc = load_settings(None, {}).osc
    assert osc.enabled is False
    assert [str(t) for t in osc.targets] == ["127.0.0.1:9000"]
    assert (osc.prefix, osc.layout, osc.bundle, osc.timestamps) == (
        "/emotiv", "vector", True, "off"
    )
    assert osc.bundles_to(osc.targets[0]) and osc.max_datagram == 8192
    assert osc.streams == STREAM_NAMES
    assert osc.layouts == {} and osc.rate_caps == {}


def test_file_form(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[osc]\nenabled = true\ntargets = ["127.0.0.1:9000", "[::1]:9001", "studio.local:7000"]\n'
        'prefix = "/bci/one"\nlayout = "split"\nlayouts = { eeg = "vector" }\n'
        'streams = ["eeg", "met"]\nrate_caps = { eeg = 32, met = 0.5 }\n'
        'bundle = "sample_time"\ntimestamps = "epoch"\n',
        encoding="utf-8",
    )
    osc = load_settings(path, {}).osc
    assert [str(t) for t in osc.targets] == ["127.0.0.1:9000", "[::1]:9001", "studio.local:7000"]
    assert osc.layout_of("eeg") == "vector" and osc.layout_of("met") == "split"
    assert osc.rate_caps == {"eeg": 32.0, "met": 0.5}
    assert (osc.prefix, osc.bundle, osc.timestamps) == ("/bci/one", "sample_time", "epoch")


def test_per_target_bundle_switch(tmp_path: Path) -> None:
    """A receiver that takes no bundles is a table with bundle = false; a plain host:port
    follows the section's bundle (true unless set); the old spellings still read."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[osc]\ntargets = ["127.0.0.1:9000", { target = "127.0.0.1:9001", bundle = false },\n'
        '  { target = "[::1]:9002", bundle = true }]\nmax_datagram = 1472\n',
        encoding="utf-8",
    )
    osc = load_settings(path, {}).osc
    assert [(str(t), osc.bundles_to(t)) for t in osc.targets] == [
        ("127.0.0.1:9000", True), ("127.0.0.1:9001", False), ("[::1]:9002", True)]
    assert osc.max_datagram == 1472
    off = load_settings(path, {"CORTEX_BRIDGE_OSC__BUNDLE": "false"}).osc
    assert [off.bundles_to(t) for t in off.targets] == [False, False, True]
    for old, new in (("off", False), ("immediate", True), ("sample_time", "sample_time")):
        assert load_settings(None, {"CORTEX_BRIDGE_OSC__BUNDLE": old}).osc.bundle == new
    env = load_settings(None, {"CORTEX_BRIDGE_OSC__TARGETS":
                               '["127.0.0.1:9000", {"target": "127.0.0.1:9001", "bundle": false}]'})
    assert [env.osc.bundles_to(t) for t in env.osc.targets] == [True, False]


def test_environment_forms() -> None:
    osc = load_settings(
        None,
        {
            "CORTEX_BRIDGE_OSC__TARGETS": "[::1]:9000, 127.0.0.1:9001",
            "CORTEX_BRIDGE_OSC__RATE_CAPS": "eeg=32, pow=4",
            "CORTEX_BRIDGE_OSC__LAYOUTS": '{"met": "split"}',
            "CORTEX_BRIDGE_OSC__STREAMS": "met,com",
            "CORTEX_BRIDGE_OSC__PREFIX": "",
        },
    ).osc
    assert [str(t) for t in osc.targets] == ["[::1]:9000", "127.0.0.1:9001"]
    assert osc.rate_caps == {"eeg": 32.0, "pow": 4.0}
    assert osc.layouts == {"met": "split"}
    assert osc.streams == ("met", "com")
    assert osc.prefix == "/emotiv"  # an empty variable counts as unset


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TARGETS", "::1:9000", "osc.targets: '::1:9000': write IPv6 targets as [address]:port"),
        ("TARGETS", "hostonly", "osc.targets: 'hostonly': expected host:port"),
        ("TARGETS", "127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("TARGETS", "127.0.0.1:x", "the port must be a number from 1 to 65535"),
        ("TARGETS", "[nothex]:9000", "'nothex' is not an IPv6 address"),
        ("TARGETS", "a:1,a:1", "'a:1' is listed twice"),
        ("TARGETS", "[]", "osc.targets: must name at least one host:port"),
        ("PREFIX", "emotiv", "osc.prefix: must start with '/'"),
        ("PREFIX", "/emotiv/", "osc.prefix: must start with '/' and not end with it"),
        ("PREFIX", "/a b", "osc.prefix: '/a b' contains ' '"),
        ("PREFIX", "/a//b", "osc.prefix: empty segment"),
        ("LAYOUT", "grid", "osc.layout: expected 'vector' or 'split', got 'grid'"),
        ("LAYOUTS", "eeg=grid", "osc.layouts.eeg: expected 'vector' or 'split'"),
        ("LAYOUTS", "brain=split", "osc.layouts: unknown stream 'brain'"),
        ("LAYOUTS", "split", "osc.layouts: expected name=value pairs, got 'split'"),
        ("RATE_CAPS", "eeg=0", "osc.rate_caps: eeg: must be a number of Hz greater than 0"),
        ("RATE_CAPS", "eeg=fast", "osc.rate_caps.eeg: expected a number, got 'fast'"),
        ("RATE_CAPS", "eeg=inf", "osc.rate_caps.eeg: expected a finite number"),
        ("RATE_CAPS", "eeg=0", "osc.rate_caps: eeg: must be a number of Hz greater than 0"),
        ("STREAMS", "eeg,eeg", "osc.streams: 'eeg' is listed twice"),
        ("STREAMS", "brain", "osc.streams: unknown stream 'brain'"),
        ("BUNDLE", "yes", "osc.bundle: expected true, false or 'sample_time', got 'yes'"),
        ("MAX_DATAGRAM", "1000", "osc.max_datagram: must be at least 1472, got '1000'"),
        ("MAX_DATAGRAM", "65508", "osc.max_datagram: must be at most 65507"),
        ("TARGETS", '[{"target": "a:1", "bundle": "no way"}]',
         "osc.targets[0].bundle: expected true or false"),
        ("TARGETS", '[{"target": "a:1", "bundles": false}]', "osc.targets[0].bundles: unknown key"),
        ("TARGETS", '[{"bundle": false}]', "osc.targets[0].target: Field required"),
        ("TIMESTAMPS", "float", "osc.timestamps: expected 'off', 'lsl' or 'epoch'"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(variable: str, value: str, expected: str) -> None:
    name = f"CORTEX_BRIDGE_OSC__{variable}"
    found = problems({name: value})
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].endswith(f"(from {name})")
    assert "Traceback" not in found[0]


def test_parse_osc_target() -> None:
    assert parse_osc_target("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_osc_target("[::1]:9000") == ("::1", 9000)
    assert parse_osc_target(" studio.local:57120 ") == ("studio.local", 57120)


def test_may_match_several() -> None:
    assert not may_match_several([])
    assert not may_match_several(["EPOCX-1234"])
    assert may_match_several(["EPOCX-*"])
    assert may_match_several(["A", "B"])


def test_demo_config_turns_osc_on() -> None:
    assert load_settings(ROOT / "configs" / "epocx.toml", {}).osc.enabled is False
    demo = load_settings(ROOT / "configs" / "demo.toml", {}).osc
    assert [str(t) for t in demo.targets] == ["127.0.0.1:9000"] and demo.rate_caps["eeg"] == 32


def test_docs_describe_every_osc_key() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = docs.split("## `[osc]`", 1)[1].split("\n## ", 1)[0]
    from bridge.config import OscSettings

    for key in OscSettings.model_fields:
        assert f"- **`{key}`**" in section, key
        assert f"CORTEX_BRIDGE_OSC__{key.upper()}" in section, key
