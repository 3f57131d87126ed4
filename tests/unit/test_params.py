"""The parameter contract: an estimator takes exactly its params model's fields; a typo is refused naming
it and the allowed ones; run-time switches (the progress bar) are not parameters and are never saved."""

import json

import pytest

from synthgen.anomaly import SCORERS
from synthgen.errors import InputError
from synthgen.generators import GENERATORS


@pytest.mark.parametrize("registry,name,typo", [(GENERATORS, "ctgan", "epochz"),
                                                 (GENERATORS, "conditional_gan", "latent_dims"),
                                                 (SCORERS, "knn", "gan"),          # classic scorers take no GAN
                                                 (SCORERS, "fanogan", "encoder_epoch")])
def test_an_unknown_parameter_is_refused_naming_it_and_the_allowed_ones(registry, name, typo):
    with pytest.raises(InputError, match=rf"unknown parameter\(s\) \['{typo}'\]; allowed: \[.*'random_state'"):
        registry.get(name)(**{typo: 1})


def test_gan_scorers_take_a_typed_gan_field_and_classic_ones_none():
    for name in ("fanogan", "anogan", "synthetic_knn", "synthetic_ecod"):
        assert "gan" in SCORERS.get(name).params_model.model_fields, name
    for name in ("knn", "ecod", "isolation_forest"):
        assert "gan" not in SCORERS.get(name).params_model.model_fields, name
    with pytest.raises(Exception, match="gan"):
        SCORERS.get("fanogan")(gan="ctgan")                 # a dict (the generator's spec), not a name


def test_progress_is_not_saved_and_models_saved_with_it_still_load(tiny_ctgan, tmp_path):
    folder = tiny_ctgan.save(tmp_path / "model")
    meta = json.loads((folder / "generator.json").read_text())
    assert "progress" not in meta["params"] and set(meta["params"]) <= set(
        GENERATORS.get("ctgan").params_model.model_fields)
    meta["params"]["progress"] = True                       # what versions before this one saved
    (folder / "generator.json").write_text(json.dumps(meta))
    loaded = GENERATORS.get("ctgan").load(folder)
    assert loaded.params == tiny_ctgan.params
