"""``cortex-bridge install-service``: the systemd unit, the config, Emotiv's CA and the
client secret, each where the unit expects it and with the mode it needs.

:func:`plan` decides everything from data (pure: the texts, the paths, the modes and
the problems); :func:`apply` writes the steps below a root directory (``/`` for real, a
scratch directory for ``--root``) and ``--dry-run`` only prints them. The paths the
unit names are fixed: ``/etc/cortex-bridge/<name>.toml``, the credential
``/etc/cortex-bridge/client_secret`` (``LoadCredential=``), the CA
``/etc/cortex-bridge/emotiv-rootCA.pem``.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bridge.config import CREDENTIAL_NAME
from bridge.errors import ConfigError
from bridge.install.configfile import set_keys, validate
from bridge.resources import read_text

ETC = PurePosixPath("/etc/cortex-bridge")
UNIT_DIR = PurePosixPath("/etc/systemd/system")
CA_PATH = ETC / "emotiv-rootCA.pem"
SECRET_PATH = ETC / CREDENTIAL_NAME
SHIPPED_COMMAND = "/opt/cortex-bridge/bin/cortex-bridge"  # ExecStart in the shipped units
# ProtectHome=yes hides these from the service: a command installed there cannot start.
HIDDEN_BY_PROTECT_HOME = ("/home/", "/root/", "/run/user/")
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

MODE_DIR = 0o755
MODE_PUBLIC = 0o644  # unit, config, CA: no secret in them; the dynamic user must read them
MODE_SECRET = 0o600  # the credential: root only; systemd hands it to the service


@dataclass(frozen=True)
class Step:
    """One file (or directory) to put in place. ``content`` is never printed for a secret."""

    path: PurePosixPath
    what: str
    mode: int
    content: bytes | None = None  # None: a directory
    secret: bool = False


@dataclass(frozen=True)
class Request:
    """What the command line and the machine say, already read from disk."""

    config_text: str
    command: str
    instance: str | None = None
    secret: bytes | None = None
    ca_pem: bytes | None = None
    ca_missing: str | None = None  # the config's ca_file, when it names no file
    existing: dict[PurePosixPath, bytes] = field(default_factory=dict)
    force: bool = False


@dataclass
class Plan:
    steps: list[Step]
    problems: list[str]
    notes: list[str]
    unit_name: str


def config_path(instance: str | None) -> PurePosixPath:
    return ETC / f"{instance or 'cortex-bridge'}.toml"


def unit_name(instance: str | None) -> str:
    return f"cortex-bridge@{instance}.service" if instance else "cortex-bridge.service"


def unit_text(command: str, instance: str | None) -> str:
    """The shipped unit (or template) with ExecStart pointing at ``command``."""
    template = "cortex-bridge@.service" if instance else "cortex-bridge.service"
    return read_text("systemd", template).replace(SHIPPED_COMMAND, command)


def _comment_out(text: str, key: str, why: str) -> str:
    """Every ``key = ...`` line commented out, with the reason above it."""
    pattern = re.compile(rf"^(\s*){re.escape(key)}\s*=.*$", re.M)
    return pattern.sub(lambda m: f"{m.group(1)}# {why}\n{m.group(1)}# {m.group(0).strip()}",
                       text)


def plan(request: Request) -> Plan:
    """The steps, problems and notes for ``request`` (pure)."""
    problems: list[str] = []
    notes: list[str] = []
    instance = request.instance
    if instance is not None and not INSTANCE_NAME.match(instance):
        problems.append(f"--instance {instance!r}: use letters, digits, '.', '_' and '-'")
    if request.command.startswith(HIDDEN_BY_PROTECT_HOME) or not request.command.startswith("/"):
        problems.append(
            f"the cortex-bridge command {request.command} is under a home directory, which "
            "the unit's ProtectHome=yes hides from the service; install cortex-bridge outside "
            "(python3 -m venv /opt/cortex-bridge && /opt/cortex-bridge/bin/pip install ..., or "
            "PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install ...) and run its "
            "install-service"
        )
    text = request.config_text
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"the config is not valid TOML: {exc}")
        data = {}
    cortex = data.get("cortex", {}) if isinstance(data.get("cortex"), dict) else {}
    if cortex.get("client_secret"):
        problems.append(
            "cortex.client_secret is set in the config file, which every user can read once "
            "installed: delete that line and pass the secret with --secret-file"
        )
    if cortex.get("client_secret_file"):
        text = _comment_out(
            text, "client_secret_file",
            "install-service: the service gets the secret as a systemd credential",
        )
        notes.append("cortex.client_secret_file is commented out in the installed config: the "
                     "service's dynamic user could not read a root-only file; the unit hands "
                     f"the secret over as the credential {CREDENTIAL_NAME!r}")
    steps = [Step(ETC, "configuration directory", MODE_DIR), Step(UNIT_DIR, "unit directory",
                                                                  MODE_DIR)]
    if request.ca_pem is not None:
        if b"-----BEGIN CERTIFICATE-----" not in request.ca_pem:
            problems.append("--ca-file: not a PEM certificate (Emotiv's rootCA.pem is one)")
        text = set_keys(text, "cortex", {"ca_file": str(CA_PATH)})
        steps.append(Step(CA_PATH, "Emotiv's CA (cortex.ca_file)", MODE_PUBLIC, request.ca_pem))
    elif request.ca_missing is not None:
        problems.append(
            f"cortex.ca_file: {request.ca_missing}: not found; pass --ca-file with Emotiv's "
            "rootCA.pem (certificates/rootCA.pem in Emotiv/cortex-example), or delete the "
            "line to use the system trust store"
        )
    try:
        validate(text)
    except ConfigError as exc:
        problems.extend(f"config: {line}" for line in exc.problems)
    target = config_path(instance)
    steps.append(Step(target, "configuration", MODE_PUBLIC, text.encode()))
    if request.secret is not None:
        if not request.secret.strip():
            problems.append("the client secret is empty")
        steps.append(Step(SECRET_PATH, f"client secret (credential {CREDENTIAL_NAME!r})",
                          MODE_SECRET, request.secret, secret=True))
    elif SECRET_PATH in request.existing:
        notes.append(f"keeping the client secret already in {SECRET_PATH}")
    else:
        problems.append(
            f"no client secret: pass --secret-file FILE (or --secret-file - to read it from "
            f"standard input); it is installed as {SECRET_PATH}, mode 0600"
        )
    name = unit_name(instance)
    unit_file = UNIT_DIR / ("cortex-bridge@.service" if instance else name)
    steps.append(Step(unit_file, "systemd unit", MODE_PUBLIC,
                      unit_text(request.command, instance).encode()))
    for step in steps:
        old = request.existing.get(step.path)
        if (step.content is not None and old is not None and old != step.content
                and step.what == "configuration" and not request.force):
            problems.append(f"{step.path} exists and differs; pass --force to replace it")
    return Plan(steps, problems, notes, name)


def describe(step: Step, root: Path) -> str:
    """``<path> (mode 0644, <what>)``: what a dry run prints; never a secret."""
    where = _under(root, step.path)
    kind = "directory" if step.content is None else f"{len(step.content)} bytes"
    return f"{where}  mode {step.mode:04o}  {step.what} ({kind})"


def _under(root: Path, path: PurePosixPath) -> Path:
    return root / path.relative_to("/")


def apply(steps: list[Step], root: Path) -> None:
    """Write ``steps`` below ``root``: atomically, with their modes; owned by root when
    running as root. A secret is created with its mode, never readable in between."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    for step in steps:
        target = _under(root, step.path)
        if step.content is None:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, step.mode)
        try:
            os.fchmod(fd, step.mode)  # O_CREAT's mode is masked by the umask
            if as_root:
                os.fchown(fd, 0, 0)
            os.write(fd, step.content)
        finally:
            os.close(fd)
        os.replace(temporary, target)


__all__ = ["CA_PATH", "ETC", "SECRET_PATH", "Plan", "Request", "Step", "apply",
           "config_path", "describe", "plan", "unit_name", "unit_text"]
