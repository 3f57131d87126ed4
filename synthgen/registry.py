"""Explicit registries: `@GENERATORS.register("ctgan")`. No discovery, no swallowed imports."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from synthgen.errors import InputError

T = TypeVar("T", bound=type)


def resolve_params(model, params: dict[str, Any]) -> dict[str, Any]:
    """An estimator's parameters: its spec model's fields validated, with the model's defaults as the
    only defaults; keys the model does not know (e.g. `progress`) pass through unchanged."""
    if model is None:
        return dict(params)
    fields = model.model_fields
    known = model.model_validate({k: v for k, v in params.items() if k in fields})
    return {**known.model_dump(exclude={"name"}), **{k: v for k, v in params.items() if k not in fields}}


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self.version = 0  # bumped on every change: what is built from a registry (spec unions) rebuilds

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        self.version += 1
        return entry

    def register(self, name: str):
        """Class decorator: sets `cls.name` and registers the class."""
        def decorate(cls: T) -> T:
            cls.name = name
            return self.add(name, cls)

        return decorate

    def remove(self, name: str) -> None:
        """Unregister (tests register throwaway estimators and take them out again)."""
        del self._entries[name]
        self.version += 1

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise InputError(
                f"unknown {self.kind} {name!r} (known: {', '.join(sorted(self._entries))})"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self):
        return sorted(self._entries.items())
