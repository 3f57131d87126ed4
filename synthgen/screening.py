"""Anomaly screening on the data path: fit a scorer on normal data (reusing a trained generator where
there is one), score new data, and write `scores.parquet` + a self-contained screening report.

scorer.fit(normal train, calibration = normal holdout) -> threshold -> screen(new data) -> report

The CLI (`synthgen screen`), the flow (`screen_dataset_flow`) and the augmentation run (a spec with
a `screen:` section) all call these functions.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
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
    cls = SCORERS.get(settings.scorer.name)
    if "gan" in cls.params_model.model_fields and params.get("gan") is None:
        params["gan"] = spec.candidate_models()[0].model_dump()  # trained when no generator is given
    scorer = cls(**params)
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
    """Score `data` in memory; returns the scores table, the summary and what the report shows."""
    scores = scorer.decision_function(data)
    order = np.argsort(-scores, kind="stable")[:top_k]
    return _result(scorer, scores, labels_of(data), order, adapter_for(data).subset(data, order),
                   _ids(data, len(scores)), top_k=top_k, title=title, origin=origin, dataset=dataset)


def _result(scorer, scores, labels, order, top, ids, *, top_k, title, origin, dataset) -> dict[str, Any]:
    """Summary, label metrics and the explained top-k of a scored input (in memory or streamed; `ids`
    None when the scores table was already written)."""
    flagged = scores > scorer.threshold_
    n = len(scores)
    frame = pl.DataFrame({"id": ids, "score": scores, "flagged": flagged}) if ids is not None else None
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
        if frame is not None:
            frame = frame.with_columns(pl.Series("label", labels), pl.Series("anomaly", truth))
        summary.update(_label_metrics(scores, truth, flagged, top_k))
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


def _ids(data, n: int, offset: int = 0) -> list[str]:
    """The input's own ids, else positions in the whole input (`offset`: where this part starts)."""
    ids = getattr(data, "ids", None)
    if ids is not None and len(ids) == n:
        return [str(v) for v in ids]
    return [str(offset + i) for i in range(n)]


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


# -- streamed, sharded screening ------------------------------------------------------------------------
CHUNK = 4096


@lru_cache(maxsize=2)
def _scorer_at(directory: str):
    return load_scorer(Path(directory))


