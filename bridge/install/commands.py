"""The I/O of ``cortex-bridge init`` and ``cortex-bridge install-service``: read the
files and the secret, print, write. The decisions are in :mod:`.configfile` and
:mod:`.service`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import TextIO

from bridge.errors import ConfigError, ExitCode
from bridge.install import configfile, service
from bridge.resources import resource


def init(
    profile: str,
    output: str,
    *,
    client_id: str | None = None,
    host: str | None = None,
    ca_file: str | None = None,
    force: bool = False,
    out: TextIO | None = None,
) -> int:
    """Write the config for ``profile`` to ``output`` (``-``: standard output)."""
    out = out or sys.stdout
    if ca_file:
        ca_path = Path(ca_file).expanduser().resolve()
        if not ca_path.is_file():
            raise ConfigError([f"--ca-file: {ca_file}: not found (Emotiv's rootCA.pem: "
                               "certificates/rootCA.pem in Emotiv/cortex-example)"])
        ca_file = str(ca_path)
    text = configfile.render(profile, client_id=client_id, host=host, ca_file=ca_file)
    configfile.validate(text)
    if output == "-":
        out.write(text)
        return int(ExitCode.OK)
    path = Path(output)
    if path.exists() and not force:
        raise ConfigError([f"{path}: exists; pass --force to replace it, or -o another file"])
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({profile}: {configfile.PROFILES[profile].summary})", file=out)
    for line in _next_steps(profile, path, host):
        print(line, file=out)
    return int(ExitCode.OK)


def _next_steps(profile: str, path: Path, host: str | None) -> list[str]:
    lines = ["next:"]
    if "your-client-id" in path.read_text(encoding="utf-8"):
        lines.append(f"  set cortex.client_id in {path} (or pass --client-id)")
    if profile == "remote" and (host is None or host == configfile.REMOTE_HOST):
        lines.append(f"  map {configfile.REMOTE_HOST} to the Cortex machine in /etc/hosts, "
                     f"e.g. '192.168.1.20 {configfile.REMOTE_HOST}'")
    lines.append(f"  CORTEX_BRIDGE_CORTEX__CLIENT_SECRET_FILE=FILE cortex-bridge check "
                 f"--config {path}")
    if profile == "artist":
        patches = resource("patches", "cortex-bridge.pd")
        lines.append(f"  the Pure Data and Max patches are in {Path(str(patches)).parent}")
    else:
        lines.append(f"  as a service: cortex-bridge install-service --config {path} "
                     "--secret-file FILE")
    return lines


def _command() -> str:
    """This installation's ``cortex-bridge``: next to the running Python (a venv, pipx)."""
    beside = Path(sys.executable).with_name("cortex-bridge")
    if beside.exists():
        return str(beside.absolute())
    found = shutil.which("cortex-bridge")
    return str(Path(found).resolve()) if found else str(beside)


def _read_secret(source: str | None) -> bytes | None:
    if source is None:
        return None
    if source == "-":
        return sys.stdin.buffer.read().rstrip(b"\r\n")
    try:
        return Path(source).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise ConfigError([f"--secret-file: {source}: {exc.strerror or 'cannot read'}"]) from None


def _existing(root: Path) -> dict[PurePosixPath, bytes]:
    """The files the plan may replace, as they are below ``root`` now."""
    found: dict[PurePosixPath, bytes] = {}
    directory = root / service.ETC.relative_to("/")
    if directory.is_dir():
        for item in directory.iterdir():
            if item.is_file():
                found[service.ETC / item.name] = item.read_bytes()
    return found


def install_service(
    config: Path | None,
    *,
    profile: str = "remote",
    instance: str | None = None,
    secret_file: str | None = None,
    ca_file: Path | None = None,
    root: Path = Path("/"),
    dry_run: bool = False,
    force: bool = False,
    out: TextIO | None = None,
) -> int:
    """Plan, then print (``dry_run``) or apply; ``systemctl daemon-reload`` when the root
    is this machine's and systemd runs it."""
    out = out or sys.stdout
    if config is not None:
        try:
            config_text = config.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"--config: {config}: {exc.strerror or 'cannot read'}"]) from None
    else:
        config_text = configfile.render(profile)
    ca_pem: bytes | None = None
    ca_missing: str | None = None
    if ca_file is not None:
        try:
            ca_pem = ca_file.read_bytes()
        except OSError as exc:
            raise ConfigError([f"--ca-file: {ca_file}: {exc.strerror or 'cannot read'}"]) from None
    else:
        ca_pem, ca_missing = _configured_ca(config_text, config, root)
    existing = _existing(root)
    request = service.Request(
        config_text=config_text, command=_command(), instance=instance,
        secret=_read_secret(secret_file), ca_pem=ca_pem, ca_missing=ca_missing,
        existing=existing, force=force,
    )
    result = service.plan(request)
    for note in result.notes:
        print(f"note: {note}", file=out)
    if result.problems:
        raise ConfigError(result.problems)
    verb = "would install" if dry_run else "installed"
    if not dry_run:
        service.apply(result.steps, root)
    for step in result.steps:
        print(f"{verb} {service.describe(step, root)}", file=out)
    live = root.resolve() == Path("/") and not dry_run
    if live and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "daemon-reload"], check=False)
    print(f"start it: systemctl enable --now {result.unit_name}", file=out)
    print(f"watch it: journalctl -u {result.unit_name} -f", file=out)
    return int(ExitCode.OK)


def _configured_ca(
    text: str, config: Path | None, root: Path
) -> tuple[bytes | None, str | None]:
    """The config's own ``cortex.ca_file``: (its PEM, None) to copy into place, (None, the
    path) when it names no file, (None, None) when unset or already installed."""
    try:
        cortex = tomllib.loads(text).get("cortex", {})
    except tomllib.TOMLDecodeError:
        return None, None
    value = cortex.get("ca_file") if isinstance(cortex, dict) else None
    if not isinstance(value, str) or not value:
        return None, None
    path = Path(value).expanduser()
    if not path.is_absolute() and config is not None:
        path = config.parent / path
    installed = root / service.CA_PATH.relative_to("/")
    if str(path) == str(service.CA_PATH) and installed.is_file():
        return None, None
    if path.is_file():
        return path.read_bytes(), None
    return None, value
