"""Privacy: can the synthetic table leak a real training record?

Every measure compares the training rows with the holdout — real rows from the same population
that the generator never saw — so "natural" closeness (duplicate rows in a low-cardinality table,
say) is not mistaken for leakage. Distances are Euclidean on DistanceEncoder's encoding
(numbers scaled by the train range, a category mismatch counting like a full-range difference).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthgen.data import RARE_TOKEN, LabeledTable
from synthgen.distances import dcr_share, nearest_distances
from synthgen.validation.metrics import METRICS, Metric, auroc_standard_error, share_standard_error


def _row_keys(table: LabeledTable, columns: list[str]) -> pl.Series:
    return table.frame.select(
        pl.concat_str([pl.col(c).cast(pl.String).fill_null("\x00") for c in columns], separator="\x1f")
    ).to_series()


@METRICS.register("exact_copy_excess")
class ExactCopyExcess(Metric):
    """Share of synthetic rows identical to a training row, minus the share of holdout rows
    identical to a training row (the rate a fresh real sample shows)."""
    reads = ("distances",)

    kind = "privacy"
    direction = "lower"

    def compute(self, ctx):
        cols = ctx.train.columns
        train_keys = _row_keys(ctx.train, cols).unique()
        syn = _row_keys(ctx.synthetic, cols).is_in(train_keys).mean() or 0.0
        hold = _row_keys(ctx.holdout, cols).is_in(train_keys).mean() or 0.0
        n_hold = len(ctx.holdout)
        p = max(hold, 1 / max(n_hold, 1))  # the natural copy rate, at least one holdout row's worth
        return syn - hold, {"synthetic_copy_rate": syn, "holdout_copy_rate": hold, "null_value": 0.0,
                            "standard_error": share_standard_error(p, n_hold, _distinct_synthetic(ctx))}


@METRICS.register("dcr_share")
class DCRShare(Metric):
    """The share of synthetic rows whose nearest real row (train and holdout together) is a training row,
    rescaled so that rows from the population itself read 0.5 and copies 1.0 (`distances.dcr_share`)."""
    reads = ("distances",)

    kind = "privacy"
    direction = "lower"

    def compute(self, ctx):
        to_train, to_hold = ctx.nn_ties("synthetic_x", "train_x"), ctx.nn_ties("synthetic_x", "holdout_x")
        d_train, d_hold = to_train[0], to_hold[0]
        found = dcr_share(to_train, to_hold, len(ctx.train_x), len(ctx.holdout_x), _distinct_synthetic(ctx))
        return found.pop("dcr_share"), {
            "null_value": 0.5, **found,
            "median_dcr_train": float(np.median(d_train)),
            "median_dcr_holdout": float(np.median(d_hold)),
            "histogram": _hist({"synthetic→train": d_train, "synthetic→holdout": d_hold}),
        }


@METRICS.register("close_to_train_share")
class CloseToTrainShare(Metric):
    """Share of synthetic rows closer to a training row than the 5th percentile of the holdout's
    own distances to train (a fresh real sample scores about 0.05, less where distances tie)."""
    reads = ("distances",)

    kind = "privacy"
    direction = "lower"

    def compute(self, ctx):
        d_hold = ctx.nn("holdout_x", "train_x")
        d_syn = ctx.nn("synthetic_x", "train_x")
        q5 = float(np.quantile(d_hold, 0.05))
        return float(np.mean(d_syn < q5)), {
            "holdout_5th_percentile": q5,
            "null_value": 0.05,
            "standard_error": share_standard_error(0.05, len(d_hold), _distinct_synthetic(ctx)),
            "histogram": _hist({"synthetic→train": d_syn, "holdout→train": d_hold}),
        }


@METRICS.register("mia_auroc")
class MembershipInferenceAUROC(Metric):
    """Black-box membership inference from the synthetic table alone, as AUROC of members
    (train rows) against non-members (holdout rows); the value is the strongest attack.

    - nearest distance: score = -d(x, synthetic);
    - reference-calibrated: score = log d(x, reference) - log d(x, synthetic), the reference being
      the other half of the holdout — a point is suspicious when the synthetic data sits much
      closer to it than real data from the population does.
    """
    reads = ("distances",)

    kind = "privacy"
    direction = "lower"

    def compute(self, ctx):
        from sklearn.metrics import roc_auc_score

        hold = ctx.holdout_x
        perm = ctx.rng(21).permutation(len(hold))
        half = len(hold) // 2
        non_members, reference = hold[perm[:half]], hold[perm[half:]]
        members = ctx.train_x[ctx.rng(22).choice(len(ctx.train_x), size=min(half, len(ctx.train_x)),
                                                 replace=False)]
        x = np.vstack([members, non_members])
        y = np.r_[np.ones(len(members)), np.zeros(len(non_members))]
        d_syn = nearest_distances(x, ctx.synthetic_x)
        d_ref = nearest_distances(x, reference)
        eps = 1e-6
        attacks = {
            "nearest_distance": float(roc_auc_score(y, -d_syn)),
            "reference_calibrated": float(roc_auc_score(y, np.log(d_ref + eps) - np.log(d_syn + eps))),
        }
        return max(attacks.values()), {"attacks": attacks, "members": len(members),
                                       "non_members": len(non_members),
                                       "null_value": 0.5,
                                       "standard_error": auroc_standard_error(len(members), len(non_members))}


@METRICS.register("rare_value_excess")
class RareValueExcess(Metric):
    """Per column: share of synthetic values equal to a value seen only in train, minus the share equal
    to a value seen only in the holdout (train subsampled to the holdout's size so both sides are alike).
    Catches memorised values that row-level copy checks miss (a near-unique column typed categorical:
    98.8% of its values copied, 0 exact rows). In a column of few distinct values (< `min_distinct`) a
    value seen only on one side is usually a common one that missed the other by chance, so there only
    values carried by fewer than `rare_rows` rows count: a singleton category the generator reproduces
    (CTGAN did in 35 of 240 rows; value protection removes such categories before training, and this
    checks that nothing like them got through). The protection token is not a real value. In every column
    only values carried by fewer than `rare_rows` rows of their split count: a value that many rows share
    is not one record's, and value protection makes every numeric bound such a value (clipped extremes
    sit on it, and a generator's out-of-range draws are clamped onto it: 20% of CTGAN's body_mass_g on
    penguins, which the unfiltered check refused as 0.19 of "values seen only in train")."""
    reads = ("distances",)

    kind = "privacy"
    direction = "lower"
    min_distinct = 20
    rare_rows = 5

    def compute(self, ctx):
        n = len(ctx.holdout)
        train = ctx.subsample(ctx.train, n, 31)
        per_column = {}
        for name in ctx.train.columns:
            t = train.frame.get_column(name).drop_nulls().cast(pl.String)
            h = ctx.holdout.frame.get_column(name).drop_nulls().cast(pl.String)
            if t.n_unique() < 2:
                continue
            if t.n_unique() < self.min_distinct:   # few distinct values: only the rare ones say anything, and a
                whole = ctx.train.frame.get_column(name).drop_nulls().cast(pl.String)   # subsample would lose them
                t_only = self._rare(whole.filter(~whole.is_in(h.implode())).unique(), ctx.train.frame, name)
                h_only = self._rare(h.filter(~h.is_in(whole.implode())).unique(), ctx.holdout.frame, name)
            else:                                  # values a train subsample of the holdout's size holds and the
                t_only = self._rare(t.filter(~t.is_in(h.implode())).unique(), ctx.train.frame, name)  # holdout lacks
                h_only = self._rare(h.filter(~h.is_in(t.implode())).unique(), ctx.holdout.frame, name)
            t_only = t_only.filter(~t_only.str.starts_with(RARE_TOKEN))
            s = ctx.synthetic.frame.get_column(name).drop_nulls().cast(pl.String)
            if s.len() == 0:
                continue
            share_t = float(s.is_in(t_only.implode()).mean())
            share_h = float(s.is_in(h_only.implode()).mean())
            per_column[name] = {"train_only": share_t, "holdout_only": share_h,
                                "excess": share_t - share_h,
                                # both shares are set by which of n rows fell on each side
                                "standard_error": float(np.hypot(share_standard_error(share_t, n),
                                                                 share_standard_error(share_h, n)))}
        if not per_column:
            return 0.0, {"note": "no column has two distinct values"}
        worst = max(per_column, key=lambda c: per_column[c]["excess"])
        return per_column[worst]["excess"], {"worst_column": worst, "per_column": per_column, "null_value": 0.0,
                                             "standard_error": per_column[worst]["standard_error"]}

    def _rare(self, values: pl.Series, frame: pl.DataFrame, name: str) -> pl.Series:
        """The values carried by fewer than `rare_rows` rows of `frame` (the whole split, not the subsample)."""
        counts = frame.get_column(name).drop_nulls().cast(pl.String).value_counts()
        rare = counts.filter(pl.col("count") < self.rare_rows).get_column(name)
        return values.filter(values.is_in(rare.implode()))


def _distinct_synthetic(ctx) -> int:
    """Distinct synthetic rows (a row drawn twice is not twice the evidence), counted once per context."""
    x = ctx.synthetic_x
    return ctx.cached("synthetic_distinct", lambda: len(np.unique(x, axis=0)) if len(x) else 0)


def _hist(series: dict[str, np.ndarray], bins: int = 30) -> dict:
    """A JSON-able histogram over shared bins, for the report."""
    top = max(float(np.quantile(v, 0.99)) for v in series.values()) or 1.0
    edges = np.linspace(0, top, bins + 1)
    return {"edges": edges.tolist(),
            "counts": {k: np.histogram(np.clip(v, 0, top), edges)[0].tolist() for k, v in series.items()}}
