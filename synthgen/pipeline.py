"""The data path as steps that pass a run folder, not data, between them.

spec -> source -> train/holdout split -> generator.fit -> sample -> validate -> gates
     -> report + card -> publish atomically (or quarantine)

Each step is one function taking the run folder (see publish.py) and writing its outputs there,
so the Prefect flow can make each step a task (results stay small: paths) and the CLI and tests
can call the same functions without Prefect (`run_pipeline`).
"""

from __future__ import annotations

import json
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from synthgen import publish as pub
from synthgen.data import LabeledTable, prepare_table, split_table
from synthgen.errors import GateFailed, SynthgenError
from synthgen.spec import LoadedSpec, TabularSpec, load_spec

LIBRARIES = ("synthgen", "torch", "ctgan", "rdt", "polars", "pandas", "numpy", "scikit-learn",
             "great-expectations", "prefect", "pydantic")


# -- run folder helpers ---------------------------------------------------------------------------
def _read(run: Path, name: str) -> Any:
    return json.loads((run / "work" / name).read_text())


def _spec(run: Path) -> TabularSpec:
    return TabularSpec.model_validate(_read(run, "spec.json"))


def _record_time(run: Path, step: str, seconds: float) -> None:
    path = run / "work" / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[step] = round(seconds, 3)
    pub.write_json(path, timings)


def _table(run: Path, which: str) -> LabeledTable:
    kinds = _read(run, "kinds.json")
    folder = "dataset" if which == "synthetic" else "work"
    file = "data.parquet" if which == "synthetic" else f"{which}.parquet"
    return LabeledTable(frame=pl.read_parquet(run / folder / file), label=kinds["label"],
                        kinds=kinds["kinds"], origin=which)


def run_info(run: Path) -> dict:
    return _read(run, "run.json")


