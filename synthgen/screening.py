"""Anomaly screening on the data path: fit a scorer on normal data (reusing a trained generator where
there is one), score new data, and write `scores.parquet` + a self-contained screening report.

scorer.fit(normal train, calibration = normal holdout) -> threshold -> screen(new data) -> report

The CLI (`synthgen screen`), the flow (`screen_dataset_flow`) and the augmentation run (a spec with
a `screen:` section) all call these functions.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from synthgen.atomic import atomic_directory
from synthgen.errors import InputError
from synthgen.modalities import MODALITIES, adapter_for

SCORER_DIR = "scorer"
SCREENING_DIR = "screening"


# -- which rows are normal ------------------------------------------------------------------------
def labels_of(data) -> np.ndarray | None:
    return adapter_for(data).labels(data)


def normal_classes(spec, classes: list[str]) -> list[str]:
    """The spec's normal classes (all classes when it names none); unknown names are refused."""
    wanted = spec.screen.normal_classes if spec.screen is not None else None
    if wanted is None:
        return list(classes)
    unknown = [c for c in wanted if c not in classes]
    if unknown:
        raise InputError(f"{spec.name} spec: screen.normal_classes {unknown} are not classes of the data "
                         f"(classes: {list(classes)})")
    return [str(c) for c in wanted]


def only(data, classes: list[str]):
    return adapter_for(data).subset(data, np.flatnonzero(np.isin(labels_of(data), classes)))


def screen_settings(spec):
    """The spec's `screen:` section, or the modality's defaults (its default scorer)."""
    from synthgen.spec import screen_model

    return spec.screen or screen_model(spec.modality)()


# -- fit --------------------------------------------------------------------------------------------
def fit_scorer(spec, train, holdout, *, generator=None):
    """Fit the spec's scorer on the normal rows of train; calibrate its threshold on the normal rows of
    the holdout (never fitted on). A GAN scorer reuses `generator` (train once, use twice)."""
    from synthgen.anomaly import SCORERS

    settings = screen_settings(spec)
    classes = adapter_for(train).classes(train)
    normal = normal_classes(spec, classes)
    params = settings.scorer.model_dump(exclude={"name"})
    params["gan"] = spec.model.model_dump()  # used only when no generator is given
    scorer = SCORERS.get(settings.scorer.name)(**params)
    scorer.fit(only(train, normal), calibration=only(holdout, normal), generator=generator)
    scorer.screen_ = {"normal_classes": normal, "classes": classes}
    return scorer


def save_scorer(scorer, directory: Path) -> Path:
    scorer.save(directory)
    (directory / "screen.json").write_text(json.dumps(scorer.screen_, indent=2))
    return directory


def load_scorer(directory: Path):
    from synthgen.anomaly import Scorer

    scorer = Scorer.load(directory)
    scorer.screen_ = json.loads((directory / "screen.json").read_text())
    return scorer


