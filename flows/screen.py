"""screen_dataset_flow: spec (+ new data) -> scorer (published, or fitted now) -> scores + report.

Thin: one task is one call into synthgen.screening. Finding anomalies is a result, not a failure:
the flow completes and the flagged count goes to a Prefect artifact.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from synthgen import screening


@task(name="screen", cache_policy=NO_CACHE, persist_result=False)
def screen(spec_path: str, input: str | None, out: str | None, overrides: list[str], datasets: str | None,
           **options) -> dict:
    return screening.screen_spec(spec_path, input=input, out=out, overrides=overrides, datasets=datasets, **options)


def screening_artifacts(summary: dict) -> None:
    key = summary["dataset"].replace("_", "-").lower()
    extra = ""
    if "auroc" in summary:
        extra = (f"\n\nLabelled input: {summary['anomalies']} anomalies, AUROC {summary['auroc']:.3f}, "
                 f"precision@{summary['precision_at_k']['k']} {summary['precision_at_k']['value']:.2f}.")
    create_markdown_artifact(
        key=f"{key}-screening",
        markdown=f"# {summary['title']}\n\n**{summary['flagged']} of {summary['n']} flagged** "
        f"(score > {summary['threshold']:.4g}, scorer `{summary['scorer']}`, target false-alarm rate "
        f"{summary['false_alarm_rate']:.1%}); input: {summary['input']}.{extra}",
        description=f"{summary['flagged']} flagged",
    )
    report = Path(summary["out"]) / "report.html"
    create_link_artifact(key=f"{key}-screening-report", link=report.resolve().as_uri(), link_text=str(report))


@flow(name="screen-dataset", log_prints=True)
def screen_dataset_flow(spec_path: str, input: str | None = None, out: str | None = None,
                        overrides: list[str] | None = None, datasets: str | None = None, chunk_size: int = 4096,
                        workers: int | None = None, cluster: str | None = None, tls: list[str] | None = None,
                        insecure: bool = False) -> dict:
    """An --input is streamed in ranges of `chunk_size` items, scored on a dask cluster with
    `workers` (a local one) or `cluster` (an address; `tls`: CA, certificate and key files)."""
    summary = screen(spec_path, input, out, list(overrides or []), datasets, chunk_size=chunk_size,
                     workers=workers, cluster=cluster, tls=tls, insecure=insecure)
    screening_artifacts(summary)
    print(f"{summary['flagged']} of {summary['n']} flagged -> {summary['out']}")
    return summary
