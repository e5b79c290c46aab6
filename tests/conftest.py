"""Test-wide set-up.

The loopback-only liblsl config is installed at import time, before any test (or any
library a test imports) makes its first LSL call, and it is inherited by every
subprocess a test starts. Nothing in the test suite may multicast on the LAN.
"""

from __future__ import annotations

import os
import uuid

import pytest

from bridge.lslconfig import use_loopback_config

LSL_CONFIG_PATH = use_loopback_config("cortex-bridge-test")


@pytest.fixture
def unique_id() -> str:
    """A short random token for stream names and source ids unique to one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def lsl_config_path() -> str:
    return os.environ["LSLAPICFG"]
