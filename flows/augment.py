"""augment_dataset_flow: spec -> trained generator -> labeled synthetic table -> gates -> publish.

Thin on purpose: each task is one call into synthgen.pipeline and passes the run (its folder and typed
record, held in this process), never data or models. Tasks that read or write files retry on transient errors, not on bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from synthgen import pipeline
from synthgen.cluster import RunOutcome
from synthgen.errors import SynthgenError, Unchanged
from synthgen.runs import Run


def _transient(task_, task_run, state) -> bool:
    """Retry I/O hiccups, never a bad spec/input or a gate refusal."""
    try:
        state.result()
    except SynthgenError:
        return False
    except Exception:
        return True
    return False


IO = dict(retries=2, retry_delay_seconds=2, retry_condition_fn=_transient)
TASK = dict(cache_policy=NO_CACHE, persist_result=False)


# One Prefect task per pipeline step, named as the step (the pipeline's STEPS is the one list).
TASKS = {step.name: task(name=step.name, **TASK, **(IO if step.io else {}))(step.fn) for step in pipeline.STEPS}


@task(name="publish", **TASK, **IO)
def publish(run: Run) -> Path:
    return pipeline.finish(run)


def _artifacts(run: Run) -> None:
    card = json.loads((run.dataset / "card.json").read_text())
    key = card["dataset"].replace("_", "-")
    checks = card["verdict"]["checks"]
    create_table_artifact(
        key=f"{key}-metrics",
        table=[{"metric": c["metric"], "kind": c["kind"], "value": c["value"], "threshold": c["threshold"],
                "passed": c["passed"]} for c in checks],
        description=f"Gate results for {card['dataset']} {card['version']}",
    )
    status = "published" if card["verdict"]["passed"] else "REFUSED (quarantined)"
    reasons = "".join(f"\n- {r}" for r in card["verdict"]["reasons"])
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=f"# {card['dataset']} {card['version']}: {status}\n\n{card['rows']} synthetic rows, "
        f"label `{card['label']}`, spec hash `{card['spec_hash'][:16]}`.{reasons}",
    )


def catalog_artifact(out_dir) -> None:
    """The output folder's catalogue (every dataset and version, published and refused) as a Prefect
    artifact beside the page `pipeline.finish` wrote: Prefect's UI then lists datasets, not only runs."""
    from synthgen.catalog import CATALOG_FILE, closest_text, versions

    root = Path(out_dir)
    rows = versions(root) if root.is_dir() else []
    lines = ["| dataset | version | status | created | rows | gates | closest / failing |", "|---|---|---|---|---|---|---|"]
    for r in reversed(rows):
        cells = [r["dataset"], r["version"], r["status"] + (" LATEST" if r["latest"] else ""), r["created"] or "",
                 f"{r['rows'] or 0:,}", f"{r['gates_passed']}/{r['gates']}", closest_text(r)]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    page = root / CATALOG_FILE
    create_markdown_artifact(key="synthgen-catalog", description=f"every dataset and version in {root}",
                             markdown=f"# synthgen catalogue\n\n[{page}]({page.resolve().as_uri()})\n\n"
                             + "\n".join(lines))


@flow(name="augment-dataset", log_prints=True)
def augment_dataset_flow(spec_path: str, overrides: list[str] | None = None, out: str | None = None,
                         progress: bool = False, force: bool = False, spec: dict | None = None) -> RunOutcome:
    """Published or unchanged comes back as a `RunOutcome`; a refusal or bad input fails the flow run. `spec`
    (the Python API's dict specs) is the spec itself, as if read from `spec_path`, which need not exist."""
    loaded = None
    if spec is not None:
        from synthgen.spec import spec_from_dict

        loaded = spec_from_dict(spec, spec_path, overrides or [], origin=f"the spec given for {spec_path}")
    run = pipeline.start_run(spec_path, overrides or [], out, progress=progress, force=force, loaded=loaded)
    try:
        results = pipeline.run_steps(run, lambda step, r: TASKS[step.name](r))
    except Unchanged as exc:  # a scheduled run with nothing new: done, and it says so
        create_markdown_artifact(key=f"{Path(exc.latest).parent.name.replace('_', '-')}-unchanged",
                                 markdown=f"# Nothing to do\n\n{exc}")
        print(str(exc))
        return RunOutcome(spec=spec_path, status="unchanged", exit_code=0, final=exc.latest, message=str(exc))
    try:
        _artifacts(run)
    except BaseException:
        from synthgen.publish import discard

        discard(run.path)
        raise
    screened = results["screen-holdout"]
    if screened is not None:
        from flows.screen import screening_artifacts

        screening_artifacts(screened)
    try:
        final = publish(run)
    finally:
        catalog_artifact(run.out_dir)
    create_link_artifact(key=f"{Path(final).parent.name.replace('_', '-')}-dataset",
                         link=Path(final).resolve().as_uri(), link_text=str(final))
    return RunOutcome(spec=spec_path, status="published", exit_code=0, final=str(final))


@task(name="augment-spec", **TASK)
def augment_spec(spec_path: str, overrides: list[str], out: str, force: bool = False) -> RunOutcome:
    """One spec's whole path on whichever dask worker the runner picks; the outcome comes back as data."""
    return pipeline.run_outcome(spec_path, overrides, out, force)


@flow(name="augment-many", log_prints=True)
def _augment_many(jobs: list[tuple]) -> list[RunOutcome]:
    futures = [augment_spec.submit(*job) for job in jobs]
    outcomes = [f.result() for f in futures]
    create_table_artifact(key="augment-many", table=[o.model_dump(include={"spec", "exit_code", "final", "worker"})
                                                     for o in outcomes],
                          description="one row per spec: where it ran and how it ended")
    return outcomes


def augment_many_flow(jobs: list[tuple], *, address: str, security=None) -> list[RunOutcome]:
    """Run specs concurrently on the dask scheduler at `address` (prefect-dask's DaskTaskRunner), joined
    with `security` (dask TLS) when given."""
    from prefect_dask import DaskTaskRunner

    kwargs = {"client_kwargs": {"security": security}} if security is not None else {}
    return _augment_many.with_options(task_runner=DaskTaskRunner(address=address, **kwargs))(jobs)
