"""Generators, registered by name. Importing this package registers every built-in generator."""

from synthgen.generators import ctgan as _ctgan  # noqa: F401  (registers "ctgan")
from synthgen.generators.base import GENERATORS, GenerationError, TabularGenerator, resolve_class_counts

__all__ = ["GENERATORS", "GenerationError", "TabularGenerator", "resolve_class_counts"]
