"""sample_dataset_flow: new rows or images from a published model, judged by the same gates against the
same holdout, published as a new version. Deployed without a schedule (`synthgen deploy --sampling`), so
another team asks for rows through the Prefect API or UI with their own parameters."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.augment import TASKS, catalog_artifact, publish
from synthgen import pipeline
from synthgen.catalog import version_card
from synthgen.settings import DEFAULT_DATASETS_DIR


@flow(name="sample-dataset", log_prints=True)
def sample_dataset_flow(dataset: str, datasets: str = DEFAULT_DATASETS_DIR, version: str | None = None,
                        rows: int | None = None, per_class: dict[str, int] | None = None,
                        seed: int | None = None) -> str:
    run = pipeline.start_sample(dataset, datasets, version=version, rows=rows, per_class=per_class, seed=seed)
    pipeline.run_steps(run, lambda step, r: TASKS[step.name](r))
    try:
        final = publish(run)
    finally:
        catalog_artifact(run.out_dir)
    create_markdown_artifact(key=f"{dataset.replace('_', '-')}-sample",
                             markdown=f"# {dataset}: new sample published\n\n`{final}` (from version "
                                      f"{version_card(Path(final).parent.parent, dataset, Path(final).name)['sampled_from']['model_of']})")
    return str(final)
