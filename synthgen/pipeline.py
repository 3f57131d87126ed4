"""The data path as steps that pass a run folder, not data, between them.

spec -> source -> train/holdout split -> generator.fit -> sample -> validate -> gates
     -> report + card -> publish atomically (or quarantine)

Each step is one function taking the run folder (see publish.py) and writing its outputs there,
so the Prefect flow can make each step a task (results stay small: paths) and the CLI and tests
can call the same functions without Prefect (`run_pipeline`). Inside a step, a `Run` handle reads
the spec and each data set once. `STEPS` is the one list of steps; the flow iterates it too.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property, lru_cache, wraps
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from synthgen import publish as pub
from synthgen.atomic import atomic_directory
from synthgen.catalog import latest_card, version_card
from synthgen.cluster import fan_out, worker_name
from synthgen.errors import GateFailed, InputError, SynthgenError, Unchanged
from synthgen.modalities import MODALITIES
from synthgen.spec import LoadedSpec, load_spec, validate_spec

MODELS = pub.MODELS_DIR
UNTRAINED_FIELDS = ("description", "sample", "gates", "validation", "output", "schedule", "screen")
LIBRARIES = ("synthgen", "torch", "ctgan", "rdt", "polars", "pandas", "numpy", "scikit-learn",
             "great-expectations", "prefect", "pydantic")


class Run:
    """A run folder: `work/` (spec, real splits, step records) and `dataset/` (what may be published).
    Reads the spec, its adapter and each data set at most once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.work = self.path / "work"
        self.dataset = self.path / "dataset"
        self._data: dict[str, Any] = {}

    def read(self, name: str) -> Any:
        return json.loads((self.work / name).read_text())

    def write(self, name: str, data: Any) -> None:
        pub.write_json(self.work / name, data)

    @cached_property
    def info(self) -> dict:
        return self.read("run.json")

    @cached_property
    def spec(self):
        return validate_spec(self.read("spec.json"), origin=str(self.work / "spec.json"))

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

    @cached_property
    def metrics(self) -> dict:
        return json.loads((self.dataset / "metrics.json").read_text())

    def record_time(self, step: str, seconds: float) -> None:
        path = self.work / "timings.json"
        timings = json.loads(path.read_text()) if path.exists() else {}
        timings[step] = round(seconds, 3)
        pub.write_json(path, timings)

    def record_tasks(self, tasks: dict[str, str]) -> None:
        """Which worker ran each task of this run ("local": this process); the card shows them."""
        path = self.work / "tasks.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        pub.write_json(path, known | tasks)

    def model_store(self) -> Path:
        """Where a trained model waits until its run publishes: outside the run and staging folders (no
        clean-up of stale runs removes it), keyed by the source fingerprint and every spec field that
        shapes training (not sample, gates, validation thresholds, output, schedule or screen), so a
        re-run after a failure later in the run, or with other gates, reuses the model."""
        import hashlib

        spec = self.spec.model_dump(mode="json")
        relevant = {k: v for k, v in spec.items() if k not in UNTRAINED_FIELDS}
        relevant["source_fingerprint"] = self.read("source.json")["source"]["fingerprint"]
        key = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
        return Path(self.info["out_dir"]) / MODELS / self.info["dataset"] / key

    def model_lock(self) -> Path:
        """Held while a model is trained into, reused from or removed from the model store."""
        store = self.model_store()
        return store.parent / f"{store.name}.lock"

    def checkpoint_dir(self) -> Path:
        """Outside the run folder, keyed by spec hash: a killed run's next attempt resumes from here."""
        info = self.info
        return Path(info["out_dir"]) / pub.STAGING / "checkpoints" / info["dataset"] / info["spec_hash"][:16]


# -- steps ----------------------------------------------------------------------------------------
def _records_worker(name: str):
    """A step notes which worker ran it (the card's `tasks`), wherever it runs."""
    def decorate(fn):
        @wraps(fn)
        def step(run: Path):
            Run(run).record_tasks({name: worker_name()})
            return fn(run)
        return step
    return decorate


