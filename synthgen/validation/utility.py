"""Utility on the label: train-on-synthetic-test-on-real (TSTR) against train-on-real (TRTR),
and augmentation uplift (real + synthetic against real only), all scored on the holdout.

The gate value is the share of the real signal kept: (TSTR AUROC - 0.5) / (TRTR AUROC - 0.5).
A plain accuracy ratio would let a generator that breaks every feature-label relation pass on an
imbalanced label (predicting the majority class scores well); this ratio drops to ~0 instead.
"""

from __future__ import annotations

import numpy as np

from synthgen.validation.metrics import METRICS, Metric


def _scores(ctx, train_parts) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    xs, ys = zip(*[ctx.features(t) for t in train_parts])
    x, y = np.vstack(xs), np.concatenate(ys)
    xh, yh = ctx.cached("holdout_features", lambda: ctx.features(ctx.holdout))
    classes = np.array(sorted(set(yh) | set(y)))
    if len(set(y)) < 2:
        return {"auroc": 0.5, "accuracy": float(np.mean(yh == y[0])), "macro_f1": 0.0}
    clf = ctx.classifier(ctx.random_state).fit(x, y)
    proba = np.zeros((len(xh), len(classes)))
    proba[:, np.searchsorted(classes, clf.classes_)] = clf.predict_proba(xh)
    pred = classes[np.argmax(proba, axis=1)]
    present = np.flatnonzero(np.isin(classes, yh))
    if len(present) < 2:
        auroc = 0.5
    elif len(present) == 2:
        pos = present[1]
        auroc = roc_auc_score(yh == classes[pos], proba[:, pos])
    else:
        p = proba[:, present] / np.clip(proba[:, present].sum(axis=1, keepdims=True), 1e-12, None)
        auroc = roc_auc_score(yh, p, multi_class="ovr", average="macro", labels=classes[present])
    return {"auroc": float(auroc), "accuracy": float(accuracy_score(yh, pred)),
            "macro_f1": float(f1_score(yh, pred, average="macro"))}


def _trtr(ctx):
    return ctx.cached("trtr", lambda: _scores(ctx, [ctx.train]))


@METRICS.register("tstr_signal_ratio")
class TSTRSignalRatio(Metric):
    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        trtr = _trtr(ctx)
        tstr = _scores(ctx, [ctx.synthetic])
        details = {"tstr": tstr, "trtr": trtr,
                   "tstr_over_trtr_auroc": tstr["auroc"] / trtr["auroc"] if trtr["auroc"] else None}
        if trtr["auroc"] <= 0.55:
            details["note"] = "the label is barely predictable from real data; ratio not evaluated"
            return None, details
        return (tstr["auroc"] - 0.5) / (trtr["auroc"] - 0.5), details


@METRICS.register("augmentation_uplift")
class AugmentationUplift(Metric):
    """Holdout AUROC of a model trained on real + synthetic rows minus one trained on real rows."""

    kind = "utility"
    direction = "higher"

    def compute(self, ctx):
        trtr = _trtr(ctx)
        augmented = _scores(ctx, [ctx.train, ctx.synthetic])
        return augmented["auroc"] - trtr["auroc"], {"augmented": augmented, "real_only": trtr}
