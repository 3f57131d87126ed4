"""Modality adapters, registered by name. Importing this package registers every built-in adapter."""

from synthgen.modalities import image as _image  # noqa: F401  (registers "image")
from synthgen.modalities import tabular as _tabular  # noqa: F401  (registers "tabular")
from synthgen.modalities.base import MODALITIES, Modality, ScorerInput, adapter_for

__all__ = ["MODALITIES", "Modality", "ScorerInput", "adapter_for"]
