"""Explicit registries: `@GENERATORS.register("ctgan")`. No discovery, no swallowed imports."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from synthgen.errors import InputError

T = TypeVar("T", bound=type)


def resolve_params(model, params: dict[str, Any]) -> dict[str, Any]:
    """An estimator's parameters: its spec model's fields validated, with the model's defaults as the
    only defaults. A key the model does not know is refused, naming it and the allowed ones (a typo must
    not be accepted and silently ignored); run-time switches that are not parameters (a progress bar)
    are arguments of `fit`, never parameters, so nothing UI-only is saved with a model."""
    if model is None:
        return dict(params)
    fields = model.model_fields
    unknown = sorted(set(params) - set(fields))
    if unknown:
        allowed = sorted(f for f in fields if f != "name")
        raise InputError(f"{model.__name__}: unknown parameter(s) {unknown}; allowed: {allowed}")
    return model.model_validate(params).model_dump(exclude={"name"})


#: keys that models saved by earlier versions carry and this version no longer takes as parameters
#: (`progress` became an argument of fit; classic scorers no longer take `gan`): dropped when loading
RETIRED_PARAMS = ("progress", "gan")


def saved_params(model, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a saved model was built with, less the retired keys its class no longer takes."""
    fields = model.model_fields if model is not None else {}
    return {k: v for k, v in params.items() if k in fields or k not in RETIRED_PARAMS}


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self.renamed: dict[str, str] = {}  # old name -> new: what was saved under an old name still loads
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
            return self._entries[self.renamed.get(name, name)]
        except KeyError:
            raise InputError(
                f"unknown {self.kind} {name!r} (known: {', '.join(sorted(self._entries))})"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self):
        return sorted(self._entries.items())
