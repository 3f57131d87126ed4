"""Environment synthgen sets for itself before Prefect / GX / albumentations are imported."""

from __future__ import annotations

import os

DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # alone stops all outside connections
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # 17-35 s on a fresh database here
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "GX_ANALYTICS_ENABLED": "False",
}


def apply_env_defaults() -> None:
    """Set what the user has not set; an explicit value always wins."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
