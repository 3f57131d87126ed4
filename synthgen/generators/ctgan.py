"""CTGAN (ctgan package, BUSL-1.1) behind synthgen's generator contract.

ctgan's networks and data sampler train in synthgen's copy of its loop (training/ctgan_loop.py,
no run-time patching). What synthgen adds around them:
- typing: nulls in numeric/datetime columns become a median fill plus a `<col>__null` indicator
  column; nulls in categories become their own category; datetimes train as numbers;
- preprocessing through `ModeNormalizer` (sampled GMM fits, vectorised, JSON state);
- exact per-class counts: each class is conditioned and then filtered in a bounded loop, and its
  acceptance rate recorded;
- sampling with the BatchNorm layers in eval mode (the running statistics of training's mixed-condition
  batches). ctgan samples in training mode, so a batch conditioned on one class is normalised by
  statistics training never saw: measured at 1,000 steps, acceptance 23-49% -> 97-100% and quality
  0.722 -> 0.764 (abalone), 0.823 -> 0.830 (Chile poll), detection and TSTR equal or better. A copy of
  the net is run, and every random draw comes from a seeded torch.Generator: same seed, same rows;
- numeric columns look like the real ones: a column of a few distinct values is snapped to its common
  values, any other rounded to its written decimals (Chile poll detection AUC 0.989 -> 0.886);
- save/load as a state_dict + JSON (ctgan's own save pickles the whole object).
"""

from __future__ import annotations

import copy
import time
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from synthgen.data import NULL_TOKEN, LabeledTable, texts_as, written_decimals
from synthgen.generators.base import GENERATORS, GenerationError, TabularGenerator
from synthgen.params import Params
from synthgen.training.seeding import resolve_device, seeded

NULL_SUFFIX = "__null"
DRS_PREFIX = "drs."     # weights of the rejection discriminator, beside the generator's


def _encode(table: LabeledTable) -> tuple["pd.DataFrame", list[str], dict]:  # noqa: F821
    """polars table -> the all-numeric/all-text pandas frame ctgan trains on, plus how to undo it."""
    frame = table.frame
    cols, discrete, plan = {}, [], {}
    for name in frame.columns:
        kind = table.kinds[name]
        series = frame.get_column(name)
        if kind == "categorical":
            cols[name] = series.cast(pl.String).fill_null(NULL_TOKEN).to_numpy()
            discrete.append(name)
            plan[name] = {"kind": kind}
            continue
        numeric = series.cast(pl.Int64).cast(pl.Float64) if kind == "datetime" else series.cast(pl.Float64)
        has_null = numeric.null_count() > 0
        fill = float(numeric.median())
        values = numeric.fill_null(fill).to_numpy()
        cols[name] = values
        plan[name] = {
            "kind": kind,
            "integer": bool(series.dtype.is_integer() or kind == "datetime"),
            "min": float(np.min(values)),
            "max": float(np.max(values)),
            "nullable": has_null,
            **(_value_grid(numeric.drop_nulls().to_numpy()) if kind != "datetime" else {}),
        }
        if has_null:
            flag = f"{name}{NULL_SUFFIX}"
            cols[flag] = np.where(numeric.is_null().to_numpy(), "1", "0").astype(object)
            discrete.append(flag)
    import pandas as pd

    return pd.DataFrame(cols), discrete, plan


# `rejection: auto` charges the filter this much judge score for every halving of the sampling acceptance
# it causes (a stated price, not fitted: at the default floor of 10% acceptance, ~3.3 halvings, the filter
# must buy 0.017 of score, about a tenth of the spread between a table's first and best snapshots).
ACCEPTANCE_PRICE = 0.005

GRID_MAX_VALUES = 32    # a numeric column with at most this many distinct values takes only those values
GRID_MIN_COUNT = 5      # ...each seen at least this often (a rare training value is never a snap target)


def _value_grid(values: np.ndarray) -> dict:
    """How synthetic values of a numeric column are made to look like its real ones: a column of a few
    distinct values (income brackets, town sizes, counts) is snapped to its common values; any other is
    rounded to the decimals its values are written with (a detector tells 37,412.7 from 35,000 at once)."""
    if len(values) == 0:
        return {}
    uniq, counts = np.unique(values, return_counts=True)
    if len(uniq) <= GRID_MAX_VALUES and (counts >= GRID_MIN_COUNT).sum() >= 2:
        return {"values": uniq[counts >= GRID_MIN_COUNT].tolist()}
    decimals = written_decimals(values)
    return {} if decimals is None else {"decimals": decimals}


