"""A run folder and its record: `work/` (the record, real splits) and `dataset/` (what may be published).

The steps of `pipeline.py` pass one `Run` along: in one process (a plain run, or Prefect tasks on its
thread pool) the record, the spec validated in it and every data set read are held once for the whole
run; `Run.open(path)` rebuilds the handle in another process from `work/run.json`.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from synthgen import publish as pub
from synthgen.modalities import MODALITIES
from synthgen.record import Candidate, RunRecord

RECORD = "run.json"


class Run:
    """A run folder with its record. Reads the adapter and each data set at most once."""

    def __init__(self, path: str | Path, record: RunRecord):
        self.path = Path(path)
        self.work = self.path / "work"
        self.dataset = self.path / "dataset"
        self.record = record
        self._data: dict[str, Any] = {}

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        path = Path(path)
        return cls(path, RunRecord.model_validate_json((path / "work" / RECORD).read_text()))

    def save(self) -> None:
        """The record, whole, written atomically (a step that dies leaves the previous one)."""
        pub.write_json(self.work / RECORD, self.record.model_dump(mode="json"))

    def __repr__(self) -> str:   # what Prefect shows for a task's argument
        return f"Run({self.path.name})"

    @property
    def spec(self):
        return self.record.spec

    @property
    def out_dir(self) -> Path:
        return Path(self.record.out_dir)

    @cached_property
    def adapter(self):
        return MODALITIES.get(self.spec.modality)

    def data(self, which: str):
        """train / holdout (real, work folder) or synthetic (dataset folder), in the adapter's container."""
        if which not in self._data:
            self._data[which] = self.adapter.read(self.path, which)
        return self._data[which]

    @cached_property
    def model_meta(self) -> dict:
        return json.loads((self.dataset / "model" / "generator.json").read_text())

    def metrics(self) -> dict:
        return json.loads((self.dataset / "metrics.json").read_text())

    def record_time(self, step: str, seconds: float) -> None:
        self.record.timings[step] = round(seconds, 3)

    def record_tasks(self, tasks: dict[str, str]) -> None:
        """Which worker ran each task of this run ("local": this process); the card shows them."""
        self.record.tasks.update(tasks)

    # -- where trained models wait -------------------------------------------------------------------
    def model_store(self, candidate: Candidate) -> Path:
        """Where a candidate's trained model waits until its run publishes: outside the run and staging
        folders (no clean-up of stale runs removes it), under its training key (`spec.training_key`), so a
        re-run after a failure later in the run, or with other gates, reuses the model."""
        return self.out_dir / pub.MODELS_DIR / pub.checked(self.record.dataset, "dataset") / candidate.key

    def model_lock(self, candidate: Candidate) -> Path:
        """Held while a model is trained into, reused from or removed from the model store."""
        store = self.model_store(candidate)
        return store.parent / f"{store.name}.lock"

    def checkpoint_dir(self, candidate: Candidate) -> Path:
        """Outside the run folder, keyed by training key: a killed run's next attempt resumes from here."""
        return (self.out_dir / pub.STAGING / pub.CHECKPOINTS / pub.checked(self.record.dataset, "dataset")
                / candidate.key)
