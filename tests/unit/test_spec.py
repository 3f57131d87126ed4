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
