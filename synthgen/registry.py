"""Explicit registries: `@GENERATORS.register("ctgan")`. No discovery, no swallowed imports."""

from __future__ import annotations

from typing import Generic, TypeVar

from synthgen.errors import InputError

T = TypeVar("T", bound=type)


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