def _decode(raw: dict[str, np.ndarray], plan: dict, schema: pl.DataFrame) -> pl.DataFrame:
    out = {}
    for name, dtype in schema.schema.items():
        spec = plan[name]
        values = raw[name]
        if spec["kind"] == "categorical":
            out[name] = texts_as(values, name, dtype)
            continue
        values = np.clip(values.astype(float), spec["min"], spec["max"])
        if spec.get("values"):
            grid = np.asarray(spec["values"])                   # sorted, >= 2 values (_value_grid)
            pos = np.clip(np.searchsorted(grid, values), 1, len(grid) - 1)
            lower, upper = grid[pos - 1], grid[pos]
            values = np.where(values - lower <= upper - values, lower, upper)
        elif spec.get("decimals") is not None:
            values = np.round(values, spec["decimals"])
        if spec["integer"]:
            values = np.round(values)
        series = pl.Series(name, values)
        if spec["nullable"]:
            series = series.scatter(np.flatnonzero(raw[f"{name}{NULL_SUFFIX}"] == "1"), None)
        if spec["kind"] == "datetime":
            series = series.cast(pl.Int64)
        out[name] = series.cast(dtype)
    return pl.DataFrame(out)


def table_steps(rows: int, columns: int, batch_size: int, steps: int | None = None) -> int:
    """Generator steps for a table: 60 passes over the rows, at least 1,000 steps (a few hundred rows still
    need that many updates) and at most 10,000, times sqrt(columns / 10) in [1, 3] for wide tables."""
    if steps:
        return int(steps)
    base = min(max(1000, round(60 * rows / batch_size)), 10_000)
    return int(round(base * min(max(np.sqrt(columns / 10), 1.0), 3.0)))


class CTGANModelSpec(Params):
    """CTGAN (ctgan package) behind synthgen's generator contract."""

    name: Literal["ctgan"] = "ctgan"
    steps: int | None = Field(None, ge=1, description="Training budget in generator steps; null = 60 passes "
                              "over the rows (rows x 60 / batch_size), at least 1,000 and at most 10,000, times "
                              "sqrt(columns / 10) between 1 and 3 for wide tables.")
    epochs: int | None = Field(None, ge=1, description="Passes over the rows; when set it replaces the steps "
                               "budget (ctgan's own unit).")
    batch_size: int = Field(500, ge=2, description="Must be even and a multiple of pac.")
    embedding_dim: int = Field(128, ge=1)
    generator_dim: list[int] = Field(default_factory=lambda: [256, 256])
    discriminator_dim: list[int] = Field(default_factory=lambda: [256, 256])
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    discriminator_steps: int = Field(1, ge=1)
    pac: int = Field(10, ge=1)
    log_frequency: bool = True
    gmm_fit_rows: int | None = Field(
        5000,
        ge=100,
        description="Fit each column's mode-specific normaliser (Bayesian GMM) on at most this many "
        "rows; null = all rows (ctgan's own behaviour, 5-10x slower on large tables).",
    )
    rejection: Literal["none", "drs", "auto"] = Field(
        "auto", description="drs: discriminator rejection sampling (Azadi et al. 2019) with a discriminator "
        "trained after the GAN on the fit rows against a fresh sample (training/rejection.py); keeps exact "
        "per-class counts, costs more sampling rounds. auto: DRS is fitted and kept only if the snapshot "
        "judge scores the kept snapshot higher with it than without it on the selection split (never the "
        "gate holdout); without a selection split, none.")
    rejection_percentile: float = Field(95.0, ge=0, le=100, description="DRS bound M: this percentile of the "
                                        "discriminator's logits over a burn-in sample; a row is kept with "
                                        "probability min(1, exp(D(x) - M)) (higher keeps fewer, closer rows).")
    rejection_min_acceptance: float = Field(
        0.1, ge=0, le=1, description="DRS acceptance floor: where the percentile bound would keep fewer than this "
        "share of a burn-in sample, M is lowered until it keeps this share (sampling with the filter then costs "
        "at most 1 / this as many candidates; 0 = the percentile bound alone).")
    select_snapshot: bool = Field(True, description="Judge the generator at 10 points of the budget against a "
                                  "10% selection split carved from train (own detector; never the gate "
                                  "holdout) and keep the best snapshot.")
    random_state: int = 0
    threads: int = Field(1, ge=1, description="torch threads for training (cores / concurrent jobs).")
    device: Literal["auto", "cpu", "cuda"] = "cpu"

    @model_validator(mode="after")
    def _batch(self) -> "CTGANModelSpec":  # noqa: D102
        if self.batch_size % 2 or self.batch_size % self.pac:
            raise ValueError(f"batch_size={self.batch_size} must be even and a multiple of pac={self.pac}")
        return self


