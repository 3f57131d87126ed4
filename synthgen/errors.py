"""Errors that map to the CLI's exit codes: 2 bad input or spec, 3 gate failed."""

from __future__ import annotations


def excerpt(value, limit: int = 60) -> str:
    """A short, quoted excerpt of an input value for an error message: messages (and the logs they reach)
    never repeat more than `limit` characters of what a user or a file handed in."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text):,} characters)"


class SynthgenError(Exception):
    """Base class; `exit_code` is what the CLI returns."""

    exit_code = 1


class InputError(SynthgenError):
    """Bad spec, source file, column or class: the message names the file/key/column at fault."""

    exit_code = 2


class GateFailed(SynthgenError):
    """Validation gates refused the dataset; the evidence went to quarantine."""

    exit_code = 3

    def __init__(self, message: str, *, reasons: list[str], quarantine: str | None = None):
        super().__init__(message)
        self.reasons = reasons
        self.quarantine = quarantine


class Unchanged(SynthgenError):
    """Nothing to do: the latest published version came from the same source and spec (exit 0)."""

    exit_code = 0

    def __init__(self, message: str, *, latest: str):
        super().__init__(message)
        self.latest = latest
