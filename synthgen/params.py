"""The base of every parameter model: an estimator's hyper-parameters, declared beside its class
(`params_model`), and every section of a spec. Unknown keys are errors; defaults are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)
