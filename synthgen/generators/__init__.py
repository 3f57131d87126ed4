"""Generators, registered by name. Importing this package registers every built-in generator."""

from synthgen.generators import argn as _argn  # noqa: F401  (registers "argn")
from synthgen.generators import conditional_gan as _conditional_gan  # noqa: F401  (registers "conditional_gan")
from synthgen.generators import ctgan as _ctgan  # noqa: F401  (registers "ctgan")
from synthgen.generators.base import (
                                      GENERATORS,
                                      GenerationError,
                                      Generator,
                                      TabularGenerator,
                                      resolve_class_counts,
)

__all__ = ["GENERATORS", "GenerationError", "Generator", "TabularGenerator", "resolve_class_counts"]
