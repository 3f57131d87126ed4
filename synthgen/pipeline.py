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

from synthgen import publish as pub
from synthgen.errors import GateFailed, SynthgenError
from synthgen.modalities import MODALITY_IO
from synthgen.spec import LoadedSpec, load_spec, validate_spec

LIBRARIES = ("synthgen", "torch", "ctgan", "rdt", "polars", "pandas", "numpy", "scikit-learn",
             "great-expectations", "prefect", "pydantic")


# -- run folder helpers ---------------------------------------------------------------------------
def _read(run: Path, name: str) -> Any:
    return json.loads((run / "work" / name).read_text())


def _spec(run: Path):
    return validate_spec(_read(run, "spec.json"), origin=str(run / "work" / "spec.json"))


def _io(spec):
    return MODALITY_IO[spec.modality]


def _record_time(run: Path, step: str, seconds: float) -> None:
    path = run / "work" / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[step] = round(seconds, 3)
    pub.write_json(path, timings)


def _data(run: Path, which: str):
    """train / holdout (real, work folder) or synthetic (dataset folder), in the modality's container."""
    return _io(_spec(run)).read(run, which)


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
    start = time.perf_counter()
    spec, info = _spec(run), run_info(run)
    io = _io(spec)
    train, holdout, source, warnings = io.load(spec, Path(info["spec_dir"]))
    io.save_real(run / "work", train, holdout)
    summary = {"source": source.as_dict(), "train_rows": len(train), "holdout_rows": len(holdout),
               "warnings": warnings}
    pub.write_json(run / "work" / "source.json", summary)
    _record_time(run, "load_data_s", time.perf_counter() - start)
    return summary


def checkpoint_dir(run: Path) -> Path:
    """Outside the run folder, keyed by spec hash: a killed run's next attempt resumes from here."""
    info = run_info(run)
    return Path(info["out_dir"]) / pub.STAGING / "checkpoints" / info["dataset"] / info["spec_hash"][:16]


def train_generator(run: Path) -> Path:
    import shutil

    from synthgen.generators import GENERATORS

    start = time.perf_counter()
    spec = _spec(run)
    params = spec.model.model_dump(exclude={"name"})
    params["progress"] = run_info(run)["progress"]
    ckpt = checkpoint_dir(run)
    options = _io(spec).fit_options(spec, run, ckpt)
    generator = GENERATORS.get(spec.model.name)(**params).fit(_data(run, "train"), **options)
    model_dir = generator.save(run / "dataset" / "model")
    shutil.rmtree(ckpt, ignore_errors=True)
    for parent in (ckpt.parent, ckpt.parent.parent, ckpt.parent.parent.parent):
        pub._drop_empty(parent)
    _record_time(run, "train_s", time.perf_counter() - start)
    return model_dir


def generate(run: Path) -> Path:
    from synthgen.generators import Generator

    start = time.perf_counter()
    spec = _spec(run)
    generator = Generator.load(run / "dataset" / "model")
    synthetic = generator.sample(spec.sample.rows, per_class=spec.sample.per_class,
                                 balance=spec.sample.balance, random_state=spec.sample.random_state,
                                 max_rounds=spec.sample.max_rounds)
    _io(spec).write_synthetic(run / "dataset", synthetic, random_state=spec.sample.random_state)
    pub.write_json(run / "work" / "sample.json", synthetic.meta)
    _record_time(run, "sample_s", time.perf_counter() - start)
    return run / "dataset"


def validate(run: Path) -> dict:
    from synthgen.validation.gates import judge
    from synthgen.validation.metrics import run_metrics

    start = time.perf_counter()
    spec = _spec(run)
    ctx = _io(spec).context(spec, _data(run, "train"), _data(run, "holdout"), _data(run, "synthetic"))
    results = run_metrics(ctx, modality=spec.modality)
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


def screen_holdout(run: Path) -> dict | None:
    """Train once, use twice: when the spec has a `screen:` section, fit its anomaly scorer on the
    generator just trained (normal classes of train; threshold from the holdout's normal rows) and
    screen the holdout. A scorer that holds no real rows ships with the dataset (`scorer/`); the
    screening output shows real items, so it goes beside the datasets, never inside one."""
    from synthgen import screening
    from synthgen.generators import Generator

    spec, info = _spec(run), run_info(run)
    if spec.screen is None:
        return None
    start = time.perf_counter()
    train, holdout = _data(run, "train"), _data(run, "holdout")
    scorer = screening.fit_scorer(spec, train, holdout, generator=Generator.load(run / "dataset" / "model"))
    if not scorer.holds_real_data:
        screening.save_scorer(scorer, run / "dataset" / screening.SCORER_DIR)
    out = Path(info["out_dir"]) / info["dataset"] / screening.SCREENING_DIR / info["version"]
    summary = screening.screen_and_write(scorer, holdout, out, top_k=spec.screen.top_k,
                                         title=f"{spec.name}: anomaly screening of the holdout split",
                                         origin=f"{spec.name} holdout split", dataset=spec.name)
    summary["scorer_fit_s"] = scorer.timings_.get("fit_s")
    pub.write_json(run / "work" / "screening.json", summary)
    _record_time(run, "screen_s", time.perf_counter() - start)
    return summary


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
    synthetic = _data(run, "synthetic")
    return {
        "dataset": info["dataset"], "version": info["version"], "created": info["started"],
        "description": spec.description, "spec_hash": info["spec_hash"], "spec": spec.model_dump(mode="json"),
        "overrides": info["overrides"], "source": _read(run, "source.json"),
        "modality": spec.modality, "label": getattr(spec, "label", "class"), "rows": len(synthetic),
        "class_counts": {"train": model["class_counts"], "synthetic": synthetic.class_counts()},
        "model": {"name": model["generator"], "params": model["params"], "random_state": spec.model.random_state,
                  "timings": model["timings"]},
        "sample": {"random_state": spec.sample.random_state, "acceptance": sample["acceptance"],
                   "rows_per_s": sample["rows_per_s"]},
        "metrics": {k: v["value"] for k, v in metrics.items()},
        "verdict": _read(run, "verdict.json"),
        "timings": _read(run, "timings.json"),
        "versions": library_versions(),
        **({"screening": _read(run, "screening.json")} if (run / "work" / "screening.json").exists() else {}),
    }


def write_report(run: Path) -> Path:
    from synthgen.reporting.card import card_markdown

    start = time.perf_counter()
    card = build_card(run)
    metrics = json.loads((run / "dataset" / "metrics.json").read_text())
    model_meta = json.loads((run / "dataset" / "model" / "generator.json").read_text())
    html = _io(_spec(run)).report(card, metrics, _data(run, "train"), _data(run, "holdout"),
                                  _data(run, "synthetic"), model_meta)
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


STEPS = (load_data, train_generator, generate, validate, screen_holdout, write_report)


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