def _score_range(job) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Scores, ids and labels of items [a, b) of `chunks` (a task a cluster worker may run: it loads the
    scorer from the shared folder and reads its own range of the input)."""
    chunks, scorer, a, b, origin = job
    scorer = _scorer_at(scorer) if isinstance(scorer, str) else scorer
    data = chunks.read(a, b)
    scorer.input_.check(data, f"{origin} (items {a}..{b})")
    scores = np.asarray(scorer.decision_function(data), dtype=np.float64)
    labels = labels_of(data)
    return scores, np.asarray(_ids(data, len(scores), a), dtype=str), labels


def _scored_ranges(chunks, scorer, ranges, origin, client, scorer_dir):
    """Results of `_score_range` in input order: here one by one, or on a cluster with at most two
    ranges per worker in flight (the client holds only those)."""
    if client is None:
        for a, b in ranges:
            yield _score_range((chunks, scorer, a, b, origin))
        return
    window = max(2, 2 * len(client.scheduler_info()["workers"]))
    pending = []
    for a, b in ranges:
        pending.append(client.submit(_score_range, (chunks, str(scorer_dir), a, b, origin), pure=False))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


def screen_stream(scorer, chunks, out_dir: Path, *, top_k: int, title: str, origin: str, dataset: str,
                  chunk_size: int = CHUNK, client=None, scorer_dir: Path | None = None) -> dict[str, Any]:
    """Score `chunks` (an adapter's `input_chunks`) range by range, appending to scores.parquet as the
    scores come, so memory holds one range of input (plus one float and one label code per item);
    the report's histogram, label metrics and top-k come from the streamed scores. With a dask
    `client`, the ranges are scored on its workers (the scorer is read from `scorer_dir`)."""
    import heapq

    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthgen.reporting.screening import screening_report

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(f"{out_dir}: already exists; choose another --out")
    n = chunks.n
    ranges = [(a, min(a + chunk_size, n)) for a in range(0, n, chunk_size)]
    scores_all, codes, names, top = [], [], {}, []
    labeled = True
    with atomic_directory(out_dir) as tmp:
        writer = None
        for (a, _), (scores, ids, labels) in zip(ranges, _scored_ranges(chunks, scorer, ranges, origin, client,
                                                                          scorer_dir)):
            columns = {"id": ids, "score": scores, "flagged": scores > scorer.threshold_}
            if labels is not None:
                columns["label"] = np.asarray(labels, dtype=str)
                codes.append(np.array([names.setdefault(v, len(names)) for v in labels], dtype=np.int32))
            else:
                labeled = False
            table = pa.table(columns)
            writer = writer or pq.ParquetWriter(tmp / "scores.parquet", table.schema)
            writer.write_table(table)
            scores_all.append(scores)
            for i in np.argsort(-scores, kind="stable")[:top_k]:  # the running top-k (ties: earlier first)
                item = (float(scores[i]), -(a + int(i)))
                (heapq.heappush if len(top) < top_k else heapq.heappushpop)(top, item)
        if writer is not None:
            writer.close()
        scores = np.concatenate(scores_all) if scores_all else np.zeros(0)
        labels = None
        if labeled and codes:
            lookup = np.array(list(names), dtype=object)
            labels = lookup[np.concatenate(codes)].astype(str)
        order = np.array([-j for _, j in sorted(top, key=lambda t: (-t[0], -t[1]))], dtype=int)
        result = _result(scorer, scores, labels, order, chunks.take(order), None, top_k=top_k, title=title,
                         origin=origin, dataset=dataset)
        result["summary"]["streamed"] = {"chunk_size": chunk_size, "chunks": len(ranges),
                                         "reader": "ranges" if getattr(chunks, "streamed", False) else "whole input",
                                         "workers": len(client.scheduler_info()["workers"]) if client else 0}
        summary = {k: v for k, v in result["summary"].items() if k != "roc"}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        ids = pl.read_parquet(tmp / "scores.parquet", columns=["id"]).get_column("id").to_numpy() if n else np.zeros(0)
        result["scores"] = pl.DataFrame({"id": ids[order] if n else ids, "score": scores[order]})
        result["order"] = np.arange(len(order))
        result["labels"] = labels[order] if labels is not None else None
        (tmp / "report.html").write_text(screening_report(result, scorer, all_scores=scores))
    return summary | {"out": str(out_dir)}


# -- the spec-level entry point (CLI and flow) --------------------------------------------------------
def published_dir(spec, out: str | Path | None = None) -> Path | None:
    """The spec's latest published dataset version, if any (the catalog's reading of LATEST)."""
    from synthgen.catalog import latest_card

    card = latest_card(Path(out or spec.output.dir).resolve(), spec.name)
    return Path(card["path"]) if card else None


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
                overrides: list[str] | tuple[str, ...] = (), datasets: str | Path | None = None,
                chunk_size: int = CHUNK, workers: int | None = None, cluster: str | None = None,
                tls: list[str] | None = None, insecure: bool = False, loaded=None) -> dict[str, Any]:
    """`synthgen screen SPEC [--input PATH]`: without --input, the spec's own holdout split (in memory);
    an --input is streamed in ranges of `chunk_size` items, on a dask cluster with --workers/--cluster.
    `loaded` gives the spec already validated (a dict from the Python API) instead of reading `spec_path`."""
    from synthgen.publish import new_version
    from synthgen.spec import load_spec

    loaded = loaded or load_spec(spec_path, overrides)
    spec = loaded.spec
    if chunk_size < 1:
        raise InputError(f"--chunk-size {chunk_size}: give at least 1")
    scorer, origin, holdout = scorer_for_spec(spec, loaded.base_dir, out=datasets)
    out_dir = Path(out) if out else Path(datasets or spec.output.dir) / spec.name / SCREENING_DIR / new_version()
    title, top_k = f"{spec.name}: anomaly screening", screen_settings(spec).top_k
    if input is None:
        data = holdout()
        scorer.input_.check(data, f"{spec.name} holdout split")
        summary = screen_and_write(scorer, data, out_dir, top_k=top_k, title=title,
                                   origin=f"{spec.name} holdout split", dataset=spec.name)
    else:
        from synthgen.cluster import check_shared, cluster as dask_cluster, security_for

        security = security_for(cluster, **dict(zip(("ca", "cert", "key"), tls or ())), insecure=insecure) \
            if cluster else None
        path = Path(input) if Path(input).is_absolute() else (Path.cwd() / input).resolve()
        chunks = MODALITIES.get(spec.modality).input_chunks(spec, path, loaded.base_dir)
        with dask_cluster(workers, cluster, security) as client:
            scorer_dir = None
            if client is not None:  # the workers read the scorer and the input from shared storage
                from synthgen.publish import work_folder

                out_dir = out_dir.resolve()
                # a private, owned folder under .staging: a k-NN scorer holds real rows; a killed run's copy is
                # removed by the next run or `synthgen clean`
                scorer_dir = work_folder(Path(datasets or spec.output.dir), "scorer")
                if cluster:
                    check_shared(client, {"output folder": out_dir.parent, "scorer folder": scorer_dir,
                                          "input folder": path.parent})
                save_scorer(scorer, scorer_dir)
            try:
                summary = screen_stream(scorer, chunks, out_dir, top_k=top_k, title=title, origin=str(input),
                                        dataset=spec.name, chunk_size=chunk_size, client=client,
                                        scorer_dir=scorer_dir)
            finally:
                if scorer_dir is not None:
                    from synthgen.publish import discard

                    discard(scorer_dir)
    summary["scorer_origin"] = origin
    return summary
