"""The run record: everything a run knows about itself, typed, in one file (`work/run.json`).

`start_run` creates it with the validated spec; each step fills its named fields (the source it read,
the candidates it trained, the one selected, the sample, the verdict, the screening, timings and which
worker ran what) and `Run.save` writes it whole after each step. The card (`reporting.card.build_card`)
is built from it. The spec is validated once when the record is created and carried in it as the
validated model; a record read back from disk (another process) validates it once more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class SampledFrom(_Record):
    """A sample run draws from a published model: which version asked for, which run trained it and the
    source fingerprint it was trained on (a changed source is refused)."""

    version: str            # the version whose run trained the model
    model: str              # the model folder read
    model_of: str           # the version asked for (a sample of a sample names the original trainer)
    fingerprint: str


class SourceRecord(_Record):
    """What `load_data` read: the source (format, location, fingerprint, sizes, notes) and the split."""

    source: dict[str, Any]
    train_rows: int
    holdout_rows: int
    warnings: list[str] = Field(default_factory=list)
    protection: dict[str, Any] | None = None


class Candidate(_Record):
    """One generator configuration the train step trained (or reused) and the select step judged."""

    name: str                         # the generator's registry name
    params: dict[str, Any]            # its `model:` section as validated
    key: str                          # model-store key (`spec.training_key`)
    model: str | None = None          # where its trained model waits (store) while the run lasts
    reused_model: str | None = None   # the stored or published model reused instead of training
    train_s: float | None = None
    worker: str | None = None
    judged: dict[str, Any] | None = None   # its point by the select step's judge (selection split)


class SampleRecord(_Record):
    """What `generate` drew: per-class costs (acceptance, candidates, budget) and any shortfall."""

    acceptance: dict[str, float] = Field(default_factory=dict)
    min_acceptance: float | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    rows_per_s: float | None = None
    sample_s: float | None = None
    refusal: dict[str, Any] | None = None


class RunRecord(_Record):
    dataset: str
    version: str
    out_dir: str
    spec_path: str
    spec_dir: str
    overrides: list[str] = Field(default_factory=list)
    spec_hash: str
    spec: Any                          # the validated spec model of its modality
    force: bool = False
    progress: bool = False             # show progress bars (this run only; never on the card)
    started: str
    sampled_from: SampledFrom | None = None
    source: SourceRecord | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    chosen: int | None = None          # index into candidates
    selection: dict[str, Any] | None = None   # how the chosen one was picked (judge, criterion)
    sample: SampleRecord | None = None
    verdict: dict[str, Any] | None = None
    screening: dict[str, Any] | None = None
    review_report: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    tasks: dict[str, str] = Field(default_factory=dict)

    @field_validator("spec", mode="before")
    @classmethod
    def _validated(cls, value):
        from synthgen import spec as specs

        if isinstance(value, dict):   # read back from disk: the spec it was created with, validated again
            return specs.validate_spec(value, origin="run record (work/run.json) spec")
        return value

    @field_serializer("spec")
    def _spec_json(self, value):
        return value.model_dump(mode="json")

    @property
    def chosen_candidate(self) -> Candidate:
        if self.chosen is None:
            raise RuntimeError(f"{self.dataset} {self.version}: no candidate selected yet")
        return self.candidates[self.chosen]