@GENERATORS.register("ctgan")
class CTGANGenerator(TabularGenerator):
    """Parameters are those of spec.CTGANModelSpec (minus `name`); `fit(progress=True)` shows a tqdm bar."""

    params_model = CTGANModelSpec

    def _training(self, rows: int, columns: int):
        from synthgen.params import config_from
        from synthgen.training.ctgan_loop import CTGANTraining

        p = self.params
        return config_from(CTGANTraining, p, generator_dim=tuple(p["generator_dim"]),
                           discriminator_dim=tuple(p["discriminator_dim"]), steps=self._steps(rows, columns))

    def _steps(self, rows: int, columns: int) -> int:
        p = self.params
        if p["epochs"]:
            return p["epochs"] * max(rows // p["batch_size"], 1)
        return table_steps(rows, columns, p["batch_size"], p["steps"])

    def _fit(self, table: LabeledTable) -> None:
        from synthgen.generators.ctgan_transform import ModeNormalizer
        from synthgen.training.ctgan_loop import train_ctgan

        started = time.perf_counter()
        p = self.params
        self.filter_ = None                     # sampling during training (snapshot selection) has no filter
        selector = None
        if p["select_snapshot"]:
            selector, table = self._selection(table)
        data, discrete, self.plan_ = _encode(table)
        device = resolve_device(p["device"])
        normalizer = ModeNormalizer(gmm_fit_rows=p["gmm_fit_rows"], random_state=p["random_state"])
        encode_s = time.perf_counter() - started
        training = self._training(len(table), len(table.columns))
        with seeded(p["random_state"], threads=p["threads"]):
            normalizer.fit(data, discrete_columns=discrete)
            self.normalizer_ = normalizer          # snapshots are sampled through it while training
            encoded = normalizer.transform(data)
            self.net_, self.loss_history_ = train_ctgan(encoded, normalizer.output_info_list, training,
                                                        device=device, progress=getattr(self, "progress_", False),
                                                        selector=selector)
        if p["rejection"] == "drs" or (p["rejection"] == "auto" and selector is not None):
            self._fit_filter(table)
            if p["rejection"] == "auto":
                self._judge_filter(selector)
        self.selection_ = selector.summary() if selector is not None else None
        self.timings_.update(preprocess_s=encode_s + normalizer.seconds, steps=training.steps,
                             epochs=training.steps / max(len(table) // training.batch_size, 1),
                             fit_rows=len(table), stop_reason="budget",
                             selected_step=(self.selection_ or {}).get("best_at"))

    def _scaled_counts(self, counts: dict[str, int], scale: float) -> dict[str, int]:
        """Per-class sample counts: `counts` times `scale` (at least 1 each), 0 for the other classes."""
        per_class = {c: max(1, int(round(k * scale))) for c, k in counts.items()}
        per_class.update({c: 0 for c in self.classes_ if c not in per_class})
        return per_class

    def _fit_filter(self, table: LabeledTable) -> None:
        """Train the DRS discriminator on the fit rows against a sample of the trained generator with the
        fit rows' class counts (at most MAX_ROWS)."""
        from synthgen.training.rejection import MAX_ROWS, RejectionFilter

        started = time.perf_counter()
        p = self.params
        per_class = self._scaled_counts(table.class_counts(), min(1.0, MAX_ROWS / max(len(table), 1)))
        synthetic = self.sample(per_class=per_class, random_state=p["random_state"] + 777)
        with seeded(p["random_state"], threads=p["threads"]):
            self.filter_ = RejectionFilter.fit(table.frame, synthetic.frame, table.kinds,
                                               percentile=p["rejection_percentile"],
                                               min_acceptance=p["rejection_min_acceptance"],
                                               random_state=p["random_state"])
        self.timings_["rejection_fit_s"] = time.perf_counter() - started
        self.timings_["rejection"] = self.filter_.report

    def _judge_filter(self, selector) -> None:
        """`rejection: auto`: the kept snapshot sampled through the filter, judged like every snapshot (the
        same judge, rows and seed, on the selection split). The filter's cost counts: its judged score is
        lowered by ACCEPTANCE_PRICE for every halving of the acceptance it causes, and it stays only if
        that point still ranks higher than the snapshot's own. Both points, the price and the decision go
        into the selection record."""
        from synthgen.training.selection import rank

        plain = selector.best
        if plain is None:
            self.filter_ = None
            return
        filtered = {"at": plain["at"], **selector.judge(self.net_)}
        halvings = float(np.log2(max(plain.get("acceptance") or 1.0, 1e-9)
                                 / max(filtered.get("acceptance") or 1.0, 1e-9)))
        price = ACCEPTANCE_PRICE * max(halvings, 0.0)
        keep = rank({**filtered, "score": filtered["score"] - price}) > rank(plain)
        selector.extra["rejection"] = {"kept": keep, "with_drs": filtered, "without": plain,
                                       "acceptance_price": round(price, 5)}
        self.timings_["rejection_kept"] = keep
        if not keep:
            self.filter_ = None

    def _selection(self, table: LabeledTable):
        """(selector, the fit part of `table`): a stratified selection split is carved from the training
        rows; the snapshots are sampled to its class counts (at least 1,000 rows) and judged against it."""
        from synthgen.training.selection import SnapshotSelector, carve_selection, evaluation_points
        from synthgen.validation.judges import TableSnapshotJudge

        p = self.params
        labels = table.frame.get_column(table.label).cast(pl.String).to_numpy()
        fit_idx, sel_idx = carve_selection(labels, random_state=p["random_state"])
        if len(sel_idx) == 0:
            return None, table
        fit, selection = (table.with_frame(table.frame[idx.tolist()]) for idx in (fit_idx, sel_idx))
        judge = TableSnapshotJudge(fit, selection, random_state=p["random_state"])
        per_class = self._scaled_counts(selection.class_counts(), max(1.0, 1000 / max(len(selection), 1)))

        def judge_snapshot(net) -> dict:
            kept, self.net_ = getattr(self, "net_", None), net
            try:
                synthetic = self.sample(per_class=per_class, random_state=p["random_state"] + 4242)
            except GenerationError as exc:      # a snapshot that cannot reach a class yet scores lowest
                return {"score": float("-inf"), "error": str(exc).split(";")[0]}
            finally:
                self.net_ = kept
            records = synthetic.meta["sampling"].values()
            acceptance = sum(r["kept"] for r in records) / max(sum(r["candidates"] for r in records), 1)
            return {**judge(synthetic), "acceptance": round(acceptance, 4)}

        points = evaluation_points(self._steps(len(fit), len(fit.columns)))
        return SnapshotSelector(judge=judge_snapshot, points=points, criterion=judge.criterion), fit

    # -- sampling ----------------------------------------------------------------------------
    def _generate(self, net, cond_index: int, batch: int, gen) -> tuple[dict, dict]:
        """One batch conditioned on one label class -> per-column values/modes (numpy)."""
        import torch

        emb = self.params["embedding_dim"]
        z = torch.randn(batch, emb, generator=gen)
        cond = torch.zeros(batch, self.normalizer_.cond_dim)
        cond[:, cond_index] = 1.0
        with torch.no_grad():
            out = net(torch.cat([z, cond], dim=1))
        values, modes, st = {}, {}, 0
        for col in self.normalizer_.columns:
            if col["type"] == "discrete":
                width = len(col["categories"])
                values[col["name"]] = _gumbel_argmax(out[:, st:st + width], gen)
            else:
                width = 1 + len(col["means"])
                values[col["name"]] = torch.tanh(out[:, st]).numpy()
                modes[col["name"]] = _gumbel_argmax(out[:, st + 1:st + width], gen)
            st += width
        return values, modes

    def _sampling_net(self):
        """A copy in eval mode (running BatchNorm statistics; see the module docstring)."""
        return copy.deepcopy(self.net_).eval()

    def _sample_class(self, cls: str, k: int, *, random_state: int, min_acceptance: float):
        """Condition on the class, keep the rows that honour it, pass them through the DRS coin when a
        filter is kept; the `Sampler` sizes the draws and records what the class cost, split into the
        share of candidates that honoured the condition and the share of those the filter kept."""
        import torch

        from synthgen.generators.base import Sampler

        label = self.label_
        target = next(c for c in self.normalizer_.columns if c["name"] == label)["categories"].index(cls)
        cond_index = self.normalizer_.cond_offset(label, cls)
        gen = torch.Generator().manual_seed(random_state)
        coin = np.random.default_rng([random_state, 99])
        net = self._sampling_net()
        drs = getattr(self, "filter_", None)
        honoured = [0]

        def draw(n: int):
            values, modes = self._generate(net, cond_index, n, gen)
            keep = np.flatnonzero(values[label] == target)     # the condition honoured
            honoured[0] += len(keep)
            raw = self.normalizer_.decode({c: v[keep] for c, v in values.items()},
                                          {c: m[keep] for c, m in modes.items()})
            rows = _decode(raw, self.plan_, self.schema_)
            if drs is not None:
                rows = rows.filter(pl.Series(drs.accept(rows, coin)))
            return rows, n

        with seeded(random_state, threads=self.params["threads"]):
            sampler = Sampler(k, min_acceptance, batch=self.params["batch_size"])
            part, record = sampler.run(draw, lambda kept: pl.concat(kept).head(k) if kept else self.schema_.clone())
        record["condition_honoured"] = honoured[0] / record["candidates"] if record["candidates"] else 0.0
        if drs is not None:
            record["drs_kept"] = record["kept"] / honoured[0] if honoured[0] else 0.0
        return part, record

    def _class_label(self) -> str:
        return f"label {self.label_!r}"

    def _shortfall_cause(self, cls: str, record: dict) -> tuple[str, list[str]]:
        """Which of the two coins starves the class, and the knob for it."""
        condition, drs = record.get("condition_honoured", 0.0), record.get("drs_kept")
        if drs is not None and drs < condition:
            return (f"the rejection filter keeps {drs:.1%} of the class's rows (the generator honours the "
                    f"class for {condition:.1%})"), ["--set model.rejection=none (retrains)"]
        epochs, steps = self.params["epochs"], self.timings_.get("steps")
        longer = (f"--set model.epochs={2 * epochs}" if epochs else
                  f"--set model.steps={2 * steps}" if steps else "train longer (model.steps)")
        return (f"the generator produces the class for only {condition:.1%} of the rows conditioned on it"
                + (f" (the rejection filter then keeps {drs:.1%})" if drs is not None else "")), [longer]

    # -- persistence ---------------------------------------------------------------------------
    def _state(self):
        state = {"normalizer": self.normalizer_.state(), "plan": self.plan_,
                 "loss_history": self.loss_history_, "selection": self.selection_, "rejection": None}
        weights = dict(self.net_.state_dict())
        if getattr(self, "filter_", None) is not None:
            state["rejection"], drs_weights = self.filter_.state()
            weights.update({f"{DRS_PREFIX}{k}": v for k, v in drs_weights.items()})
        return state, weights

    def _restore(self, state: dict, weights: dict) -> None:
        from ctgan.synthesizers.ctgan import Generator as CTGANGeneratorNet

        from synthgen.generators.ctgan_transform import ModeNormalizer

        p = self.params
        self.normalizer_ = ModeNormalizer.from_state(state["normalizer"])
        self.plan_ = state["plan"]
        self.loss_history_ = state.get("loss_history", {})
        self.selection_ = state.get("selection")
        self.net_ = CTGANGeneratorNet(p["embedding_dim"] + self.normalizer_.cond_dim, tuple(p["generator_dim"]),
                                      self.normalizer_.output_dimensions)
        self.net_.load_state_dict({k: v for k, v in weights.items() if not k.startswith(DRS_PREFIX)})
        self.filter_ = None
        if state.get("rejection"):
            from synthgen.training.rejection import RejectionFilter

            self.filter_ = RejectionFilter.from_state(
                state["rejection"], {k[len(DRS_PREFIX):]: v for k, v in weights.items() if k.startswith(DRS_PREFIX)})


def _gumbel_argmax(logits, gen) -> np.ndarray:
    """A categorical draw from softmax(logits): what ctgan's gumbel-softmax + argmax amounts to,
    but drawn from the given generator."""
    import torch

    u = torch.rand(logits.shape, generator=gen).clamp_(1e-10, 1 - 1e-10)
    return torch.argmax(logits - torch.log(-torch.log(u)), dim=1).numpy()
