"""The generator contract (after scikit-learn and SDV), shared by every modality.

`__init__` stores arguments; `fit(table)` returns self and leaves learned state in `*_`;
`sample(n, per_class=..., random_state=...)` returns a labeled container in the original form
and never changes the estimator; `save(dir)` / `load(dir)` use a torch state_dict (loaded with
weights_only=True) plus JSON. The base class owns validation and bookkeeping; subclasses write
`_fit`, `_sample_class`, `_state` / `_restore`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import polars as pl

from synthgen.data import LabeledTable
from synthgen.errors import InputError, SynthgenError
from synthgen.persist import load_state, save_state
from synthgen.registry import Registry, resolve_params, saved_params

GENERATORS: Registry = Registry("generator")


@dataclass(frozen=True)
class GANParts:
    """A trained GAN's networks, for what builds on them (anomaly scorers: train once, use twice).
    Copies: changing them never changes the generator."""

    generator: Any           # torch module: (z (B, latent_dim), class index (B,)) -> images (B, C, H, W)
    discriminator: Any       # torch module with `.features` (conv blocks) and the class projection
    config: dict             # latent_dim, n_classes, channels, size, base_channels
    classes: list[str]       # class order of the conditioning index


class GenerationError(SynthgenError):
    """A class could not be reached within the sampler's candidate budget. `partial` is what was drawn
    (every class, the short ones included) and `shortfall` the per-class record of the short ones, so a
    run can quarantine the evidence instead of discarding it."""

    exit_code = 3

    def __init__(self, message: str, *, partial: Any = None, shortfall: dict | None = None,
                 knobs: list[str] | None = None):
        super().__init__(message)
        self.partial = partial
        self.shortfall = shortfall or {}
        self.knobs = knobs or []


# The sampler's budget (`Sampler`): a class of k rows may cost at most max(k, MIN_BUDGET_ROWS) / min_acceptance
# candidates; draws are sized from the acceptance measured so far, at most MAX_DRAW candidates at a time.
DEFAULT_MIN_ACCEPTANCE = 0.01
MIN_BUDGET_ROWS = 100
MAX_DRAW = 20_000
DRAW_MARGIN = 1.15      # a draw asks for this many times the candidates the measured acceptance says it needs


@dataclass
class Sampler:
    """Draws one class until it has `k` rows, sizing each draw from the acceptance measured so far.

    `draw(n) -> (rows kept, n)`: n candidates in, the ones that passed (condition honoured, rejection coin)
    out. The budget is a number of candidates, `max(k, MIN_BUDGET_ROWS) / min_acceptance`, so the loop never
    stops while rows still come at or above the stated acceptance; it stops early only when even the upper
    95% bound of the measured acceptance cannot fill the class within what is left of the budget."""

    k: int
    min_acceptance: float
    batch: int = 500

    @property
    def budget(self) -> int:
        return int(np.ceil(max(self.k, MIN_BUDGET_ROWS) / self.min_acceptance))

    def run(self, draw: Callable[[int], tuple[Any, int]], concat: Callable[[list], Any]) -> tuple[Any, dict]:
        kept, accepted, tried, draws = [], 0, 0, 0
        budget = self.budget
        hopeless = False
        while accepted < self.k and tried < budget:
            need = self.k - accepted
            rate = (accepted + 1) / (tried + 1) if tried else 1.0
            n = int(np.clip(np.ceil(DRAW_MARGIN * need / max(rate, self.min_acceptance)), self.batch, MAX_DRAW))
            n = max(1, min(n, budget - tried))
            rows, n = draw(n)
            kept.append(rows)
            accepted += len(rows)
            tried += n
            draws += 1
            upper = (accepted + 1.645 * np.sqrt(accepted + 1) + 1.5) / tried   # one-sided 95% (Poisson)
            if accepted < self.k and upper * (budget - tried) < self.k - accepted:
                hopeless = True
                break
        info = {"rows": int(self.k), "kept": int(min(accepted, self.k)), "acceptance": accepted / tried if tried else 0.0,
                "candidates": int(tried), "draws": draws, "budget": budget, "min_acceptance": self.min_acceptance,
                "short": accepted < self.k,
                **({"stopped_early": True} if hopeless else {})}
        return concat(kept), info


def resolve_class_counts(
    train_counts: dict[str, int],
    *,
    rows: int | None,
    per_class: dict[str, int] | None = None,
    balance: bool = False,
) -> dict[str, int]:
    """Exact rows per class. Unlisted classes share what is left in proportion to the training data
    (largest remainder, so the total is exact)."""
    classes = list(train_counts)
    per_class = dict(per_class or {})
    unknown = sorted(set(per_class) - set(classes))
    if unknown:
        raise InputError(
            f"sample.per_class: classes {unknown} do not exist in the label (classes: {classes})"
        )
    if rows is None:
        rows = sum(per_class.values()) if per_class else sum(train_counts.values())
    fixed = sum(per_class.values())
    if per_class and fixed > rows:
        raise InputError(f"sample.per_class asks for {fixed} rows but sample.rows is {rows}")
    rest = [c for c in classes if c not in per_class]
    left = rows - fixed if rest else 0
    if per_class and not rest and fixed != rows:
        raise InputError(f"sample.per_class totals {fixed} rows but sample.rows is {rows}")
    weights = np.array([1.0 if balance else train_counts[c] for c in rest], dtype=float)
    counts = dict(per_class)
    if rest:
        raw = left * weights / weights.sum()
        base = np.floor(raw).astype(int)
        order = np.argsort(-(raw - base), kind="stable")
        base[order[: left - base.sum()]] += 1
        counts.update({c: int(k) for c, k in zip(rest, base)})
    return {c: counts.get(c, 0) for c in classes}


@dataclass(frozen=True)
class SamplePlan:
    """What `Generator.plan` decided: the per-class jobs and what `combine` needs to finish the sample."""

    jobs: list[tuple[str, int, int, float]]
    counts: dict[str, int]
    random_state: int
    min_acceptance: float
    started: float


class Generator:
    """Modality-neutral base: class bookkeeping, exact per-class sampling loop, save/load.

    Subclasses write `_fit`, `_sample_class`, `_combine`, `_state`/`_restore`, and may remember
    extra facts about the training data in `_remember` / `_save_extra` / `_load_extra`.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    #: the spec model of this generator's parameters; its defaults are the only defaults
    params_model: ClassVar[type | None] = None

    def __init__(self, **params: Any):
        self.params = resolve_params(self.params_model, params)

    # -- public contract -------------------------------------------------------------------
    def fit(self, data, *, progress: bool = False, **fit_options) -> "Generator":
        """`progress` shows a bar while training (a run-time switch: not a parameter, never saved)."""
        start = time.perf_counter()
        self.progress_ = progress
        self.class_counts_ = data.class_counts()
        self.classes_ = list(self.class_counts_)
        self.timings_: dict[str, float] = {}
        self._remember(data)
        self._fit(data, **fit_options)
        self.timings_["fit_s"] = time.perf_counter() - start
        self.n_train_rows_ = len(data)
        return self

    def sample(self, n: int | None = None, *, per_class: dict[str, int] | None = None,
               balance: bool = False, random_state: int = 0, min_acceptance: float = DEFAULT_MIN_ACCEPTANCE):
        """Exact counts per class; what each class cost (acceptance, candidates, budget) ends up in the
        result's `meta`: `plan`, `sample_classes` and `combine` in one process. A caller that spreads the
        classes (one task per class on a cluster) calls the three itself; the result is the same."""
        plan = self.plan(n, per_class=per_class, balance=balance, random_state=random_state,
                         min_acceptance=min_acceptance)
        return self.combine(plan, self.sample_classes(plan.jobs))

    def plan(self, n: int | None = None, *, per_class: dict[str, int] | None = None, balance: bool = False,
             random_state: int = 0, min_acceptance: float = DEFAULT_MIN_ACCEPTANCE) -> "SamplePlan":
        """The independent jobs of a sample, one per class with rows: `(class, rows, seed, min_acceptance)`.
        Each class is drawn from its own seed (`random_state + 7919 * class index`), so a job gives the same
        rows wherever it runs."""
        self._check_fitted()
        counts = resolve_class_counts(self.class_counts_, rows=n, per_class=per_class, balance=balance)
        jobs = [(cls, counts[cls], random_state + 7919 * index, min_acceptance)
                for index, cls in enumerate(self.classes_) if counts[cls] > 0]
        return SamplePlan(jobs=jobs, counts=counts, random_state=random_state, min_acceptance=min_acceptance,
                          started=time.perf_counter())

    def combine(self, plan: "SamplePlan", drawn: list[tuple[Any, dict]]):
        """The sample from each job's `(part, record)` in plan order. A class that stayed short of its rows
        within its candidate budget raises GenerationError carrying everything drawn (`partial`)."""
        parts = [part for part, _ in drawn]
        records = {job[0]: record for job, (_, record) in zip(plan.jobs, drawn)}
        result = self._combine(parts, np.random.default_rng(plan.random_state))
        seconds = time.perf_counter() - plan.started
        result.meta.update({"acceptance": {c: r["acceptance"] for c, r in records.items()}, "counts": plan.counts,
                            "sampling": records, "min_acceptance": plan.min_acceptance, "sample_s": seconds,
                            "rows_per_s": len(result) / seconds if seconds > 0 else None})
        short = {c: r for c, r in records.items() if r.get("short")}
        for cls, record in short.items():
            record["message"], record["knobs"] = self._shortfall(cls, record)
        if short:
            knobs = list(dict.fromkeys(k for r in short.values() for k in r["knobs"]))
            raise GenerationError("; ".join(r["message"] for r in short.values())
                                  + (f"; try: {' or '.join(knobs)}" if knobs else ""),
                                  partial=result, shortfall=short, knobs=knobs)
        return result

    def _shortfall(self, cls: str, record: dict) -> tuple[str, list[str]]:
        """(message naming the class and what it cost, the `--set` overrides that would help). Subclasses
        add what they know of the cause (`_shortfall_cause`)."""
        rate, got = record["acceptance"], record["kept"]
        message = (f"class {cls!r} of {self._class_label()}: only {got} of {record['rows']} rows from "
                   f"{record['candidates']} candidates (acceptance {rate:.2%}, below what the budget allows: "
                   f"sample.min_acceptance={record['min_acceptance']:g})")
        cause, knobs = self._shortfall_cause(cls, record)
        if rate > 0:   # at 2/3 of the measured acceptance the budget fills the class with room to spare
            knobs = [*knobs, f"--set sample.min_acceptance={max(rate * 2 / 3, 1e-6):.2g}"]
        return message + (f"; {cause}" if cause else ""), knobs

    def _class_label(self) -> str:
        return "the label"

    def _shortfall_cause(self, cls: str, record: dict) -> tuple[str, list[str]]:
        return "", []

    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        state, weights = self._state()
        meta = {"generator": self.name, "modality": self.modality, "params": self.params,
                "class_counts": self.class_counts_, "timings": self.timings_,
                "n_train_rows": self.n_train_rows_, "data": self._data_facts(), "state": state}
        save_state(directory, "generator.json", meta, weights)
        self._save_extra(Path(directory))
        return Path(directory)

    def sample_classes(self, jobs: list[tuple[str, int, int, float]]) -> list[tuple[Any, dict]]:
        """Draw `(class, rows, seed, min_acceptance)` jobs here, one after another."""
        return [self._sample_class(cls, k, random_state=seed, min_acceptance=floor) for cls, k, seed, floor in jobs]

    @classmethod
    def load(cls, directory: str | Path) -> "Generator":
        """Weights are read with weights_only=True: a saved model cannot run code on load."""
        directory = Path(directory)
        meta, weights = load_state(directory, "generator.json", "generator")
        klass = GENERATORS.get(meta["generator"])
        if not issubclass(klass, cls):
            raise InputError(f"{directory}: holds a {meta['generator']} generator, not a {cls.__name__}")
        self = klass(**saved_params(klass.params_model, meta["params"]))
        self.class_counts_ = meta["class_counts"]
        self.classes_ = list(self.class_counts_)
        self.timings_ = meta["timings"]
        self.n_train_rows_ = meta["n_train_rows"]
        self._load_facts(meta["data"], directory)
        self._restore(meta["state"], weights)
        return self

    # -- for subclasses ------------------------------------------------------------------
    def _remember(self, data) -> None:
        """Keep what sampling needs to rebuild the original form (schema, label, shape)."""

    def _data_facts(self) -> dict:
        return {}

    def _save_extra(self, directory: Path) -> None:
        pass

    def _load_facts(self, facts: dict, directory: Path) -> None:
        pass

    def _fit(self, data, **fit_options) -> None:
        raise NotImplementedError

    def _sample_class(self, cls: str, k: int, *, random_state: int, min_acceptance: float):
        """-> (part in the original form, the `Sampler` record: acceptance, candidates, budget, short)."""
        raise NotImplementedError

    def _combine(self, parts: list, rng: np.random.Generator):
        raise NotImplementedError

    def _state(self) -> tuple[dict, dict]:
        """(JSON-serialisable state, dict of tensors)."""
        raise NotImplementedError

    def _restore(self, state: dict, weights: dict) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")


class TabularGenerator(Generator):
    """Tabular generators return a LabeledTable with the training table's exact schema."""

    modality: ClassVar[str] = "tabular"

    def _remember(self, table: LabeledTable) -> None:
        self.label_ = table.label
        self.kinds_ = dict(table.kinds)
        self.schema_ = table.frame.head(0)

    def _data_facts(self) -> dict:
        return {"label": self.label_, "kinds": self.kinds_}

    def _save_extra(self, directory: Path) -> None:
        self.schema_.write_ipc(directory / "schema.arrow")

    def _load_facts(self, facts: dict, directory: Path) -> None:
        self.label_ = facts["label"]
        self.kinds_ = facts["kinds"]
        self.schema_ = pl.read_ipc(directory / "schema.arrow")

    def _combine(self, parts: list[pl.DataFrame], rng: np.random.Generator) -> LabeledTable:
        frame = pl.concat(parts) if parts else self.schema_.clone()
        frame = frame[rng.permutation(frame.height).tolist()] if frame.height else frame
        frame = frame.select(self.schema_.columns).cast(dict(self.schema_.schema))
        return LabeledTable(frame=frame, label=self.label_, kinds=dict(self.kinds_), origin="synthetic")
