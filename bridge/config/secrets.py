"""Secrets: the Cortex client secret and the Emogg token, and who may read them.

A secret comes from its setting, else from the file ``<key>_file`` names, else from a
systemd credential (``LoadCredential=``), so that it need not sit in the config file.
It never appears in a message: errors name the key and the file, warnings the mode.
"""

from __future__ import annotations

import os
import ssl
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from bridge.config.keys import env_var_name, section_models
from bridge.config.models import EmoggSettings, Settings
from bridge.errors import ConfigError

CREDENTIAL_NAME = "client_secret"
"""Name of the systemd credential (``LoadCredential=client_secret:/path``)."""
EMOGG_CREDENTIAL_NAME = "emogg_token"
"""Name of the systemd credential holding the Emogg API token."""


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


MAX_SECRET_BYTES = 64 * 1024
"""A secret file larger than this is not a secret (a wrong path, a log, a disk image)."""


def _read_secret(path: Path, key: str) -> str:
    """The text of a secret file: a regular file only, read without blocking.

    ``/dev/zero`` would be read for ever, a FIFO would block the start until someone
    writes to it, a directory cannot be read: each is refused with the key and the path.
    The file is opened first and then examined (``fstat``), so what is checked is what
    is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError([f"{key}: {path}: not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{key}: {path}: is a directory, not the file holding the secret"]) from None
    except OSError as exc:
        raise ConfigError([f"{key}: {path}: cannot read: {exc.strerror or 'error'}"]) from None
    info = os.fstat(fd)
    kind = _special_kind(info.st_mode)
    if kind is not None:
        os.close(fd)
        raise ConfigError([f"{key}: {path}: is {kind}, not a regular file holding the secret"])
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_SECRET_BYTES:
            raise ConfigError(
                [f"{key}: {path}: is {info.st_size} bytes, too large to be a secret "
                 f"(at most {MAX_SECRET_BYTES})"]
            )
        try:
            raw = handle.read(MAX_SECRET_BYTES + 1)
        except OSError as exc:
            raise ConfigError([f"{key}: {path}: cannot read: {exc.strerror or 'error'}"]) from None
    try:
        secret = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ConfigError([f"{key}: {path}: not UTF-8 text"]) from None
    if not secret:
        raise ConfigError([f"{key}: {path}: is empty"])
    return secret


_SPECIAL_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is (``a FIFO`` ...), or None."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "not a regular file")


def ca_file_problem(path: str) -> str | None:
    """Why ``cortex.ca_file`` cannot verify Cortex, or None.

    Checked before the first connection: otherwise the TLS layer fails on every attempt
    and the bridge retries for ever, blaming Cortex. A regular, readable file holding at
    least one PEM certificate that OpenSSL loads.
    """
    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError:
        return f"cortex.ca_file: {path}: not found"
    except OSError as exc:
        return f"cortex.ca_file: {path}: cannot read: {exc.strerror or 'error'}"
    kind = _special_kind(info.st_mode)
    if kind is not None:
        return f"cortex.ca_file: {path}: is {kind}; name the PEM file itself (e.g. rootCA.pem)"
    if not os.access(path, os.R_OK):
        return f"cortex.ca_file: {path}: not readable"
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except ssl.SSLError:
        return (f"cortex.ca_file: {path}: not a PEM CA certificate (expected text starting "
                "with -----BEGIN CERTIFICATE-----, e.g. Emotiv's rootCA.pem)")
    except (OSError, ValueError) as exc:
        return f"cortex.ca_file: {path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
    return None


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
    if ca_file and (problem := ca_file_problem(ca_file)) is not None:
        problems.append(problem)
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
    if not stat.S_ISREG(mode):
        return []  # a device or FIFO is refused as a secret file by preflight, unread
    if not mode & (stat.S_IRGRP | stat.S_IROTH) or not _holds_secret(path):
        return []
    return [
        f"{path} holds a secret and is readable by group or others "
        f"(mode {stat.S_IMODE(mode):04o}); restrict it with: chmod go-rwx {path}"
    ]


_MAX_CONFIG_BYTES = 1024 * 1024


def _holds_secret(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_CONFIG_BYTES)
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, ValueError):
        return True  # not a TOML config: a raw secret file (or unreadable: assume the worst)
    if not any(isinstance(data.get(s), dict) for s in section_models()):
        return True
    cortex = data.get("cortex")
    emogg = data.get("emogg")
    return (isinstance(cortex, dict) and bool(cortex.get("client_secret"))) or (
        isinstance(emogg, dict) and bool(emogg.get("token"))
    )


def secret_files_in_use(settings: Settings) -> list[tuple[str, Path]]:
    """``(key, path)`` of every secret file the settings read: the client secret file
    when ``client_secret`` is not set, the Emogg token file when Emogg is on and
    ``token`` is not set. (systemd credentials are private to the service already.)"""
    cortex, emogg = settings.cortex, settings.emogg
    files: list[tuple[str, Path]] = []
    if not cortex.client_secret.get_secret_value() and cortex.client_secret_file:
        files.append(("cortex.client_secret_file", Path(cortex.client_secret_file)))
    if emogg.enabled and not emogg.token.get_secret_value().strip() and emogg.token_file:
        files.append(("emogg.token_file", Path(emogg.token_file)))
    return files


def permission_warnings(settings: Settings, config: Path | None) -> list[str]:
    """The permission warning for the config file (when it holds a secret) and for every
    secret file in use: one line each, naming the file and the ``chmod`` that fixes it."""
    warnings = secret_file_warnings(config) if config else []
    for _key, path in secret_files_in_use(settings):
        warnings += secret_file_warnings(path)
    return warnings
