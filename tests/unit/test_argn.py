"""The any-order autoregressive table generator: what its tokens promise, on data built to test them."""

import numpy as np
import polars as pl

from synthgen.data import prepare_table
from synthgen.generators.argn import ColumnCode, ARGNGenerator


def _spiky(n: int = 1500, seed: int = 0):
    """An amount that is 0 for 40% of the rows and heavy-tailed otherwise, a label that depends on it,
    a category, a few-valued count and missing values."""
    rng = np.random.default_rng(seed)
    amount = np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(3, 1, n)).round(2)
    label = np.where(amount > 25, "high", "low")
    count = rng.choice([0, 1, 2, 3], n, p=[0.5, 0.3, 0.15, 0.05])
    kind = rng.choice(["a", "b", "c"], n).astype(object)
    kind[rng.random(n) < 0.1] = None
    frame = pl.DataFrame({"amount": amount, "count": count, "kind": pl.Series(kind.tolist(), dtype=pl.String),
                          "y": label})
    return prepare_table(frame, label="y", overrides={}, origin="spiky")


def test_tokens_round_trip_spikes_values_and_nulls():
    table = _spiky()
    rng = np.random.default_rng(1)
    amount = ColumnCode.fit("amount", table.frame.get_column("amount"), "numeric", bins=32)
    count = ColumnCode.fit("count", table.frame.get_column("count"), "numeric", bins=32)
    kind = ColumnCode.fit("kind", table.frame.get_column("kind"), "categorical", bins=32)
    assert amount.kind == "binned" and count.kind == "values" and kind.kind == "categorical"
    back = amount.decode(amount.encode(table.frame.get_column("amount"), rng), rng, pl.Float64)
    real = table.frame.get_column("amount")
    assert abs(float((back == 0).mean()) - float((real == 0).mean())) < 0.02      # the spike keeps its mass
    assert back.min() >= real.min() and back.max() <= real.max()                    # within the training range
    assert abs(np.median(back.to_numpy()) - np.median(real.to_numpy())) < 0.15 * np.std(real.to_numpy())
    # the knots are saved with the published model: none is a training value fewer than 5 rows carry
    values, counts = np.unique(real.to_numpy(), return_counts=True)
    rare = set(values[counts < 5].tolist())
    assert not rare & set(amount.knots) and len(set(amount.knots)) > 100
    assert count.decode(count.encode(table.frame.get_column("count"), rng), rng, pl.Int64).equals(
        table.frame.get_column("count"))                                            # few values: exact
    texts = kind.decode(kind.encode(table.frame.get_column("kind"), rng), rng, pl.String)
    assert texts.null_count() == table.frame.get_column("kind").null_count()


def test_the_label_first_gives_exact_counts_and_keeps_what_depends_on_it():
    table = _spiky()
    generator = ARGNGenerator(epochs=25, threads=1).fit(table)
    sample = generator.sample(per_class={"high": 300, "low": 500}, random_state=3)
    assert sample.class_counts() == {"high": 300, "low": 500}
    assert all(r["acceptance"] == 1.0 and r["candidates"] == r["rows"] for r in sample.meta["sampling"].values())
    high = sample.frame.filter(pl.col("y") == "high").get_column("amount")
    low = sample.frame.filter(pl.col("y") == "low").get_column("amount")
    assert float((high > 25).mean()) > 0.85 and float((low <= 25).mean()) > 0.85   # the dependency learned
    assert float((low == 0).mean()) > 0.4                                             # the spike, in its class
    assert generator.timings_["epochs_done"] <= 25 and "stop_reason" in generator.timings_


def test_argn_never_trains_on_the_rows_that_judge_the_candidates():
    """argn's early-stopping split is carved with the candidates' seed and a larger share, so it holds the
    whole selection split the candidate judge scores on: no candidate trained on the rows that judge it."""
    from synthgen.generators.argn import ARGNModelSpec
    from synthgen.training.selection import carve_selection

    labels = np.random.default_rng(3).choice(["a", "b", "c"], 997, p=[0.7, 0.25, 0.05])
    for seed in (0, 1, 7):
        _, selection = carve_selection(labels, random_state=seed)
        _, validation = carve_selection(labels, share=ARGNModelSpec().validation_share, random_state=seed)
        assert len(selection) and set(selection.tolist()) <= set(validation.tolist())
