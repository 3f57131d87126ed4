"""The data path as steps that pass one run (its folder and typed record), not data, between them.

spec -> source -> train/holdout split -> candidate generators fit -> select one -> sample -> validate
     -> gates -> report + card -> publish atomically (or quarantine)

Each step is one function taking the `Run` (see runs.py; the record is in record.py) and filling its
named fields of the record, so the Prefect flow can make each step a task and the CLI and tests can
call the same functions without Prefect (`run_pipeline`). `STEPS` is the one list of steps; the flow
iterates it too. Where a step has independent pieces (candidates to train, classes to draw, metric
groups to compute) it hands them to `cluster.fan_out`: tasks on a cluster, one call here otherwise.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any, Callable

from synthgen import publish as pub
from synthgen.atomic import atomic_directory, private_dir
from synthgen.catalog import latest_card, published_model, unchanged_since, version_card, write_catalog
from synthgen.cluster import fan_out, outcome, worker_name
from synthgen.errors import GateFailed, InputError, SynthgenError, Unchanged
from synthgen.record import Candidate, RunRecord, SampledFrom, SampleRecord, SourceRecord
from synthgen.runs import Run
from synthgen.spec import LoadedSpec, load_spec, training_key

CANDIDATES = "candidates"   # work/candidates/<i>/: each candidate's model, copied in under its store lock


def _step(name: str):
    """A step notes which worker ran it (the card's `tasks`) and saves the record when it is done."""
    def decorate(fn):
        @wraps(fn)
        def step(run: Run):
            run.record_tasks({name: worker_name()})
            result = fn(run)
            run.save()
            return result
        return step
    return decorate


def start_run(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
              out: str | Path | None = None, *, progress: bool = False, force: bool = False,
              loaded: LoadedSpec | None = None, sampled_from: SampledFrom | None = None) -> Run:
    """A new run folder and its record. `loaded` gives the spec already validated instead of reading
    `spec_path`; `sampled_from` (sampling) names the published model to draw from."""
    loaded = loaded or load_spec(spec_path, overrides)
    spec = loaded.spec
    out_dir = Path(out or spec.output.dir).resolve()
    version = spec.output.version or pub.new_version()
    path = pub.create_staging(out_dir, spec.name, version)
    run = Run(path, RunRecord(
        dataset=spec.name, version=version, out_dir=str(out_dir), spec_path=str(loaded.path),
        spec_dir=str(loaded.base_dir), overrides=list(loaded.overrides), spec_hash=loaded.spec_hash, spec=spec,
        force=force, progress=progress, sampled_from=sampled_from,
        started=datetime.now(timezone.utc).isoformat(timespec="seconds")))
    run.save()
    return run


@_step("load-data")
def load_data(run: Run) -> SourceRecord:
    """Read, check and split the source; a run whose source and spec equal the latest published version's
    ends here with `Unchanged` (exit 0), unless forced."""
    start = time.perf_counter()
    record, spec = run.record, run.spec
    train, holdout, source, warnings = run.adapter.load(spec, Path(record.spec_dir))
    run.adapter.save_real(run.work, train, holdout)
    origin = record.sampled_from
    if origin and origin.fingerprint != source.fingerprint:
        raise InputError(f"{record.dataset}: the source changed since version {origin.version} was trained "
                         f"(fingerprint {origin.fingerprint[:19]}… then, {source.fingerprint[:19]}… now): a "
                         "sample from that model would be judged against other data. Retrain with `synthgen run`.")
    preflight(spec, train, run.adapter)
    record.source = SourceRecord(source=source.as_dict(), train_rows=len(train), holdout_rows=len(holdout),
                                 warnings=warnings, protection=getattr(train, "meta", {}).get("protection"))
    run.record_time("load_data_s", time.perf_counter() - start)
    if not record.force and (card := unchanged_since(record.out_dir, record.dataset, record.spec_hash,
                                                      source.fingerprint)):
        raise Unchanged(f"{record.dataset}: unchanged since version {card['version']} (same source fingerprint "
                        f"{source.fingerprint[:19]}… and spec hash {card['spec_hash'][:12]}); nothing retrained "
                        "or published. Use --force to run anyway.", latest=card["path"])
    return record.source


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


# -- candidates: train each, select one ------------------------------------------------------------
def _candidates(run: Run) -> list[Candidate]:
    spec, fingerprint = run.spec, run.record.source.source["fingerprint"]
    return [Candidate(name=model.name, params=model.model_dump(mode="json"), key=training_key(spec, model, fingerprint))
            for model in spec.candidate_models()]


@_step("train-generator")
def train_generator(run: Run) -> list[Candidate]:
    """Train every candidate generator configuration (one task each on a cluster), or reuse the model a
    run of the same data and training settings left in the model store or published; each ends up in
    `work/candidates/<i>/`. A sample run uses exactly the model of the version it draws from."""
    record = run.record
    if record.sampled_from:
        origin = record.sampled_from
        model = Path(origin.model)
        if not (model / "generator.json").is_file():
            raise InputError(f"{model}: the model of version {origin.model_of} is missing; sample from another "
                             "version (synthgen list) or retrain with synthgen run")
        candidate = _candidates(run)[0]
        shutil.copytree(model, run.work / CANDIDATES / "0")
        record.candidates = [candidate.model_copy(update={"reused_model": str(model), "train_s": 0.0})]
        run.record_time("train_s", 0.0)
        return record.candidates
    start = time.perf_counter()
    private_dir(run.out_dir / pub.MODELS_DIR)   # trained models are the owner's only until published
    candidates = _candidates(run)
    done = fan_out(_train_candidate, [(str(run.path), i, c) for i, c in enumerate(candidates)], name="train",
                   local=lambda items: [_train_or_reuse(run, i, c) for _, i, c in items])
    record.candidates = [c.model_copy(update={"worker": worker}) for c, worker in done]
    run.record_tasks({f"train:{i}": worker for i, (_, worker) in enumerate(done)})
    run.record_time("train_s", time.perf_counter() - start)
    return record.candidates


def _train_candidate(job: tuple[str, int, Candidate]) -> Candidate:
    """One candidate trained or reused (a task a cluster worker may run)."""
    path, index, candidate = job
    return _train_or_reuse(Run.open(path), index, candidate)


def _train_or_reuse(run: Run, index: int, candidate: Candidate) -> Candidate:
    from synthgen.generators import GENERATORS

    start = time.perf_counter()
    store, into = run.model_store(candidate), run.work / CANDIDATES / str(index)
    store.parent.mkdir(parents=True, exist_ok=True)
    with pub.locked(run.model_lock(candidate)):  # same data and settings train one at a time; later ones reuse
        for found in (store, published_model(run.out_dir, run.record.dataset, candidate.key)):
            if found is not None and (found / "generator.json").is_file():
                shutil.copytree(found, into)
                print(f"{run.record.dataset}: reusing the model trained earlier on the same data and settings "
                      f"({found}); not retraining.", file=sys.stderr)
                return candidate.model_copy(update={"reused_model": str(found), "model": str(store),
                                                    "train_s": round(time.perf_counter() - start, 3)})
        model = run.spec.candidate_models()[index]
        checkpoint = run.checkpoint_dir(candidate)
        options = run.adapter.fit_options(run.spec, checkpoint)
        generator = GENERATORS.get(candidate.name)(**model.model_dump(exclude={"name"}))
        generator.fit(run.data("train"), progress=run.record.progress, **options)
        with atomic_directory(store) as tmp:  # kept until this run publishes: a later failure loses no work
            generator.save(tmp)
        shutil.copytree(store, into)
        pub.remove_folder(checkpoint, empty_parents=3)
    return candidate.model_copy(update={"model": str(store), "train_s": round(time.perf_counter() - start, 3)})


@_step("select-generator")
def select_generator(run: Run) -> int:
    """Pick the candidate to sample from. One candidate is the choice. Several are each sampled and scored
    by the adapter's candidate judge on the selection split carved from train (never the holdout the gates
    judge), ranked like snapshots (`training.selection.rank`: no significant memorisation first, then the
    higher score), unless the split is too small for the judge to tell them apart (the first candidate
    then); every candidate's point goes into the record and the card."""
    from synthgen.generators import Generator
    from synthgen.training.selection import rank

    record = run.record
    start = time.perf_counter()
    if len(record.candidates) == 1:
        record.chosen, record.selection = 0, {"criterion": "the only candidate", "chosen": 0}
    else:
        judge = run.adapter.candidate_judge(run.spec, run.data("train"))
        points = []
        for i, candidate in enumerate(record.candidates):
            point = {"at": i, **judge(Generator.load(run.work / CANDIDATES / str(i)))}
            record.candidates[i] = candidate.model_copy(update={"judged": point})
            points.append(point)
        record.chosen = max(points, key=rank)["at"] if judge.unresolved is None else 0
        record.selection = {"criterion": judge.unresolved or judge.criterion, "chosen": record.chosen}
    shutil.move(str(run.work / CANDIDATES / str(record.chosen)), str(run.dataset / "model"))
    run.record_time("select_s", time.perf_counter() - start)
    return record.chosen


# -- sample, validate, screen, report ----------------------------------------------------------------
@_step("generate")
def generate(run: Run) -> SampleRecord:
    """Draw the sample, one task per class on a cluster (each class from its own seed, so the sample is the
    same wherever it is drawn). A class the sampler cannot fill within its budget does not end the run:
    what was drawn is written as the dataset and the record keeps the shortfall, so `validate` refuses the
    run with the same evidence (card, reasons, data, report) a gate refusal leaves in quarantine."""
    from synthgen.generators import GenerationError, Generator

    start = time.perf_counter()
    spec, model_dir = run.spec, run.dataset / "model"
    generator = Generator.load(model_dir)
    plan = generator.plan(spec.sample.rows, per_class=spec.sample.per_class, balance=spec.sample.balance,
                          random_state=spec.sample.random_state, min_acceptance=spec.sample.min_acceptance)
    drawn = fan_out(_sample_part, [(str(model_dir), job) for job in plan.jobs], name="sample",
                    local=lambda items: generator.sample_classes([job for _, job in items]))
    run.record_tasks({f"sample:{job[0]}": worker for job, (_, worker) in zip(plan.jobs, drawn)})
    try:
        synthetic = generator.combine(plan, [part for part, _ in drawn])
        refusal = None
    except GenerationError as exc:
        synthetic = exc.partial
        refusal = {"message": str(exc), "shortfall": exc.shortfall, "knobs": exc.knobs}
    run.adapter.write_synthetic(run.dataset, synthetic, random_state=spec.sample.random_state)
    meta = synthetic.meta
    run.record.sample = SampleRecord(acceptance=meta["acceptance"], min_acceptance=meta["min_acceptance"],
                                     sampling=meta["sampling"], counts=meta["counts"], rows_per_s=meta["rows_per_s"],
                                     sample_s=meta["sample_s"], refusal=refusal)
    run.record_time("sample_s", time.perf_counter() - start)
    return run.record.sample


def _sample_part(job: tuple[str, tuple[str, int, int, float]]):
    """One class of a sample, drawn from the saved model (a task a cluster worker may run)."""
    from synthgen.generators import Generator

    model_dir, plan_job = job
    return Generator.load(model_dir).sample_classes([plan_job])[0]


def _metric_group(job: tuple[str, list[str]]) -> dict:
    """Metrics that read a cached input in common, on the run's context (a task a cluster worker may run)."""
    from synthgen.validation.suite import run_metrics

    path, names = job
    run = Run.open(path)
    ctx = run.adapter.context(run.spec, run.data("train"), run.data("holdout"), run.data("synthetic"))
    return run_metrics(ctx, names, modality=run.spec.modality)


@_step("validate")
def validate(run: Run) -> dict:
    from synthgen.validation.gates import sampling_verdict, verdict
    from synthgen.validation.metrics import METRICS
    from synthgen.validation.suite import metric_groups, run_metrics

    start = time.perf_counter()
    spec, record = run.spec, run.record
    if record.sample.refusal:   # the sample fell short: refused on that, with what was drawn as the evidence
        record.verdict = sampling_verdict(record.sample.refusal).as_dict()
        pub.write_json(run.dataset / "metrics.json", {})
        run.record_time("validate_s", time.perf_counter() - start)
        return record.verdict

    def here(items):   # one context for every group in this process
        ctx = run.adapter.context(spec, run.data("train"), run.data("holdout"), run.data("synthetic"))
        return [run_metrics(ctx, names, modality=spec.modality) for _, names in items]

    groups = metric_groups(spec.modality)
    done = fan_out(_metric_group, [(str(run.path), names) for names in groups], name="metrics", local=here)
    run.record_tasks({f"metrics:{'+'.join(names)}": worker for names, (_, worker) in zip(groups, done)})
    found = {name: result for part, _ in done for name, result in part.items()}
    results = {name: found[name] for name in METRICS.of(spec.modality)}
    timings = run.model_meta["timings"]
    decided = verdict(results, spec.gates.model_dump(),
                    context={"epochs": getattr(spec.model, "epochs", None) or timings.get("epochs_done")
                             or timings.get("epochs")})
    for name, result in results.items():  # files a metric saves whole beside the dataset (the GX suite)
        for filename, content in METRICS.get(name, spec.modality)().artifacts(result).items():
            pub.write_json(run.dataset / filename, content)
    pub.write_json(run.dataset / "metrics.json", {k: v.as_dict() for k, v in results.items()})
    record.verdict = decided.as_dict()
    run.record_time("validate_s", time.perf_counter() - start)
    return record.verdict


@_step("screen-holdout")
def screen_holdout(run: Run) -> dict | None:
    """Train once, use twice: when the spec has a `screen:` section, fit its anomaly scorer on the
    generator just trained (normal classes of train; threshold from the holdout's normal rows) and
    screen the holdout. A scorer that holds no real rows ships with the dataset (`scorer/`); the
    screening output shows real items, so it goes beside the datasets, never inside one."""
    from synthgen import screening
    from synthgen.generators import Generator

    spec, record = run.spec, run.record
    if spec.screen is None or record.sample.refusal:  # nothing to screen for a refused run
        return None
    start = time.perf_counter()
    holdout = run.data("holdout")
    scorer = screening.fit_scorer(spec, run.data("train"), holdout, generator=Generator.load(run.dataset / "model"))
    if not scorer.holds_real_data:
        screening.save_scorer(scorer, run.dataset / screening.SCORER_DIR)
    out = run.out_dir / record.dataset / screening.SCREENING_DIR / record.version
    summary = screening.screen_and_write(scorer, holdout, out, top_k=spec.screen.top_k,
                                         title=f"{spec.name}: anomaly screening of the holdout split",
                                         origin=f"{spec.name} holdout split", dataset=spec.name)
    summary["scorer_fit_s"] = scorer.timings_.get("fit_s")
    record.screening = summary
    run.record_time("screen_s", time.perf_counter() - start)
    return summary


@_step("write-report")
def write_report(run: Run) -> Path:
    from synthgen.reporting.card import build_card, card_markdown

    start = time.perf_counter()
    metrics = run.metrics()
    train, holdout, synthetic = run.data("train"), run.data("holdout"), run.data("synthetic")
    card = build_card(run.record, metrics=metrics, model_meta=run.model_meta, synthetic=synthetic)
    html = run.adapter.report(card, metrics, train, holdout, synthetic, run.model_meta)
    (run.dataset / "report.html").write_text(html)
    review = run.adapter.review(card, metrics, train, holdout, synthetic)
    if review is not None:   # real data beside synthetic: a private folder beside the screening reports
        run.record.review_report = card["review_report"] = str(_write_review(run, review))
    run.record_time("report_s", time.perf_counter() - start)
    card["timings"] = dict(run.record.timings)
    pub.write_json(run.dataset / "card.json", card)
    (run.dataset / "card.md").write_text(card_markdown(card))
    return run.dataset / "report.html"


REVIEW_DIR = "review"   # DIR/<dataset>/review/<version>/report.html: shows real data, owner-only (0700)


def _write_review(run: Run, html: str) -> Path:
    record = run.record
    root = pub.within(run.out_dir, run.out_dir / pub.checked(record.dataset, "dataset") / REVIEW_DIR)
    folder = private_dir(root) / pub.checked_version(record.version)
    folder.mkdir(exist_ok=True)
    (folder / "report.html").write_text(html)
    return folder / "report.html"


def finish(run: Run) -> Path:
    """Publish when every gate passed; otherwise quarantine and raise GateFailed (exit 3)."""
    record = run.record
    verdict = record.verdict
    if verdict["passed"]:
        final = pub.publish(run.path, run.out_dir, record.dataset, record.version)
        for candidate in record.candidates:  # published: the chosen model lives in the dataset now
            if candidate.model:
                with pub.locked(run.model_lock(candidate)):
                    pub.remove_folder(run.model_store(candidate), empty_parents=0)
        pub.prune_versions(final.parent, run.spec.output.keep)
        _refresh_catalog(run.out_dir)
        return final
    where = pub.quarantine(run.path, run.out_dir, record.dataset, record.version, verdict["reasons"],
                           next_steps=verdict.get("next_steps", {}))
    _refresh_catalog(run.out_dir)
    what = "the sample fell short of its counts" if any(c["kind"] == "sampling" for c in verdict["checks"]) \
        else "gates failed"
    raise GateFailed(f"{record.dataset}: {what}, nothing published; evidence in {where}\n  "
                     + "\n  ".join(verdict["reasons"]), reasons=verdict["reasons"], quarantine=str(where))


def _refresh_catalog(out_dir: Path) -> None:
    """The output folder's catalogue page after a publish or a refusal; a page that cannot be written is a
    warning, never a lost version (`synthgen catalog` writes it again)."""
    import warnings

    try:
        write_catalog(out_dir)
    except (OSError, SynthgenError, ValueError, KeyError) as exc:
        warnings.warn(f"{Path(out_dir) / 'index.html'}: the catalogue page was not updated ({exc}); "
                      "run `synthgen catalog` to write it", stacklevel=2)


@dataclass(frozen=True)
class Step:
    name: str                     # the flow's task name
    fn: Callable[[Run], Any]
    io: bool = False              # reads or writes files only: retried on transient errors in the flow


STEPS = (Step("load-data", load_data, io=True), Step("train-generator", train_generator),
         Step("select-generator", select_generator), Step("generate", generate), Step("validate", validate),
         Step("screen-holdout", screen_holdout), Step("write-report", write_report, io=True))


def run_steps(run: Run, call: Callable[[Step, Run], Any] | None = None) -> dict[str, Any]:
    """Every step in order (`call` runs one: directly, or as a Prefect task). Any failure before the
    verdict (and `Unchanged`) discards the run folder, so nothing is left behind."""
    call = call or (lambda step, r: step.fn(r))
    results = {}
    try:
        for step in STEPS:
            results[step.name] = call(step, run)
        return results
    except BaseException:
        pub.discard(run.path)
        raise


def run_pipeline(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                 out: str | Path | None = None, *, progress: bool = False, force: bool = False,
                 loaded: LoadedSpec | None = None) -> Path:
    """The whole path without Prefect: the published folder, or an exception (`Unchanged`: exit 0). `loaded`:
    the spec already validated (e.g. a dict from the Python API), as `start_run` takes it."""
    run = start_run(spec_path, overrides, out, progress=progress, force=force, loaded=loaded)
    run_steps(run)
    return finish(run)


def run_outcome(spec_path: str, overrides: list[str] | tuple[str, ...] = (), out: str | None = None,
                force: bool = False):
    """One spec's whole path as a task a cluster worker runs: its `cluster.RunOutcome`."""
    return outcome(run_pipeline, spec_path, overrides, out, force=force)


def start_sample(dataset: str, datasets: str | Path, *, version: str | None = None, rows: int | None = None,
                 per_class: dict[str, int] | None = None, seed: int | None = None, progress: bool = False) -> Run:
    """A run that draws a new sample from a published model (no training): the spec its card recorded
    with the new sample settings; the source is re-read (refused if its fingerprint changed), the sample
    is judged against the same holdout by the same gates, and it publishes as a new version whose card
    names the version it came from (`sampled_from`)."""
    from synthgen.spec import SampleSpec, validate_spec

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
    origin = SampledFrom(version=trained.get("version", card["version"]), model=str(Path(card["path"]) / "model"),
                         model_of=card["version"], fingerprint=card["source"]["source"]["fingerprint"])
    update: dict[str, Any] = {}
    if per_class:
        update = {"per_class": per_class, "rows": rows}
    elif rows:   # N rows in the training proportions, whatever counts the version was drawn with
        update = {"rows": rows, "per_class": None}
    if seed is not None:
        update["random_state"] = seed
    where = f"{root / card['version'] / 'card.json'}"
    spec = validate_spec(card["spec"], origin=where)
    try:
        sample = SampleSpec.model_validate(spec.sample.model_dump() | update)
    except ValueError as exc:
        raise InputError(f"{where}: the sample asked for: {exc}") from None
    spec = spec.model_copy(update={"sample": sample, "output": spec.output.model_copy(update={"version": None})})
    spec_path = card.get("spec_path") or str(Path.cwd() / "spec.yaml")
    loaded = LoadedSpec(spec=spec, path=Path(spec_path).resolve(),
                        overrides=[f"sample.{k}={v}" for k, v in update.items()])
    return start_run(spec_path, loaded.overrides, datasets, progress=progress, force=True, loaded=loaded,
                     sampled_from=origin)


def sample_pipeline(dataset: str, datasets: str | Path, **options) -> Path:
    """`synthgen sample` without Prefect."""
    run = start_sample(dataset, datasets, **options)
    run_steps(run)
    return finish(run)


__all__ = ["SynthgenError", "Run", "STEPS", "run_pipeline", "run_steps", "start_run", "finish", "Unchanged",
           *[s.fn.__name__ for s in STEPS]]
