import json
from pathlib import Path

import pytest

from synthgen.errors import InputError
from synthgen.spec import json_schema_text, load_spec

ROOT = Path(__file__).resolve().parents[2]


def test_committed_json_schema_matches_the_models():
    committed = (ROOT / "schemas" / "spec.schema.json").read_text()
    assert committed == json_schema_text(), "run: synthgen schema --write schemas/spec.schema.json"


@pytest.mark.parametrize("path", sorted((ROOT / "schemas").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_specs_are_valid(path):
    loaded = load_spec(path)
    assert loaded.spec.name == path.stem
    assert len(loaded.spec_hash) == 64


def test_unknown_key_names_key_and_file(spec_file):
    from tests.conftest import tiny_spec

    spec = tiny_spec()
    spec["model"]["epoch"] = 5
    path = spec_file(spec)
    with pytest.raises(InputError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and "model.epoch" in str(err.value) and "unknown key" in str(err.value)


def test_wrong_type_names_key(spec_file):
    from tests.conftest import tiny_spec

    spec = tiny_spec()
    spec["model"]["epochs"] = "many"
    path = spec_file(spec)
    with pytest.raises(InputError, match=r"model\.epochs.*'many'"):
        load_spec(path)


def test_overrides_are_validated_like_the_file(spec_file):
    from tests.conftest import tiny_spec

    path = spec_file(tiny_spec())
    loaded = load_spec(path, ["model.epochs=7", "sample.per_class={Yes: 3, No: 4}", "sample.rows=7"])
    assert loaded.spec.model.epochs == 7
    assert loaded.spec.sample.per_class == {"Yes": 3, "No": 4}
    assert loaded.spec_hash != load_spec(path).spec_hash
    with pytest.raises(InputError, match=r"model\.epochs"):
        load_spec(path, ["model.epochs=-1"])
    with pytest.raises(InputError, match="label.*not a mapping"):
        load_spec(path, ["label.x=1"])
    with pytest.raises(InputError, match="KEY=VALUE"):
        load_spec(path, ["model.epochs"])


def test_bad_modality_and_missing_file(spec_file, tmp_path):
    from tests.conftest import tiny_spec

    with pytest.raises(InputError, match="modality"):
        load_spec(spec_file(tiny_spec(modality="audio")))
    with pytest.raises(InputError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="exactly one of source.path or source.builtin"):
        load_spec(spec_file(tiny_spec(source={"builtin": "arrests", "path": "x.csv"})))


def test_batch_size_must_fit_pac(spec_file):
    from tests.conftest import tiny_spec

    with pytest.raises(InputError, match="multiple of pac"):
        load_spec(spec_file(tiny_spec()), ["model.batch_size=105"])


def test_schema_is_json_with_documented_gate_defaults():
    schema = json.loads(json_schema_text())
    gates = schema["$defs"]["TabularGates"]["properties"]
    assert gates["dcr_share"]["default"] == 0.6
    assert "description" in gates["mia_auroc"]


def test_a_generator_and_a_scorer_registered_in_a_test_are_valid_in_specs(spec_file):
    """Parameters live beside the estimator: registering one is all a spec needs (no edit of spec.py)."""
    from typing import Literal

    from pydantic import Field

    from synthgen.anomaly import SCORERS
    from synthgen.anomaly.base import Scorer, ScorerParams
    from synthgen.generators import GENERATORS, TabularGenerator
    from synthgen.params import Params
    from tests.conftest import tiny_spec

    class ThrowawayParams(Params):
        name: Literal["throwaway"] = "throwaway"
        wobble: int = Field(3, ge=1)

    class ThrowawayScorerParams(ScorerParams):
        name: Literal["throwaway_scorer"] = "throwaway_scorer"
        k: float = 0.5

    before = json_schema_text()
    GENERATORS.register("throwaway")(type("ThrowawayGenerator", (TabularGenerator,), {"params_model": ThrowawayParams}))
    SCORERS.register("throwaway_scorer")(type("ThrowawayScorer", (Scorer,), {
        "params_model": ThrowawayScorerParams, "modalities": ("tabular",)}))
    try:
        spec = tiny_spec(model={"name": "throwaway", "wobble": 7},
                         screen={"scorer": {"name": "throwaway_scorer", "k": 2.0}})
        loaded = load_spec(spec_file(spec))
        assert type(loaded.spec.model) is ThrowawayParams and loaded.spec.model.wobble == 7
        assert type(loaded.spec.screen.scorer) is ThrowawayScorerParams and loaded.spec.screen.scorer.k == 2.0
        with pytest.raises(InputError, match=r"model\.wobble: Input should be greater"):  # the key as written
            load_spec(spec_file(spec), ["model.wobble=0"])
        # an image spec may not name a tabular generator or scorer
        with pytest.raises(InputError, match="model"):
            load_spec(spec_file({"modality": "image", "name": "x", "source": {"builtin": "mnist"},
                                 "model": {"name": "throwaway"}}))
        assert "ThrowawayParams" in json_schema_text()
    finally:
        GENERATORS.remove("throwaway")
        SCORERS.remove("throwaway_scorer")
    assert json_schema_text() == before
    with pytest.raises(InputError, match="throwaway"):
        load_spec(spec_file(tiny_spec(model={"name": "throwaway"})))


def test_an_unknown_gate_key_is_refused_naming_it(spec_file):
    spec = {"modality": "image", "name": "x", "source": {"builtin": "mnist"}, "gates": {"image_dcr_share": 0.7}}
    with pytest.raises(InputError, match=r"gates\.image_dcr_share"):
        load_spec(spec_file(spec))
