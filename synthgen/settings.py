"""What synthgen sets for itself: environment defaults (before Prefect / GX / albumentations are imported)
and the default output folder (cheap to import: the CLI reads it before anything heavy loads)."""

from __future__ import annotations

import os

#: where datasets are published unless a spec (`output.dir`) or an option (`--out`, `--datasets`) says otherwise
DEFAULT_DATASETS_DIR = "reports/datasets"

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
