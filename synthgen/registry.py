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

    def register(self, name: str):
        def decorate(cls: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.name = name
            self._entries[name] = cls
            return cls

        return decorate

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
