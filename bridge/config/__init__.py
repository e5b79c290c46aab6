"""Configuration: a TOML file, overridden by ``CORTEX_BRIDGE_<SECTION>__<KEY>`` variables.

Split by job:

- :mod:`~bridge.config.models`: the pydantic-settings models, one per TOML section, and
  their validators.
- :mod:`~bridge.config.keys`: dotted keys and environment names, derived from the models.
- :mod:`~bridge.config.load`: file + environment + command-line loading
  (:func:`load_settings`, :func:`apply_overrides`).
- :mod:`~bridge.config.errors`: pydantic errors as one line per key, secrets never shown.
- :mod:`~bridge.config.secrets`: the client secret and the Emogg token (value, file,
  systemd credential), preflight, and warnings about secrets others may read.

Every name the rest of the code imports from ``bridge.config`` is re-exported here, so
importers need not know which module holds it.
"""

from __future__ import annotations

from bridge.config.keys import env_var_name, setting_keys
from bridge.config.load import apply_overrides, load_settings
from bridge.config.models import (
    EMOGG_CHANNELS,
    EMOGG_EMOTIONS,
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    RECORD_TITLE_PLACEHOLDERS,
    TEMPLATE_PLACEHOLDERS,
    ClockMode,
    CortexSettings,
    Dialect,
    EmoggFrequency,
    EmoggSettings,
    LogLevel,
    LogSettings,
    LslSettings,
    MarkerSettings,
    Settings,
    StatusSettings,
    may_match_several,
    template_placeholders,
)
from bridge.config.osc import (
    OscBundleMode,
    OscLayout,
    OscSettings,
    OscTarget,
    OscTimestamps,
    parse_osc_target,
)
from bridge.config.secrets import (
    CREDENTIAL_NAME,
    EMOGG_CREDENTIAL_NAME,
    ca_file_problem,
    emogg_problems,
    permission_warnings,
    preflight,
    resolve_client_secret,
    resolve_emogg_token,
    secret_file_warnings,
)
from bridge.config.section import STREAM_NAMES, StreamName

__all__ = [
    "CREDENTIAL_NAME",
    "EMOGG_CHANNELS",
    "EMOGG_CREDENTIAL_NAME",
    "EMOGG_EMOTIONS",
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "RECORD_TITLE_PLACEHOLDERS",
    "STREAM_NAMES",
    "TEMPLATE_PLACEHOLDERS",
    "ClockMode",
    "CortexSettings",
    "Dialect",
    "EmoggFrequency",
    "EmoggSettings",
    "LogLevel",
    "LogSettings",
    "LslSettings",
    "MarkerSettings",
    "OscBundleMode",
    "OscLayout",
    "OscSettings",
    "OscTarget",
    "OscTimestamps",
    "Settings",
    "StatusSettings",
    "StreamName",
    "apply_overrides",
    "ca_file_problem",
    "emogg_problems",
    "env_var_name",
    "load_settings",
    "may_match_several",
    "parse_osc_target",
    "permission_warnings",
    "preflight",
    "resolve_client_secret",
    "resolve_emogg_token",
    "secret_file_warnings",
    "setting_keys",
    "template_placeholders",
]
