"""What this machine has, for bounds checked before work starts."""

from __future__ import annotations

from pathlib import Path


def available_memory() -> int | None:
    """Bytes of memory available now (Linux MemAvailable), or None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
