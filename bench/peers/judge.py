"""An independent judge of synthetic tables: no synthgen import, its own virtual environment (SDMetrics and
scikit-learn; bench/bench_peers.py creates it). Every set is judged against a split that no generator saw.

    python judge.py < {"train": path, "unseen": path, "label": name, "sets": {name: path}, "seed": 0}
    -> one JSON line: {"real": {...}, "<set>": {...}}

- quality: SDMetrics QualityReport (column shapes + column pair trends) of the set against the unseen split;
  for "real", the training rows against the unseen split (the ceiling a perfect generator would reach).
- detection: HistGradientBoosting telling the unseen split's rows from the set's rows, equal numbers of each
  (at most 10,000), 5-fold out-of-fold ROC AUC; for "real", training rows against unseen rows (the floor).
- TSTR: HistGradientBoosting trained on the set, tested on the unseen split: AUROC (macro one-vs-rest when
  there are more than two classes) and macro F1; for "real", trained on the training rows.
"""

import json
import sys
import warnings

import numpy as np
import pandas as pd

MAX_DETECTION_ROWS = 10_000
CATEGORICAL_MAX_VALUES = 10   # a numeric column with at most this many distinct values is judged as categories


def _columns(reference: pd.DataFrame, label: str) -> dict:
    kinds = {}
    for c in reference.columns:
        s = reference[c]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        kinds[c] = "numerical" if numeric and s.nunique() > CATEGORICAL_MAX_VALUES and c != label else "categorical"
    return kinds


def _conform(frame: pd.DataFrame, reference: pd.DataFrame, kinds: dict, label: str) -> pd.DataFrame:
    frame = frame[list(reference.columns)].copy()
    for c, kind in kinds.items():
        if kind == "numerical":
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
        else:
            frame[c] = frame[c].astype(object).map(_category)
    return frame[frame[label].notna()]   # rows without a label: every generator drops them too


def _category(value):
    """One spelling per category, whatever type the writer used (1, 1.0, "1"; True, "true")."""
    if value is None or pd.isna(value):   # None, NaN, pd.NA (the SDK writes nullable dtypes)
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value).lower() if str(value).lower() in ("true", "false") else str(value)
    return str(int(number)) if number.is_integer() else str(number)


def _encode(frames: list[pd.DataFrame], kinds: dict, drop: str | None = None):
    """Shared codes for categorical columns (missing = its own code), floats for numeric ones."""
    cols = [c for c in kinds if c != drop]
    out = [np.empty((len(f), len(cols))) for f in frames]
    mask = []
    for j, c in enumerate(cols):
        if kinds[c] == "numerical":
            for f, o in zip(frames, out):
                o[:, j] = f[c].to_numpy(float)
            mask.append(False)
        else:
            values = pd.concat([f[c] for f in frames]).fillna("<missing>")
            codes, uniques = pd.factorize(values)
            many = len(uniques) > 250
            at = 0
            for f, o in zip(frames, out):
                o[:, j] = codes[at: at + len(f)]
                at += len(f)
            mask.append(not many)
    return out, np.array(mask)


def _model(mask, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(categorical_features=mask if mask.any() else None, random_state=seed)


def detection(real: pd.DataFrame, other: pd.DataFrame, kinds: dict, seed: int) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    n = min(len(real), len(other), MAX_DETECTION_ROWS)
    a = real.iloc[rng.choice(len(real), n, replace=False)]
    b = other.iloc[rng.choice(len(other), n, replace=False)]
    (xa, xb), mask = _encode([a, b], kinds)
    x = np.vstack([xa, xb])
    y = np.r_[np.zeros(n), np.ones(n)]
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(_model(mask, seed), x, y, cv=folds, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def tstr(train: pd.DataFrame, test: pd.DataFrame, kinds: dict, label: str, seed: int) -> dict:
    from sklearn.metrics import f1_score, roc_auc_score

    classes = sorted(test[label].unique())
    if train[label].nunique() < 2:
        return {"auroc": None, "macro_f1": None, "note": "one class only in the training set"}
    (xtr, xte), mask = _encode([train, test], kinds, drop=label)
    model = _model(mask, seed).fit(xtr, train[label].to_numpy())
    proba = np.zeros((len(test), len(classes)))
    for k, c in enumerate(model.classes_):
        if c in classes:
            proba[:, classes.index(c)] = model.predict_proba(xte)[:, k]
    y = test[label].to_numpy()
    if len(classes) == 2:
        auroc = roc_auc_score(y == classes[1], proba[:, 1])
    else:
        present = [c for c in classes if (y == c).any()]
        auroc = np.mean([roc_auc_score(y == c, proba[:, classes.index(c)]) for c in present])
    return {"auroc": float(auroc), "macro_f1": float(f1_score(y, model.predict(xte), average="macro"))}


def quality(real: pd.DataFrame, other: pd.DataFrame, kinds: dict) -> dict:
    from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    metadata = {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}
    report.generate(real, other, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return {"quality": float(report.get_score()), "shapes": float(props.get("Column Shapes")),
            "trends": float(props.get("Column Pair Trends"))}


def _read(path: str) -> pd.DataFrame:
    return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)


def main() -> None:
    warnings.simplefilter("ignore")
    job = json.loads(sys.stdin.read())
    label, seed = job["label"], job.get("seed", 0)
    unseen_raw = _read(job["unseen"])
    kinds = _columns(unseen_raw, label)
    unseen = _conform(unseen_raw, unseen_raw, kinds, label)
    sets = {"real": _conform(_read(job["train"]), unseen_raw, kinds, label)}
    sets.update({name: _conform(_read(path), unseen_raw, kinds, label) for name, path in job["sets"].items()})
    result = {"kinds": kinds, "unseen_rows": len(unseen)}
    for name, frame in sets.items():
        result[name] = {"rows": len(frame), "detection": detection(unseen, frame, kinds, seed),
                        **quality(unseen, frame, kinds), "tstr": tstr(frame, unseen, kinds, label, seed)}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