def start_run(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
              out: str | Path | None = None, *, progress: bool = False, force: bool = False,
              loaded: LoadedSpec | None = None, origin: dict | None = None) -> Path:
    """A new run folder. `loaded` gives the spec as data instead of reading `spec_path`; `origin`
    (sampling) names the published model to draw from and the source fingerprint it was trained on."""
    loaded = loaded or load_spec(spec_path, overrides)
    spec = loaded.spec
    out_dir = Path(out or spec.output.dir).resolve()
    version = spec.output.version or pub.new_version()
    run = pub.create_staging(out_dir, spec.name, version)
    pub.write_json(run / "work" / "spec.json", spec.model_dump(mode="json"))
    pub.write_json(run / "work" / "run.json", {
        "dataset": spec.name, "version": version, "out_dir": str(out_dir),
        "spec_path": str(loaded.path), "spec_dir": str(loaded.base_dir), "overrides": list(overrides),
        "spec_hash": loaded.spec_hash, "progress": progress, "force": force, "origin": origin,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return run


@_records_worker("load-data")
def load_data(run: Path) -> dict:
    start = time.perf_counter()
    r = Run(run)
    train, holdout, source, warnings = r.adapter.load(r.spec, Path(r.info["spec_dir"]))
    r.adapter.save_real(r.work, train, holdout)
    summary = {"source": source.as_dict(), "train_rows": len(train), "holdout_rows": len(holdout),
               "warnings": warnings, **({"protection": train.meta["protection"]}
                                        if "protection" in getattr(train, "meta", {}) else {})}
    origin = r.info.get("origin")
    if origin and origin["fingerprint"] != source.fingerprint:
        raise InputError(f"{r.info['dataset']}: the source changed since version {origin['version']} was trained "
                         f"(fingerprint {origin['fingerprint'][:19]}… then, {source.fingerprint[:19]}… now): a "
                         "sample from that model would be judged against other data. Retrain with `synthgen run`.")
    preflight(r.spec, train, r.adapter)
    r.write("source.json", summary)
    r.record_time("load_data_s", time.perf_counter() - start)
    if not r.info.get("force"):
        summary["unchanged"] = _unchanged(r, source.fingerprint)
    return summary


SAMPLE_MEMORY_FACTOR = 3   # a sample is held about this many times over (draws, the combined set, its file)


def preflight(spec, train, adapter) -> None:
    """What the spec asks of the data, checked before anything trains: the sample's class counts
    (`sample.per_class` names and totals against the label's classes), the sample's size against this
    machine's memory, and the screening section's normal classes."""
    from synthgen.generators import resolve_class_counts
    from synthgen.resources import available_memory
    from synthgen.screening import normal_classes

    counts = train.class_counts()
    try:
        wanted = resolve_class_counts(counts, rows=spec.sample.rows, per_class=spec.sample.per_class,
                                      balance=spec.sample.balance)
    except InputError as exc:
        raise InputError(f"{spec.name} spec: {exc}") from None
    total = sum(wanted.values())
    if total == 0:
        raise InputError(f"{spec.name} spec: sample.per_class asks for 0 rows of every class; ask for at least one")
    per_row = adapter.item_bytes(train)
    available = available_memory()
    if available and total * per_row * SAMPLE_MEMORY_FACTOR > available:
        fits = int(available / (per_row * SAMPLE_MEMORY_FACTOR))
        raise InputError(f"{spec.name} spec: sample.rows={total} would need about "
                         f"{total * per_row * SAMPLE_MEMORY_FACTOR / 2**30:.1f} GiB ({per_row:.0f} bytes a row, held "
                         f"~{SAMPLE_MEMORY_FACTOR}x) and {available / 2**30:.1f} GiB is available; ask for at most "
                         f"{fits} rows (--set sample.rows={fits}) and draw more in further versions with synthgen sample")
    if spec.screen is not None:
        normal_classes(spec, list(counts))


def _unchanged(r: Run, fingerprint: str) -> dict | None:
    """A scheduled run whose source and spec equal the latest published version's has nothing to do
    (`run_steps` stops there with `Unchanged`, exit 0)."""
    card = latest_card(r.info["out_dir"], r.info["dataset"])
    if card and card.get("sampled_from"):  # a sample drawn later: judge against the run it came from
        card = version_card(r.info["out_dir"], r.info["dataset"], card["sampled_from"]["version"])
    if card and card.get("spec_hash") == r.info["spec_hash"] \
            and card["source"]["source"]["fingerprint"] == fingerprint:
        return {"latest": card["path"],
                "message": f"{r.info['dataset']}: unchanged since version {card['version']} (same source "
                           f"fingerprint {fingerprint[:19]}… and spec hash {card['spec_hash'][:12]}); nothing "
                           "retrained or published. Use --force to run anyway."}
    return None


@_records_worker("train-generator")
def train_generator(run: Path) -> Path:
    start = time.perf_counter()
    from synthgen.atomic import private_dir

    r = Run(run)
    store = r.model_store()
    private_dir(store.parents[1])   # DIR/.models: trained models are the owner's only until published
    with pub.locked(r.model_lock()):  # runs of the same data and settings train one at a time; later ones reuse
        return _train_or_reuse(r, store, start)


def _train_or_reuse(r: Run, store: Path, start: float) -> Path:
    import shutil

    from synthgen.generators import GENERATORS

    spec = r.spec
    card = latest_card(r.info["out_dir"], r.info["dataset"])
    published = Path(card["path"]) / "model" if card and card.get("model_key") == store.name else None
    if r.info.get("origin"):  # sampling: exactly the model of the version asked for, never a new one
        store, published = None, Path(r.info["origin"]["model"])
        if not (published / "generator.json").is_file():
            raise InputError(f"{published}: the model of version {r.info['origin']['model_of']} is missing; "
                             "sample from another version (synthgen list) or retrain with synthgen run")
    for found in (store, published):
        if found is not None and (found / "generator.json").is_file():
            shutil.copytree(found, r.dataset / "model")
            r.write("train.json", {"reused_model": str(found)})
            print(f"{spec.name}: reusing the model trained earlier on the same data and settings ({found}); "
                  "not retraining.", file=sys.stderr)
            r.record_time("train_s", time.perf_counter() - start)
            return r.dataset / "model"
    params = spec.model.model_dump(exclude={"name"})
    ckpt = r.checkpoint_dir()
    options = r.adapter.fit_options(spec, ckpt)
    generator = GENERATORS.get(spec.model.name)(**params).fit(r.data("train"), progress=r.info["progress"], **options)
    model_dir = generator.save(r.dataset / "model")
    with atomic_directory(store) as tmp:  # kept until this run publishes: a later failure loses no work
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
    pub.remove_folder(ckpt, empty_parents=3)
    r.write("train.json", {"reused_model": None})
    r.record_time("train_s", time.perf_counter() - start)
    return model_dir


@_records_worker("generate")
def generate(run: Path) -> Path:
    """Draw the sample. A class the sampler cannot fill within its budget does not end the run: what was
    drawn is written as the dataset and `sample.json` records the shortfall, so `validate` refuses the run
    with the same evidence (card, reasons, data, report) a gate refusal leaves in quarantine."""
    from synthgen.generators import GenerationError

    start = time.perf_counter()
    r = Run(run)
    spec = r.spec
    model_dir = r.dataset / "model"
    generator = _loaded_generator(str(model_dir))  # the per-class tasks of this process reuse this load

    def run_classes(jobs):  # one task per class on a cluster (the classes are drawn from their own seeds)
        drawn = fan_out(_sample_part, [(str(model_dir), *job) for job in jobs], name="sample")
        r.record_tasks({f"sample:{job[0]}": worker for job, (_, worker) in zip(jobs, drawn)})
        return [part for part, _ in drawn]

    try:
        synthetic = generator.sample(spec.sample.rows, per_class=spec.sample.per_class,
                                     balance=spec.sample.balance, random_state=spec.sample.random_state,
                                     min_acceptance=spec.sample.min_acceptance, run_classes=run_classes)
        refusal = None
    except GenerationError as exc:
        synthetic = exc.partial
        refusal = {"message": str(exc), "shortfall": exc.shortfall, "knobs": exc.knobs}
    finally:
        _loaded_generator.cache_clear()
    r.adapter.write_synthetic(r.dataset, synthetic, random_state=spec.sample.random_state)
    r.write("sample.json", {**synthetic.meta, "refusal": refusal})
    r.record_time("sample_s", time.perf_counter() - start)
    return r.dataset


def _sample_part(job: tuple[str, str, int, int, float]):
    """One class of a sample, drawn from the saved model (a task a cluster worker may run)."""
    model_dir, cls, k, seed, floor = job
    return _loaded_generator(model_dir).sample_classes([(cls, k, seed, floor)])[0]


@lru_cache(maxsize=2)
def _loaded_generator(model_dir: str):
    from synthgen.generators import Generator

    return Generator.load(model_dir)


@lru_cache(maxsize=1)
def _context(run: str):
    """The validation context of a run folder, shared by the metric groups this process computes."""
    r = Run(run)
    return r.adapter.context(r.spec, r.data("train"), r.data("holdout"), r.data("synthetic"))


def _metric_group(job: tuple[str, list[str]]) -> dict:
    """Metrics that share a cached input, on the run's context (a task a cluster worker may run)."""
    from synthgen.validation.suite import run_metrics

    run, names = job
    return run_metrics(_context(run), names, modality=Run(run).spec.modality)


@_records_worker("validate")
def validate(run: Path) -> dict:
    from synthgen.validation.gates import judge, sampling_verdict
    from synthgen.validation.metrics import METRICS
    from synthgen.validation.suite import metric_groups

    start = time.perf_counter()
    r = Run(run)
    spec = r.spec
    refusal = r.read("sample.json").get("refusal")
    if refusal:   # the sample fell short: refused on that, with what was drawn as the evidence
        verdict = sampling_verdict(refusal)
        pub.write_json(r.dataset / "metrics.json", {})
        r.write("verdict.json", verdict.as_dict())
        r.record_time("validate_s", time.perf_counter() - start)
        return verdict.as_dict()
    groups = metric_groups(spec.modality)
    done = fan_out(_metric_group, [(str(run), names) for names in groups], name="metrics")
    _context.cache_clear()
    r.record_tasks({f"metrics:{'+'.join(names)}": worker for names, (_, worker) in zip(groups, done)})
    found = {name: result for part, _ in done for name, result in part.items()}
    results = {name: found[name] for name in METRICS.of(spec.modality)}
    timings = r.model_meta["timings"]
    verdict = judge(results, spec.gates.model_dump(),
                    context={"epochs": getattr(spec.model, "epochs", None) or timings.get("epochs_done")
                             or timings.get("epochs")})
    for name, result in results.items():  # files a metric saves whole beside the dataset (the GX suite)
        for filename, content in METRICS.get(name, spec.modality)().artifacts(result).items():
            pub.write_json(r.dataset / filename, content)
    pub.write_json(r.dataset / "metrics.json", {k: v.as_dict() for k, v in results.items()})
    r.write("verdict.json", verdict.as_dict())
    r.record_time("validate_s", time.perf_counter() - start)
    return verdict.as_dict()


@_records_worker("screen-holdout")
def screen_holdout(run: Path) -> dict | None:
    """Train once, use twice: when the spec has a `screen:` section, fit its anomaly scorer on the
    generator just trained (normal classes of train; threshold from the holdout's normal rows) and
    screen the holdout. A scorer that holds no real rows ships with the dataset (`scorer/`); the
    screening output shows real items, so it goes beside the datasets, never inside one."""
    from synthgen import screening
    from synthgen.generators import Generator

    r = Run(run)
    spec, info = r.spec, r.info
    if spec.screen is None or r.read("sample.json").get("refusal"):  # nothing to screen for a refused run
        return None
    start = time.perf_counter()
    holdout = r.data("holdout")
    scorer = screening.fit_scorer(spec, r.data("train"), holdout, generator=Generator.load(r.dataset / "model"))
    if not scorer.holds_real_data:
        screening.save_scorer(scorer, r.dataset / screening.SCORER_DIR)
    out = Path(info["out_dir"]) / info["dataset"] / screening.SCREENING_DIR / info["version"]
    summary = screening.screen_and_write(scorer, holdout, out, top_k=spec.screen.top_k,
                                         title=f"{spec.name}: anomaly screening of the holdout split",
                                         origin=f"{spec.name} holdout split", dataset=spec.name)
    summary["scorer_fit_s"] = scorer.timings_.get("fit_s")
    r.write("screening.json", summary)
    r.record_time("screen_s", time.perf_counter() - start)
    return summary


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_card(r: Run) -> dict:
    spec, info = r.spec, r.info
    metrics, model, sample = r.metrics, r.model_meta, r.read("sample.json")
    synthetic = r.data("synthetic")
    return {
        "dataset": info["dataset"], "version": info["version"], "created": info["started"],
        "description": spec.description, "spec_hash": info["spec_hash"], "spec": spec.model_dump(mode="json"),
        "overrides": info["overrides"], "source": r.read("source.json"),
        "modality": spec.modality, "label": getattr(spec, "label", "class"), "rows": len(synthetic),
        "class_counts": {"train": model["class_counts"], "synthetic": synthetic.class_counts()},
        "model": {"name": model["generator"], "params": model["params"], "random_state": spec.model.random_state,
                  "timings": model["timings"], "selection": model["state"].get("selection")},
        "sample": {"random_state": spec.sample.random_state, "acceptance": sample["acceptance"],
                   "min_acceptance": sample.get("min_acceptance"), "per_class": sample.get("sampling", {}),
                   "rows_per_s": sample["rows_per_s"], "refusal": sample.get("refusal")},
        "metrics": {k: v["value"] for k, v in metrics.items()},
        "verdict": r.read("verdict.json"),
        "timings": r.read("timings.json"),
        "reused_model": r.read("train.json")["reused_model"], "model_key": r.model_store().name,
        "tasks": r.read("tasks.json"), "spec_path": info["spec_path"],
        **({"sampled_from": info["origin"]} if info.get("origin") else {}),
        "versions": library_versions(),
        **({"screening": r.read("screening.json")} if (r.work / "screening.json").exists() else {}),
    }


@_records_worker("write-report")
def write_report(run: Path) -> Path:
    from synthgen.reporting.card import card_markdown

    start = time.perf_counter()
    r = Run(run)
    card = build_card(r)
    html = r.adapter.report(card, r.metrics, r.data("train"), r.data("holdout"), r.data("synthetic"),
                            r.model_meta)
    (r.dataset / "report.html").write_text(html)
    review = r.adapter.review(card, r.metrics, r.data("train"), r.data("holdout"), r.data("synthetic"))
    if review is not None:   # real data beside synthetic: a private folder beside the screening reports
        card["review_report"] = str(_write_review(r, review))
    r.record_time("report_s", time.perf_counter() - start)
    card["timings"] = r.read("timings.json")
    pub.write_json(r.dataset / "card.json", card)
    (r.dataset / "card.md").write_text(card_markdown(card))
    return r.dataset / "report.html"


REVIEW_DIR = "review"   # DIR/<dataset>/review/<version>/report.html: shows real data, owner-only (0700)


def _write_review(r: Run, html: str) -> Path:
    from synthgen.atomic import private_dir

    info = r.info
    root = pub.within(info["out_dir"], Path(info["out_dir"]) / pub.checked(info["dataset"], "dataset") / REVIEW_DIR)
    folder = private_dir(root) / pub.checked_version(info["version"])
    folder.mkdir(exist_ok=True)
    (folder / "report.html").write_text(html)
    return folder / "report.html"


def finish(run: Path) -> Path:
    """Publish when every gate passed; otherwise quarantine and raise GateFailed (exit 3)."""
    r = Run(run)
    info, verdict = r.info, r.read("verdict.json")
    out_dir = Path(info["out_dir"])
    if verdict["passed"]:
        store, lock = r.model_store(), r.model_lock()  # read before the run folder goes
        final = pub.publish(run, out_dir, info["dataset"], info["version"])
        with pub.locked(lock):  # published: the model lives in the dataset now (reused from there)
            pub.remove_folder(store, empty_parents=0)
        pub.prune_versions(final.parent, r.spec.output.keep)
        return final
    where = pub.quarantine(run, out_dir, info["dataset"], info["version"], verdict["reasons"],
                           next_steps=verdict.get("next_steps", {}))
    what = "the sample fell short of its counts" if any(c["kind"] == "sampling" for c in verdict["checks"]) \
        else "gates failed"
    raise GateFailed(f"{info['dataset']}: {what}, nothing published; evidence in {where}\n  "
                     + "\n  ".join(verdict["reasons"]), reasons=verdict["reasons"], quarantine=str(where))


@dataclass(frozen=True)
class Step:
    name: str                     # the flow's task name
    fn: Callable[[Path], Any]
    io: bool = False              # reads or writes files only: retried on transient errors in the flow


STEPS = (Step("load-data", load_data, io=True), Step("train-generator", train_generator),
         Step("generate", generate), Step("validate", validate), Step("screen-holdout", screen_holdout),
         Step("write-report", write_report, io=True))


def run_steps(run: Path, call: Callable[[Step, Path], Any] | None = None) -> dict[str, Any]:
    """Every step in order (`call` runs one: directly, or as a Prefect task). Any failure before the
    verdict discards the run folder, so nothing is left behind."""
    call = call or (lambda step, path: step.fn(path))
    results = {}
    try:
        for step in STEPS:
            results[step.name] = result = call(step, run)
            if isinstance(result, dict) and result.get("unchanged"):  # nothing new since the latest version
                raise Unchanged(result["unchanged"]["message"], latest=result["unchanged"]["latest"])
        return results
    except BaseException:
        pub.discard(run)
        raise


def run_pipeline(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 out: str | Path | None = None, *, progress: bool = False, force: bool = False) -> Path:
    """The whole path without Prefect."""
    run = start_run(spec_path, overrides, out, progress=progress, force=force)
    run_steps(run)
    return finish(run)


def start_sample(dataset: str, datasets: str | Path, *, version: str | None = None, rows: int | None = None,
                 per_class: dict[str, int] | None = None, seed: int | None = None, progress: bool = False) -> Path:
    """A run that draws a new sample from a published model (no training): the spec its card recorded,
    with the new sample settings; the source is re-read (refused if its fingerprint changed), the sample
    is judged against the same holdout by the same gates, and it publishes as a new version whose card
    names the version it came from (`sampled_from`)."""
    from synthgen.spec import spec_from_dict

    pub.checked(dataset, "dataset")
    if version is not None:
        pub.checked_version(version)
    datasets = Path(datasets).resolve()
    root = datasets / dataset
    if not root.is_dir():
        known = sorted(p.name for p in datasets.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
            if datasets.is_dir() else []
        raise InputError(f"{root}: no published dataset {dataset!r} (published there: {', '.join(known) or 'none'})")
    card = version_card(datasets, dataset, version) if version else latest_card(datasets, dataset)
    if card is None:
        raise InputError(f"{root / (version or 'LATEST')}: no published version {version or '(LATEST)'} of {dataset!r}")
    trained = card.get("sampled_from") or {}  # a sample of a sample: the same model, trained by that run
    origin = {"version": trained.get("version", card["version"]), "model": str(Path(card["path"]) / "model"),
              "model_of": card["version"], "fingerprint": card["source"]["source"]["fingerprint"]}
    overrides = ["output.version=null"]
    if per_class:
        overrides += [f"sample.per_class={json.dumps(per_class)}", f"sample.rows={rows if rows else 'null'}"]
    elif rows:   # N rows in the training proportions, whatever counts the version was drawn with
        overrides += [f"sample.rows={rows}", "sample.per_class=null"]
    if seed is not None:
        overrides.append(f"sample.random_state={seed}")
    spec_path = card.get("spec_path") or str(Path.cwd() / "spec.yaml")
    loaded = spec_from_dict(card["spec"], spec_path, overrides, origin=f"{root / card['version'] / 'card.json'}")
    return start_run(spec_path, overrides, datasets, progress=progress, force=True, loaded=loaded, origin=origin)


def sample_pipeline(dataset: str, datasets: str | Path, **options) -> Path:
    """`synthgen sample` without Prefect."""
    run = start_sample(dataset, datasets, **options)
    run_steps(run)
    return finish(run)


def run_job(spec_path: str, overrides: list[str] | tuple[str, ...] = (), out: str | None = None,
            force: bool = False) -> dict:
    """One spec's whole path as a task a cluster worker runs: the outcome comes back as data (exit
    code, message, published folder) so that a refusal on one worker never looks like a crash."""
    try:
        final = run_pipeline(spec_path, overrides, out, force=force)
    except SynthgenError as exc:
        return {"spec": str(spec_path), "exit_code": exc.exit_code, "message": str(exc),
                "final": getattr(exc, "latest", None), "worker": worker_name()}
    return {"spec": str(spec_path), "exit_code": 0, "message": None, "final": str(final), "worker": worker_name()}


__all__ = ["SynthgenError", "Run", "STEPS", "run_pipeline", "run_steps", "start_run", "finish",
           *[s.fn.__name__ for s in STEPS]]
