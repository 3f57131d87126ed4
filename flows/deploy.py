"""Register a spec as a scheduled Prefect deployment of augment_dataset_flow."""

from __future__ import annotations

import os
from pathlib import Path

from synthgen.errors import InputError
from synthgen.settings import DEFAULT_DATASETS_DIR
from synthgen.spec import load_spec


def deploy_spec(spec_path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                out: str | Path | None = None) -> str:
    loaded = load_spec(spec_path, overrides)
    schedule = loaded.spec.schedule
    if schedule is None:
        raise InputError(f"{spec_path}: schedule: a deployment needs schedule.cron in the spec")
    if not os.environ.get("PREFECT_API_URL"):
        raise InputError("synthgen deploy needs a Prefect server: set PREFECT_API_URL "
                         "(e.g. http://127.0.0.1:4200/api after `prefect server start`)")
    from prefect.schedules import Cron

    from flows.augment import augment_dataset_flow

    try:
        cron = Cron(schedule.cron, timezone=schedule.timezone)
    except Exception as exc:
        raise InputError(f"{spec_path}: schedule.cron {schedule.cron!r}: {exc}") from None
    deployment = augment_dataset_flow.to_deployment(
        name=loaded.spec.name,
        parameters={"spec_path": str(loaded.path), "overrides": list(overrides),
                    "out": str(Path(out).resolve()) if out else None},
        schedule=cron,
        tags=["synthgen", loaded.spec.modality],
        description=loaded.spec.description or f"synthgen augmentation of {loaded.spec.name}",
    )
    return str(deployment.apply())


def deploy_sampling(datasets: str | Path = DEFAULT_DATASETS_DIR) -> str:
    """Register `sample-dataset/on-request`: no schedule; a caller picks dataset, rows, per-class counts,
    seed and version as the flow run's parameters (Prefect UI "Run" or `prefect deployment run`)."""
    if not os.environ.get("PREFECT_API_URL"):
        raise InputError("synthgen deploy --sampling needs a Prefect server: set PREFECT_API_URL "
                         "(e.g. http://127.0.0.1:4200/api after `prefect server start`)")
    from flows.sample import sample_dataset_flow

    deployment = sample_dataset_flow.to_deployment(
        name="on-request", parameters={"datasets": str(Path(datasets).resolve())}, tags=["synthgen", "sampling"],
        description="A new sample from a published synthgen model, judged by the same gates, published as a "
                    "new version. Parameters: dataset (required), rows, per_class, seed, version.")
    return str(deployment.apply())
