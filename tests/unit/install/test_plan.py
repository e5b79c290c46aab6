"""install-service's and init's decisions, from data."""

from __future__ import annotations

import tomllib
from pathlib import PurePosixPath

from bridge.install import configfile, service
from bridge.resources import names, read_text

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def request(**changes: object) -> service.Request:
    base: dict[str, object] = {
        "config_text": configfile.render("remote", client_id="id"),
        "command": "/opt/cortex-bridge/bin/cortex-bridge",
        "secret": b"s3cret",
        "ca_pem": PEM,
    }
    base.update(changes)
    return service.Request(**base)  # type: ignore[arg-type]


def by_path(plan: service.Plan) -> dict[PurePosixPath, service.Step]:
    return {step.path: step for step in plan.steps}


def test_the_package_carries_configs_units_and_patches() -> None:
    assert {"epocx.toml", "remote-cortex.toml", "openvibe.toml", "artist.toml"} <= set(
        names("configs"))
    assert names("systemd") == ["cortex-bridge.service", "cortex-bridge@.service"]
    assert {"cortex-bridge.pd", "cortex-bridge.maxpat"} <= set(names("patches"))


def test_every_profile_renders_a_valid_config() -> None:
    for profile in configfile.PROFILES:
        text = configfile.render(profile, client_id="abc", host="10.0.1.2", ca_file="/ca.pem")
        configfile.validate(text)
        cortex = tomllib.loads(text)["cortex"]
        assert cortex["url"] == "wss://10.0.1.2:6868"
        assert cortex["client_id"] == "abc"
        assert cortex["ca_file"] == "/ca.pem"
        assert "#" in text  # the comments stay


def test_set_keys_replaces_a_commented_line_in_place_and_adds_a_missing_one() -> None:
    text = '[cortex]\n# why\n# ca_file = "x"\nurl = "a"\n[lsl]\nca_file = "keep"\n'
    out = configfile.set_keys(text, "cortex", {"ca_file": "/y", "debit": 2})
    assert out == '[cortex]\ndebit = 2\n# why\nca_file = "/y"\nurl = "a"\n[lsl]\nca_file = "keep"\n'


def test_cortex_url_from_a_host() -> None:
    assert configfile.cortex_url("emotiv-cortex.remote") == "wss://emotiv-cortex.remote:6868"
    assert configfile.cortex_url("fe80::1") == "wss://[fe80::1]:6868"
    assert configfile.cortex_url("wss://h:1") == "wss://h:1"


def test_a_complete_request_installs_four_files_with_their_modes() -> None:
    plan = service.plan(request())
    assert plan.problems == []
    steps = by_path(plan)
    assert steps[service.SECRET_PATH].mode == 0o600 and steps[service.SECRET_PATH].secret
    assert steps[service.CA_PATH].mode == 0o644
    config = steps[PurePosixPath("/etc/cortex-bridge/cortex-bridge.toml")]
    assert config.mode == 0o644 and config.content is not None
    assert tomllib.loads(config.content.decode())["cortex"]["ca_file"] == str(service.CA_PATH)
    unit = steps[PurePosixPath("/etc/systemd/system/cortex-bridge.service")]
    assert unit.content is not None and b"\nExecStart=/opt/cortex-bridge/bin/" in unit.content
    assert "s3cret" not in "".join(service.describe(s, __import__("pathlib").Path("/"))
                                   for s in plan.steps)


def test_client_secret_file_is_commented_out_for_the_dynamic_user() -> None:
    text = configfile.set_keys(configfile.render("remote"), "cortex",
                               {"client_secret_file": "/etc/cortex-bridge/client_secret"})
    plan = service.plan(request(config_text=text))
    config = by_path(plan)[PurePosixPath("/etc/cortex-bridge/cortex-bridge.toml")]
    assert config.content is not None
    assert "client_secret_file" not in tomllib.loads(config.content.decode())["cortex"]
    assert any("client_secret_file" in note for note in plan.notes)


def test_problems_name_the_fix() -> None:
    cases = {
        "--secret-file": request(secret=None),
        "--ca-file": request(ca_pem=None, ca_missing="/etc/cortex-bridge/emotiv-rootCA.pem"),
        "ProtectHome": request(command="/root/.local/bin/cortex-bridge"),
        "delete that line": request(config_text='[cortex]\nclient_secret = "x"\n'),
        "--force": request(existing={PurePosixPath("/etc/cortex-bridge/cortex-bridge.toml"):
                                     b"[cortex]\n"}),
        "not a PEM": request(ca_pem=b"junk"),
        "cortex.streams": request(config_text='[cortex]\nstreams = ["nope"]\n'),
    }
    for needle, req in cases.items():
        problems = service.plan(req).problems
        assert any(needle in p for p in problems), (needle, problems)


def test_an_existing_secret_is_kept() -> None:
    plan = service.plan(request(secret=None, existing={service.SECRET_PATH: b"old"}))
    assert plan.problems == []
    assert service.SECRET_PATH not in by_path(plan)


def test_the_shipped_units_name_the_paths_install_service_uses() -> None:
    unit = read_text("systemd", "cortex-bridge.service")
    assert f"LoadCredential=client_secret:{service.SECRET_PATH}" in unit
    assert f"--config {service.config_path(None)}" in unit
    assert service.SHIPPED_COMMAND in unit