# -- steps ----------------------------------------------------------------------------------------
def start_run(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
              out: str | Path | None = None, *, progress: bool = False) -> Path:
    loaded: LoadedSpec = load_spec(spec_path, overrides)
    spec = loaded.spec
    out_dir = Path(out or spec.output.dir).resolve()
    version = spec.output.version or pub.new_version()
    run = pub.create_staging(out_dir, spec.name, version)
    pub.write_json(run / "work" / "spec.json", spec.model_dump(mode="json"))
    pub.write_json(run / "work" / "run.json", {
        "dataset": spec.name, "version": version, "out_dir": str(out_dir),
        "spec_path": str(loaded.path), "spec_dir": str(loaded.base_dir), "overrides": list(overrides),
        "spec_hash": loaded.spec_hash, "progress": progress,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return run


def load_data(run: Path) -> dict:
    from synthgen.sources import read_table

    start = time.perf_counter()
    spec, info = _spec(run), run_info(run)
    frame, source = read_table(spec.source, Path(info["spec_dir"]))
    origin = source.location
    table = prepare_table(frame, label=spec.label, overrides={k: v.type for k, v in spec.columns.items()},
                          origin=origin, near_unique_ratio=spec.validation.near_unique_ratio,
                          max_categories=spec.validation.max_categories)
    train, holdout = split_table(table, holdout=spec.split.holdout, random_state=spec.split.random_state,
                                 stratify=spec.split.stratify)
    train.frame.write_parquet(run / "work" / "train.parquet")
    holdout.frame.write_parquet(run / "work" / "holdout.parquet")
    pub.write_json(run / "work" / "kinds.json", {"label": table.label, "kinds": table.kinds})
    summary = {"source": source.as_dict(), "train_rows": len(train), "holdout_rows": len(holdout),
               "warnings": list(table.warnings)}
    pub.write_json(run / "work" / "source.json", summary)
    _record_time(run, "load_data_s", time.perf_counter() - start)
    return summary


def train_generator(run: Path) -> Path:
    from synthgen.generators import GENERATORS

    start = time.perf_counter()
    spec = _spec(run)
    params = spec.model.model_dump(exclude={"name"})
    params["progress"] = run_info(run)["progress"]
    generator = GENERATORS.get(spec.model.name)(**params).fit(_table(run, "train"))
    model_dir = generator.save(run / "dataset" / "model")
    _record_time(run, "train_s", time.perf_counter() - start)
    return model_dir


def generate(run: Path) -> Path:
    from synthgen.generators import TabularGenerator

    start = time.perf_counter()
    spec = _spec(run)
    generator = TabularGenerator.load(run / "dataset" / "model")
    synthetic = generator.sample(spec.sample.rows, per_class=spec.sample.per_class,
                                 balance=spec.sample.balance, random_state=spec.sample.random_state,
                                 max_rounds=spec.sample.max_rounds)
    path = run / "dataset" / "data.parquet"
    synthetic.frame.write_parquet(path)
    pub.write_json(run / "work" / "sample.json", synthetic.meta)
    _record_time(run, "sample_s", time.perf_counter() - start)
    return path


def validate(run: Path) -> dict:
    from synthgen.validation.context import ValidationContext
    from synthgen.validation.gates import judge
    from synthgen.validation.metrics import run_metrics

    start = time.perf_counter()
    spec = _spec(run)
    ctx = ValidationContext(_table(run, "train"), _table(run, "holdout"), _table(run, "synthetic"),
                            max_rows=spec.validation.max_rows, random_state=spec.split.random_state)
    results = run_metrics(ctx)
    verdict = judge(results, spec.gates.model_dump())
    gx = results.pop("gx_success_rate", None)
    if gx is not None:  # the GX suite and results are saved whole, beside the dataset
        pub.write_json(run / "dataset" / "gx_results.json", gx.details)
        gx.details = {"evaluated": gx.details["checkpoint"]["evaluated"],
                      "successful": gx.details["checkpoint"]["successful"], "file": "gx_results.json"}
        results["gx_success_rate"] = gx
    pub.write_json(run / "dataset" / "metrics.json", {k: v.as_dict() for k, v in results.items()})
    pub.write_json(run / "work" / "verdict.json", verdict.as_dict())
    _record_time(run, "validate_s", time.perf_counter() - start)
    return verdict.as_dict()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_card(run: Path) -> dict:
    spec, info = _spec(run), run_info(run)
    metrics = json.loads((run / "dataset" / "metrics.json").read_text())
    model = json.loads((run / "dataset" / "model" / "generator.json").read_text())
    sample = _read(run, "sample.json")
    synthetic = _table(run, "synthetic")
    return {
        "dataset": info["dataset"], "version": info["version"], "created": info["started"],
        "description": spec.description, "spec_hash": info["spec_hash"], "spec": spec.model_dump(mode="json"),
        "overrides": info["overrides"], "source": _read(run, "source.json"),
        "label": spec.label, "rows": len(synthetic),
        "class_counts": {"train": model["class_counts"], "synthetic": synthetic.class_counts()},
        "model": {"name": model["generator"], "params": model["params"], "random_state": spec.model.random_state,
                  "timings": model["timings"]},
        "sample": {"random_state": spec.sample.random_state, "acceptance": sample["acceptance"],
                   "rows_per_s": sample["rows_per_s"]},
        "metrics": {k: v["value"] for k, v in metrics.items()},
        "verdict": _read(run, "verdict.json"),
        "timings": _read(run, "timings.json"),
        "versions": library_versions(),
    }


def write_report(run: Path) -> Path:
    from synthgen.reporting.card import card_markdown
    from synthgen.reporting.html import tabular_report

    start = time.perf_counter()
    _record_time(run, "report_s", 0.0)
    card = build_card(run)
    metrics = json.loads((run / "dataset" / "metrics.json").read_text())
    html = tabular_report(card, metrics, _table(run, "train"), _table(run, "holdout"), _table(run, "synthetic"))
    (run / "dataset" / "report.html").write_text(html)
    _record_time(run, "report_s", time.perf_counter() - start)
    card["timings"] = _read(run, "timings.json")
    pub.write_json(run / "dataset" / "card.json", card)
    (run / "dataset" / "card.md").write_text(card_markdown(card))
    return run / "dataset" / "report.html"


def finish(run: Path) -> Path:
    """Publish when every gate passed; otherwise quarantine and raise GateFailed (exit 3)."""
    info, verdict = run_info(run), _read(run, "verdict.json")
    out_dir = Path(info["out_dir"])
    if verdict["passed"]:
        return pub.publish(run, out_dir, info["dataset"], info["version"])
    where = pub.quarantine(run, out_dir, info["dataset"], info["version"], verdict["reasons"])
    raise GateFailed(f"{info['dataset']}: gates failed, nothing published; evidence in {where}\n  "
                     + "\n  ".join(verdict["reasons"]), reasons=verdict["reasons"], quarantine=str(where))


STEPS = (load_data, train_generator, generate, validate, write_report)


def run_pipeline(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 out: str | Path | None = None, *, progress: bool = False) -> Path:
    """The whole path without Prefect. Any failure before the verdict leaves nothing behind."""
    run = start_run(spec_path, overrides, out, progress=progress)
    try:
        for step in STEPS:
            step(run)
    except BaseException:
        pub.discard(run)
        raise
    return finish(run)


__all__ = ["SynthgenError", "run_pipeline", "start_run", "finish", *[s.__name__ for s in STEPS]]
