"""CTGAN (ctgan package, BUSL-1.1) behind synthgen's generator contract.

ctgan's networks and data sampler train in synthgen's copy of its loop (training/ctgan_loop.py,
no run-time patching). What synthgen adds around them:
- typing: nulls in numeric/datetime columns become a median fill plus a `<col>__null` indicator
  column; nulls in categories become their own category; datetimes train as numbers;
- preprocessing through `ModeNormalizer` (sampled GMM fits, vectorised, JSON state);
- exact per-class counts: ctgan's conditioning only raises a probability, so each class is
  conditioned and then filtered in a bounded loop, and its acceptance rate recorded;
- sampling without touching the estimator: a copy of the generator net is run (ctgan samples with
  the BatchNorm layers in training mode, which would otherwise update their running stats), and
  every random draw comes from a seeded torch.Generator: same seed, same rows;
- save/load as a state_dict + JSON (ctgan's own save pickles the whole object).
"""

from __future__ import annotations

import copy
import time
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from synthgen.data import NULL_TOKEN, LabeledTable
from synthgen.generators.base import GENERATORS, GenerationError, TabularGenerator
from synthgen.params import Params
from synthgen.training.seeding import resolve_device, seeded

NULL_SUFFIX = "__null"


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
        }
        if has_null:
            flag = f"{name}{NULL_SUFFIX}"
            cols[flag] = np.where(numeric.is_null().to_numpy(), "1", "0").astype(object)
            discrete.append(flag)
    import pandas as pd

    return pd.DataFrame(cols), discrete, plan


def _decode(raw: dict[str, np.ndarray], plan: dict, schema: pl.DataFrame) -> pl.DataFrame:
    out = {}
    for name, dtype in schema.schema.items():
        spec = plan[name]
        values = raw[name]
        if spec["kind"] == "categorical":
            series = pl.Series(name, values.astype(str), dtype=pl.String)
            series = pl.when(series == NULL_TOKEN).then(None).otherwise(series)
            out[name] = pl.select(series.alias(name)).to_series().cast(dtype, strict=False)
            continue
        values = np.clip(values.astype(float), spec["min"], spec["max"])
        if spec["integer"]:
            values = np.round(values)
        series = pl.Series(name, values)
        if spec["nullable"]:
            series = series.scatter(np.flatnonzero(raw[f"{name}{NULL_SUFFIX}"] == "1"), None)
        if spec["kind"] == "datetime":
            series = series.cast(pl.Int64)
        out[name] = series.cast(dtype)
    return pl.DataFrame(out)


class CTGANModelSpec(Params):
    """CTGAN (ctgan package) behind synthgen's generator contract."""

    name: Literal["ctgan"] = "ctgan"
    epochs: int = Field(100, ge=1)
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
    """Parameters are those of spec.CTGANModelSpec (minus `name`); `progress` shows a tqdm bar."""

    params_model = CTGANModelSpec

    def _training(self):
        from synthgen.training.ctgan_loop import CTGANTraining

        p = self.params
        return CTGANTraining(
            embedding_dim=p["embedding_dim"], generator_dim=tuple(p["generator_dim"]),
            discriminator_dim=tuple(p["discriminator_dim"]), generator_lr=p["generator_lr"],
            discriminator_lr=p["discriminator_lr"], batch_size=p["batch_size"],
            discriminator_steps=p["discriminator_steps"], log_frequency=p["log_frequency"],
            epochs=p["epochs"], pac=p["pac"])

    def _fit(self, table: LabeledTable) -> None:
        from synthgen.generators.ctgan_transform import ModeNormalizer
        from synthgen.training.ctgan_loop import train_ctgan

        started = time.perf_counter()
        data, discrete, self.plan_ = _encode(table)
        device = resolve_device(self.params["device"])
        normalizer = ModeNormalizer(gmm_fit_rows=self.params["gmm_fit_rows"],
                                    random_state=self.params["random_state"])
        encode_s = time.perf_counter() - started
        with seeded(self.params["random_state"], threads=self.params["threads"]):
            normalizer.fit(data, discrete_columns=discrete)
            encoded = normalizer.transform(data)
            self.net_, self.loss_history_ = train_ctgan(encoded, normalizer.output_info_list, self._training(),
                                                        device=device, progress=self.params.get("progress", False))
        self.normalizer_ = normalizer
        self.timings_["preprocess_s"] = encode_s + normalizer.seconds
        self.timings_["epochs"] = self.params["epochs"]

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

    def _sample_class(self, cls: str, k: int, *, random_state: int, max_rounds: int):
        import torch

        label = self.label_
        target = next(c for c in self.normalizer_.columns if c["name"] == label)["categories"].index(cls)
        cond_index = self.normalizer_.cond_offset(label, cls)
        batch = self.params["batch_size"]
        gen = torch.Generator().manual_seed(random_state)
        net = copy.deepcopy(self.net_).train()  # batch statistics, as ctgan samples; original untouched
        kept_values: list[dict] = []
        kept_modes: list[dict] = []
        accepted = tried = rounds = 0
        with seeded(random_state, threads=self.params["threads"]):
            while accepted < k and rounds < max_rounds:
                values, modes = self._generate(net, cond_index, batch, gen)
                keep = np.flatnonzero(values[label] == target)
                kept_values.append({n: v[keep] for n, v in values.items()})
                kept_modes.append({n: m[keep] for n, m in modes.items()})
                accepted += len(keep)
                tried += batch
                rounds += 1
        rate = accepted / tried if tried else 0.0
        if accepted < k:
            raise GenerationError(
                f"class {cls!r} of label {label!r}: only {accepted} of {k} rows after {rounds} "
                f"batches of {batch} (acceptance {rate:.2%}); train longer (model.epochs) or raise "
                "sample.max_rounds"
            )
        values = {n: np.concatenate([b[n] for b in kept_values])[:k] for n in kept_values[0]}
        modes = {n: np.concatenate([b[n] for b in kept_modes])[:k] for n in kept_modes[0]}
        raw = self.normalizer_.decode(values, modes)
        return _decode(raw, self.plan_, self.schema_), rate

    # -- persistence ---------------------------------------------------------------------------
    def _state(self):
        state = {"normalizer": self.normalizer_.state(), "plan": self.plan_,
                 "loss_history": self.loss_history_}
        return state, self.net_.state_dict()

    def _restore(self, state: dict, weights: dict) -> None:
        from ctgan.synthesizers.ctgan import Generator as CTGANGeneratorNet

        from synthgen.generators.ctgan_transform import ModeNormalizer

        p = self.params
        self.normalizer_ = ModeNormalizer.from_state(state["normalizer"])
        self.plan_ = state["plan"]
        self.loss_history_ = state.get("loss_history", {})
        self.net_ = CTGANGeneratorNet(p["embedding_dim"] + self.normalizer_.cond_dim, tuple(p["generator_dim"]),
                                      self.normalizer_.output_dimensions)
        self.net_.load_state_dict(weights)


def _gumbel_argmax(logits, gen) -> np.ndarray:
    """A categorical draw from softmax(logits): what ctgan's gumbel-softmax + argmax amounts to,
    but drawn from the given generator."""
    import torch

    u = torch.rand(logits.shape, generator=gen).clamp_(1e-10, 1 - 1e-10)
    return torch.argmax(logits - torch.log(-torch.log(u)), dim=1).numpy()
