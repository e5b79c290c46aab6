"""Dotted keys and environment variable names, derived from the models.

Everything here reads :class:`~bridge.config.models.Settings`' field list, so a new
section or key needs no code here.
"""

from __future__ import annotations

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from bridge.config.models import ENV_NESTED_DELIMITER, ENV_PREFIX, Settings


def section_models() -> dict[str, type[BaseModel]]:
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
        for section, model in section_models().items()
        for key in model.model_fields
    ]


def env_var_name(dotted_key: str) -> str:
    """``cortex.url`` -> ``CORTEX_BRIDGE_CORTEX__URL``."""
    section, key = dotted_key.split(".", 1)
    return f"{ENV_PREFIX}{section.upper()}{ENV_NESTED_DELIMITER}{key.upper()}"


def field_of(dotted_key: str) -> FieldInfo | None:
    """The model field of a dotted key, or ``None`` for an unknown key."""
    section, _, key = dotted_key.partition(".")
    model = section_models().get(section)
    return model.model_fields.get(key) if model else None


def secret_keys() -> frozenset[str]:
    """Dotted keys whose values must never be shown (every ``SecretStr`` field)."""
    return frozenset(k for k in setting_keys() if (f := field_of(k)) and f.annotation is SecretStr)

