"""The base of every parameter model: an estimator's hyper-parameters, declared beside its class
(`params_model`), and every section of a spec. Unknown keys are errors; defaults are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def config_from(config: type, params: dict, **derived):
    """A training config dataclass built from an estimator's validated parameters: each field takes the
    parameter of its name, or a value derived from the data (`derived`, e.g. the step budget). A field
    that neither supplies is an error, never a silent default: the config cannot drift from the params."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(config)]
    missing = [n for n in names if n not in derived and n not in params]
    unknown = sorted(set(derived) - set(names))
    if missing or unknown:
        raise TypeError(f"{config.__name__}: no parameter for {missing}; not fields: {unknown}")
    return config(**{n: derived[n] if n in derived else params[n] for n in names})
