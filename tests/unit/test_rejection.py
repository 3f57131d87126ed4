"""Discriminator rejection sampling: the filter moves samples toward the real data, keeps exact class
counts through the CTGAN generator, and round-trips without pickles."""

import numpy as np
import polars as pl
import pytest
import torch

from synthgen.generators import GENERATORS, TabularGenerator
from synthgen.training.rejection import RejectionFilter, acceptance_bound
from tests.conftest import TINY_CTGAN

KINDS = {"x": "numeric", "colour": "categorical"}


def _frame(n, shift, seed, blue_share):
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"x": rng.normal(shift, 1.0, n),
                         "colour": np.where(rng.random(n) < blue_share, "blue", "red")})


def test_filter_keeps_the_candidates_that_look_real():
    real = _frame(4000, 0.0, 0, 0.5)
    fake = _frame(4000, 1.5, 1, 0.9)       # known-bad: shifted numbers, too much blue
    drs = RejectionFilter.fit(real, fake, KINDS, percentile=95, random_state=0)
    assert drs.report["held_out_auc"] > 0.75                   # it can tell them apart
    candidates = _frame(4000, 1.5, 2, 0.9)
    kept = candidates.filter(pl.Series(drs.accept(candidates, np.random.default_rng(0))))
    assert 0.05 < len(kept) / len(candidates) < 0.9
    assert abs(kept["x"].mean()) < abs(candidates["x"].mean()) - 0.4       # closer to the real mean 0
    assert (kept["colour"] == "blue").mean() < (candidates["colour"] == "blue").mean() - 0.1
    # known-good: candidates from the real distribution are kept about evenly (no shift of the mean)
    same = RejectionFilter.fit(real, _frame(4000, 0.0, 3, 0.5), KINDS, percentile=95, random_state=0)
    assert same.report["held_out_auc"] < 0.6
    fresh = _frame(4000, 0.0, 4, 0.5)
    kept_same = fresh.filter(pl.Series(same.accept(fresh, np.random.default_rng(0))))
    assert abs(kept_same["x"].mean() - fresh["x"].mean()) < 0.15


def test_ctgan_with_drs_exact_counts_and_round_trip(arrests_split, tmp_path):
    train, _ = arrests_split
    small = train.with_frame(train.frame.head(1500))
    gen = GENERATORS.get("ctgan")(**{**TINY_CTGAN, "rejection": "drs"}).fit(small)
    assert gen.filter_ is not None and "rejection_fit_s" in gen.timings_
    out = gen.sample(per_class={"Yes": 150, "No": 90}, random_state=3)
    assert out.class_counts() == {"Yes": 150, "No": 90}
    plain = gen.filter_
    gen.filter_ = None
    no_drs = gen.sample(per_class={"Yes": 150, "No": 90}, random_state=3)
    gen.filter_ = plain
    assert max(out.meta["acceptance"].values()) < max(no_drs.meta["acceptance"].values())   # DRS rejected some
    # the kept rows score higher under the discriminator than the unfiltered sample
    assert plain.logits(out.frame).mean() > plain.logits(no_drs.frame).mean()
    gen.save(tmp_path / "m")
    torch.load(tmp_path / "m" / "weights.pt", weights_only=True)
    loaded = TabularGenerator.load(tmp_path / "m")
    assert loaded.filter_ is not None
    assert loaded.sample(200, random_state=9).frame.equals(gen.sample(200, random_state=9).frame)


def test_auto_keeps_drs_only_when_the_selection_judge_prefers_it(arrests_split, tmp_path):
    from synthgen.training.selection import rank

    train, _ = arrests_split
    small = train.with_frame(train.frame.head(1500))
    gen = GENERATORS.get("ctgan")(**{**TINY_CTGAN, "epochs": None, "steps": 40, "select_snapshot": True}).fit(small)
    assert gen.params["rejection"] == "auto"                  # the default
    record = gen.selection_["rejection"]
    with_drs, without = record["with_drs"], record["without"]
    assert without == max(gen.selection_["curve"], key=rank)   # judged against the kept snapshot's own point
    assert with_drs["at"] == without["at"] and with_drs["score"] != without["score"]
    # the filter's acceptance cost is charged to its score before the two points are ranked
    from synthgen.generators.ctgan import ACCEPTANCE_PRICE

    assert 0 < with_drs["acceptance"] <= without["acceptance"] <= 1
    price = ACCEPTANCE_PRICE * np.log2(without["acceptance"] / with_drs["acceptance"])
    assert record["acceptance_price"] == pytest.approx(price, abs=1e-5) and price > 0
    charged = {**with_drs, "score": with_drs["score"] - record["acceptance_price"]}
    assert record["kept"] == (rank(charged) > rank(without)) == (gen.filter_ is not None)
    loaded = TabularGenerator.load(gen.save(tmp_path / "m"))
    assert (loaded.filter_ is not None) == record["kept"] and loaded.selection_["rejection"] == record
    # without a selection split there is nothing to judge by: no filter
    plain = GENERATORS.get("ctgan")(**{**TINY_CTGAN, "select_snapshot": False}).fit(small)
    assert plain.filter_ is None and "rejection_fit_s" not in plain.timings_


def test_acceptance_floor_lowers_the_bound_and_still_corrects():
    """Known-bad candidates that a sharp discriminator rejects almost always: at the 99th-percentile bound
    the filter would keep a few percent; with a floor of 30% it keeps about that share and still moves the
    kept rows toward the real ones."""
    real = _frame(4000, 0.0, 0, 0.5)
    fake = _frame(4000, 2.5, 1, 0.95)
    sharp = RejectionFilter.fit(real, fake, KINDS, percentile=99, random_state=0)
    floored = RejectionFilter.fit(real, fake, KINDS, percentile=99, min_acceptance=0.3, random_state=0)
    assert sharp.report["expected_acceptance"] < 0.15 and sharp.report["bound"] == "percentile"
    assert floored.report["bound"] == "acceptance floor" and floored.max_logit < sharp.max_logit
    assert floored.report["expected_acceptance"] == pytest.approx(0.3, abs=0.01)
    assert floored.report["acceptance_at_percentile"] == sharp.report["expected_acceptance"]
    candidates = _frame(4000, 2.5, 2, 0.95)
    kept = candidates.filter(pl.Series(floored.accept(candidates, np.random.default_rng(0))))
    assert 0.22 < len(kept) / len(candidates) < 0.4
    assert kept["x"].mean() < candidates["x"].mean() - 0.3               # still toward the real mean 0


def test_acceptance_bound_is_the_largest_bound_meeting_the_floor():
    logits = np.random.default_rng(0).normal(0, 3, 5000)
    for floor in (0.05, 0.2, 0.6):
        m = acceptance_bound(logits, floor)
        assert np.exp(np.minimum(logits - m, 0)).mean() == pytest.approx(floor, abs=1e-6)
    assert acceptance_bound(logits, 0.0) == logits.max()                 # no floor: the top logit keeps all