# -- screen -----------------------------------------------------------------------------------------
def screen(scorer, data, *, top_k: int = 16, title: str = "screening", origin: str = "input",
           dataset: str = "") -> dict[str, Any]:
    """Score `data`; returns the scores table, the summary and what the report shows."""
    scores = scorer.decision_function(data)
    flagged = scores > scorer.threshold_
    n = len(scores)
    ids = _ids(data, n)
    frame = pl.DataFrame({"id": ids, "score": scores, "flagged": flagged})
    labels = labels_of(data)
    known = scorer.screen_["classes"]
    summary: dict[str, Any] = {
        "dataset": dataset, "title": title, "input": origin, "scorer": scorer.name, "n": n, "flagged": int(flagged.sum()),
        "threshold": scorer.threshold_, "false_alarm_rate": scorer.params["false_alarm_rate"],
        "normal_classes": scorer.screen_["normal_classes"],
        "screened": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    truth = None
    if labels is not None and len(labels) == n and set(labels) <= set(known):
        truth = ~np.isin(labels, scorer.screen_["normal_classes"])
        frame = frame.with_columns(pl.Series("label", labels), pl.Series("anomaly", truth))
        summary.update(_label_metrics(scores, truth, flagged, top_k))
    order = np.argsort(-scores, kind="stable")[:top_k]
    top = adapter_for(data).subset(data, order)
    explained = scorer.explain(top)
    return {"scores": frame, "summary": summary, "order": order, "top": top, "explained": explained,
            "truth": truth, "labels": labels}


def _label_metrics(scores: np.ndarray, truth: np.ndarray, flagged: np.ndarray, top_k: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score, roc_curve

    out: dict[str, Any] = {"anomalies": int(truth.sum()),
                           "true_positives": int((flagged & truth).sum()),
                           "false_positives": int((flagged & ~truth).sum())}
    if 0 < truth.sum() < len(truth):
        order = np.argsort(-scores, kind="stable")
        out["auroc"] = float(roc_auc_score(truth, scores))
        k = min(top_k, len(scores))
        out["precision_at_k"] = {"k": k, "value": float(truth[order[:k]].mean())}
        m = int(truth.sum())
        out["precision_at_n_anomalies"] = {"k": m, "value": float(truth[order[:m]].mean())}
        fpr, tpr, _ = roc_curve(truth, scores)
        out["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    return out


def _ids(data, n: int) -> list[str]:
    ids = getattr(data, "ids", None)
    if ids is not None and len(ids) == n:
        return [str(v) for v in ids]
    return [str(i) for i in range(n)]


def write_screening(result: dict[str, Any], out_dir: Path, *, report: str) -> Path:
    """scores.parquet + summary.json + report.html, appearing together or not at all."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(f"{out_dir}: already exists; choose another --out")
    with atomic_directory(out_dir) as tmp:
        result["scores"].write_parquet(tmp / "scores.parquet")
        summary = {k: v for k, v in result["summary"].items() if k != "roc"}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        (tmp / "report.html").write_text(report)
    return out_dir


def screen_and_write(scorer, data, out_dir: Path, *, top_k: int, title: str, origin: str,
                     dataset: str) -> dict[str, Any]:
    from synthgen.reporting.screening import screening_report

    result = screen(scorer, data, top_k=top_k, title=title, origin=origin, dataset=dataset)
    write_screening(result, out_dir, report=screening_report(result, scorer))
    return {k: v for k, v in result["summary"].items() if k != "roc"} | {"out": str(out_dir)}


# -- the spec-level entry point (CLI and flow) --------------------------------------------------------
def published_dir(spec, out: str | Path | None = None) -> Path | None:
    """The spec's latest published dataset version, if any."""
    root = Path(out or spec.output.dir).resolve() / spec.name
    latest = root / "LATEST"
    if not latest.is_file():
        return None
    folder = root / latest.read_text().strip()
    return folder if folder.is_dir() else None


def read_input(spec, path: str | Path, base_dir: Path):
    """New data to screen, read with the spec's own source settings (format, size, class names...)."""
    path = Path(path)
    if not path.is_absolute():
        path = (Path.cwd() / path).resolve()
    return MODALITIES.get(spec.modality).read_input(spec, path, base_dir)


def scorer_for_spec(spec, base_dir: Path, *, out: str | Path | None = None):
    """A published scorer when the spec's latest dataset has one; else one fitted now on the spec's
    own data, reusing the published generator when there is one (else training the spec's model
    on the normal classes). Returns (scorer, where it came from, a loader of the spec's holdout split):
    the source is read only when a scorer must be fitted or the holdout screened."""
    published = published_dir(spec, out)

    def load():
        return MODALITIES.get(spec.modality).load(spec, base_dir)[:2]

    if published is not None and (published / SCORER_DIR / "scorer.json").is_file():
        return load_scorer(published / SCORER_DIR), f"published {published / SCORER_DIR}", lambda: load()[1]
    train, holdout = load()
    generator = None
    if published is not None and (published / "model").is_dir() and spec.screen is not None:
        from synthgen.generators import Generator

        generator = Generator.load(published / "model")
        origin = f"fitted now on the published generator {published / 'model'}"
    else:
        origin = "fitted now (no published model)"
    return fit_scorer(spec, train, holdout, generator=generator), origin, lambda: holdout


def screen_spec(spec_path: str | Path, *, input: str | Path | None = None, out: str | Path | None = None,
                overrides: list[str] | tuple[str, ...] = (), datasets: str | Path | None = None) -> dict[str, Any]:
    """`synthgen screen SPEC [--input PATH]`: without --input, the spec's own holdout split."""
    from synthgen.publish import new_version
    from synthgen.spec import load_spec

    loaded = load_spec(spec_path, overrides)
    spec = loaded.spec
    scorer, origin, holdout = scorer_for_spec(spec, loaded.base_dir, out=datasets)
    data = holdout() if input is None else read_input(spec, input, loaded.base_dir)
    where = f"{spec.name} holdout split" if input is None else str(input)
    scorer.input_.check(data, where)  # refuse a wrong shape / missing column naming the file, before scoring
    out_dir = Path(out) if out else Path(datasets or spec.output.dir) / spec.name / SCREENING_DIR / new_version()
    summary = screen_and_write(scorer, data, out_dir, top_k=screen_settings(spec).top_k,
                               title=f"{spec.name}: anomaly screening", origin=where, dataset=spec.name)
    summary["scorer_origin"] = origin
    return summary
