"""The CTGAN generator honours synthgen's generator contract on real data (tiny config)."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

from synthgen.data import prepare_table
from synthgen.errors import InputError
from synthgen.generators import GENERATORS, GenerationError, TabularGenerator, resolve_class_counts
from tests.conftest import TINY_CTGAN


def test_balance_and_acceptance(tiny_ctgan):
    out = tiny_ctgan.sample(per_class={"Yes": 120, "No": 80}, random_state=3)
    assert out.class_counts() == {"Yes": 120, "No": 80}
    assert set(out.meta["acceptance"]) == {"Yes", "No"}
    assert all(0 < rate <= 1 for rate in out.meta["acceptance"].values())
    balanced = tiny_ctgan.sample(301, balance=True, random_state=3)
    assert sorted(balanced.class_counts().values()) == [150, 151]


def test_output_has_the_training_schema(tiny_ctgan, arrests_split):
    train, _ = arrests_split
    out = tiny_ctgan.sample(200, random_state=0)
    assert out.frame.schema == train.frame.schema
    assert set(out.frame.get_column("colour").unique()) <= set(train.frame.get_column("colour").unique())
    age = out.frame.get_column("age")
    assert age.min() >= train.frame.get_column("age").min() and age.max() <= train.frame.get_column("age").max()


def test_same_seed_same_rows_other_seed_other_rows(tiny_ctgan):
    a = tiny_ctgan.sample(300, random_state=5)
    b = tiny_ctgan.sample(300, random_state=5)
    c = tiny_ctgan.sample(300, random_state=6)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(c.frame)


def test_fit_is_reproducible(arrests_split):
    train, _ = arrests_split
    small = train.with_frame(train.frame.head(600))
    one = GENERATORS.get("ctgan")(**TINY_CTGAN).fit(small)
    two = GENERATORS.get("ctgan")(**TINY_CTGAN).fit(small)
    for (k, v), (_, w) in zip(one.net_.state_dict().items(), two.net_.state_dict().items()):
        assert torch.equal(v, w), k


def test_save_load_round_trip_without_pickle(tiny_ctgan, tmp_path):
    tiny_ctgan.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["generator.json", "schema.arrow", "weights.pt"]
    torch.load(tmp_path / "m" / "weights.pt", weights_only=True)  # plain tensors only
    loaded = TabularGenerator.load(tmp_path / "m")
    assert type(loaded).__name__ == "CTGANGenerator"
    assert loaded.sample(250, random_state=9).frame.equals(tiny_ctgan.sample(250, random_state=9).frame)


def test_load_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(InputError, match="not a saved synthgen generator"):
        TabularGenerator.load(tmp_path)


def test_unreachable_class_fails_naming_it_the_knobs_and_keeping_what_was_drawn(tiny_ctgan):
    # the 2-epoch model honours the class 'No' for well under all of its candidates: at a stated minimum
    # acceptance of 1 the budget cannot be met, and the sampler says so after one draw, not after many
    with pytest.raises(GenerationError, match=r"class 'No'.*sample\.min_acceptance=1\b") as err:
        tiny_ctgan.sample(per_class={"No": 2000}, min_acceptance=1.0)
    record = err.value.shortfall["No"]
    assert record["short"] and record["draws"] == 1 and record["candidates"] <= record["budget"] == 2000
    assert 0 < record["kept"] < 2000 and len(err.value.partial) == record["kept"]
    assert "--set model.epochs=4" in err.value.knobs                     # the cause: the condition
    assert any(k.startswith("--set sample.min_acceptance=") for k in err.value.knobs)
    assert "try: --set model.epochs=4" in str(err.value)


def test_sampler_sizes_draws_from_measured_acceptance_and_never_stops_while_rows_come():
    from synthgen.generators.base import MAX_DRAW, Sampler

    def source(rate, seed=0):
        rng = np.random.default_rng(seed)
        sizes = []

        def draw(n):
            sizes.append(n)
            return np.zeros(rng.binomial(n, rate)), n
        return draw, sizes

    # 2% of candidates kept, a stated minimum of 1%: 20k rows need ~1M candidates, and they come
    draw, sizes = source(0.02)
    part, record = Sampler(20_000, 0.01).run(draw, lambda kept: np.concatenate(kept)[:20_000])
    assert len(part) == 20_000 and not record["short"]
    assert record["candidates"] <= record["budget"] == 2_000_000
    assert max(sizes) == MAX_DRAW and record["draws"] == len(sizes) < 80     # draws sized, not 500 at a time
    # well below the stated minimum: refused early, long before the budget is spent
    draw, sizes = source(0.002)
    part, record = Sampler(20_000, 0.01).run(draw, lambda kept: np.concatenate(kept))
    assert record["short"] and record["stopped_early"] and record["candidates"] < record["budget"] / 10
    assert len(part) == record["kept"] < 20_000
    # a class that needs fewer rows than one batch still gets a budget of 100 / min_acceptance
    draw, _ = source(0.05)
    _, record = Sampler(3, 0.01).run(draw, lambda kept: np.concatenate(kept))
    assert record["budget"] == 10_000 and not record["short"]


def test_unknown_class_in_request(tiny_ctgan):
    with pytest.raises(InputError, match=r"classes \['Maybe'\] do not exist"):
        tiny_ctgan.sample(per_class={"Maybe": 3})


def test_class_counts_resolution():
    train = {"a": 60, "b": 30, "c": 10}
    assert resolve_class_counts(train, rows=10) == {"a": 6, "b": 3, "c": 1}
    assert resolve_class_counts(train, rows=11, balance=True) == {"a": 4, "b": 4, "c": 3}
    assert resolve_class_counts(train, rows=20, per_class={"c": 10}) == {"a": 7, "b": 3, "c": 10}
    assert resolve_class_counts(train, rows=None, per_class={"c": 5}) == {"a": 0, "b": 0, "c": 5}
    assert sum(resolve_class_counts(train, rows=None).values()) == 100
    with pytest.raises(InputError):
        resolve_class_counts(train, rows=5, per_class={"c": 10})


def test_nulls_and_datetimes_round_trip():
    rng = np.random.default_rng(0)
    n = 300
    start = datetime(2021, 1, 1)
    frame = pl.DataFrame({
        "x": [None if i % 10 == 0 else float(v) for i, v in enumerate(rng.normal(50, 10, n))],
        "cat": [None if i % 7 == 0 else ["p", "q", "r"][i % 3] for i in range(n)],
        "when": [start + timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)],
        "y": ["u", "v"] * (n // 2),
    })
    table = prepare_table(frame, label="y", overrides={}, origin="mem")
    gen = GENERATORS.get("ctgan")(**{**TINY_CTGAN, "epochs": 3}).fit(table)
    out = gen.sample(400, random_state=1).frame
    assert out.schema == frame.schema
    assert out.get_column("x").null_count() > 0  # missingness is learned, not dropped
    assert out.get_column("cat").null_count() > 0
    assert out.get_column("when").min() >= frame.get_column("when").min()


def test_numeric_values_look_like_the_real_ones():
    """Few distinct values: synthetic values snap to the common ones (a value seen under 5 times is never a
    target); otherwise they are rounded to the decimals the real values are written with."""
    from synthgen.generators.ctgan import _decode, _value_grid

    brackets = np.array([2500.0] * 6 + [7500.0] * 9 + [200000.0] * 2)
    grid = _value_grid(brackets)
    assert grid == {"values": [2500.0, 7500.0]}
    assert _value_grid(np.round(np.linspace(0, 1, 100), 2) + 0.1119999999999999 - 0.112) == {"decimals": 2}
    plan = {"x": {"kind": "numeric", "integer": False, "min": 0.0, "max": 1e6, "nullable": False, **grid},
            "y": {"kind": "numeric", "integer": False, "min": 0.0, "max": 1.0, "nullable": False, "decimals": 2}}
    out = _decode({"x": np.array([100.0, 5200.0, 4900.0, 190000.0]), "y": np.array([0.12345, 0.5, 0.999, 0.0])},
                  plan, pl.DataFrame({"x": [0.0], "y": [0.0]}))
    assert out.get_column("x").to_list() == [2500.0, 7500.0, 2500.0, 7500.0]
    assert out.get_column("y").to_list() == [0.12, 0.5, 1.0, 0.0]
