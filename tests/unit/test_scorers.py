"""Anomaly scorers: the documented score formulas, a real separation case, bad input, privacy."""

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from synthgen.anomaly import SCORERS
from synthgen.errors import InputError
from tests.conftest import TINY_ARGN, TINY_CTGAN, TINY_GAN


@pytest.fixture(scope="module")
def one_class():
    """Digit 0 as normal (400 training images); a test split with every digit (others = anomalies)."""
    from synthgen.data import split_images
    from tests.conftest import mnist_images

    train, holdout = split_images(mnist_images(500), holdout=0.2, random_state=0)
    return train.subset(np.flatnonzero(train.labels == "0")), holdout.subset(np.arange(0, len(holdout), 2))


@pytest.fixture(scope="module")
def gan_zero(one_class):
    """One small GAN trained on the normal digit; every GAN scorer below reuses it. 32 base channels: the
    GAN-based scores are only as good as the GAN's reconstructions of normal images. At 16 channels (40
    epochs) AnoGAN's residual followed the ink of a digit, not its shape, and ranked the normal 0s ABOVE
    the other digits (AUROC 0.02-0.07 at 20-500 search steps; a 0 has more ink than most digits) while
    f-AnoGAN reached 0.61-0.74; at 32 channels (40 epochs, 28 s) AnoGAN scores 0.95 and f-AnoGAN 0.98 on
    60 test images, as on 150 epochs (0.99 and 1.0). One probe, 2-core machine, 2026-12-05."""
    from synthgen.data import LabeledImages
    from synthgen.generators import GENERATORS

    normal, _ = one_class
    data = LabeledImages(images=normal.images, labels=normal.labels, classes=("0",))
    return GENERATORS.get("conditional_gan")(**{**TINY_GAN, "epochs": 40, "latent_dim": 64,
                                                "base_channels": 32}).fit(data)


@pytest.fixture(scope="module")
def fanogan(one_class, gan_zero):
    normal, _ = one_class
    return SCORERS.get("fanogan")(encoder_epochs=8).fit(normal, generator=gan_zero)


def test_fanogan_separates_one_digit_from_the_others(one_class, fanogan):
    _, test = one_class
    truth = test.labels != "0"
    auroc = roc_auc_score(truth, fanogan.decision_function(test))
    assert auroc > 0.9, auroc


def test_fanogan_score_is_pixel_plus_kappa_times_feature(one_class, fanogan, gan_zero):
    _, test = one_class
    sample = test.subset(np.arange(40))
    parts = fanogan.components(sample)
    np.testing.assert_allclose(parts["score"], parts["pixel"] + 1.0 * parts["feature"], rtol=1e-5)
    assert (parts["feature"] > 0).all() and (parts["pixel"] > 0).all()
    # another kappa, same encoder weights: the feature term is weighted by it, the pixel term is not
    other = SCORERS.get("fanogan")(kappa=3.0, encoder_epochs=1)
    other.__dict__.update({k: v for k, v in fanogan.__dict__.items() if k != "params"})
    p3 = other.components(sample)
    np.testing.assert_allclose(p3["score"], parts["pixel"] + 3.0 * parts["feature"], rtol=1e-5)


def test_anogan_score_is_weighted_by_lambda(one_class, gan_zero):
    normal, test = one_class
    sample = test.subset(np.arange(12))
    short = SCORERS.get("anogan")(steps=1, candidates=1).fit(normal, generator=gan_zero)
    parts = short.components(sample)
    np.testing.assert_allclose(parts["score"], 0.9 * parts["residual"] + 0.1 * parts["feature"], rtol=1e-5)
    half = SCORERS.get("anogan")(lambda_weight=0.5, steps=1, candidates=1).fit(normal, generator=gan_zero)
    ph = half.components(sample)
    np.testing.assert_allclose(ph["score"], 0.5 * ph["residual"] + 0.5 * ph["feature"], rtol=1e-5)


def test_scorer_reuses_a_generator_of_every_class_but_only_its_normal_classes(mnist_split):
    from synthgen.generators import GENERATORS

    train, holdout = mnist_split
    gen = GENERATORS.get("conditional_gan")(**TINY_GAN).fit(train)
    normal = train.subset(np.flatnonzero(np.isin(train.labels, ["3", "7"])))
    scorer = SCORERS.get("fanogan")(encoder_epochs=1).fit(normal, generator=gen)
    assert scorer.normal_classes_ == ["3", "7"] and scorer.class_index_ == [3, 7]
    parts = scorer.components(holdout.subset(np.arange(20)))
    assert set(parts["class_position"]) <= {0, 1}


def test_bad_image_input_is_named(fanogan, mnist_split):
    _, holdout = mnist_split
    small = holdout.images[:4, :20, :20]
    with pytest.raises(InputError, match="20x20.*28x28.*size"):
        fanogan.decision_function(small)
    rgb = np.repeat(holdout.images[:4], 3, axis=3)
    with pytest.raises(InputError, match="3 channel.*1 channel.*channels"):
        fanogan.decision_function(rgb)
    with pytest.raises(InputError, match="uint8"):
        fanogan.decision_function(holdout.images[:4].astype(np.float32))
    with pytest.raises(InputError, match="does not score tabular"):
        SCORERS.get("fanogan")().fit(pl.DataFrame({"a": list(range(20))}))


@pytest.fixture(scope="module")
def cancer_generator(cancer_split):
    """One CTGAN on the benign rows serves both GAN scorers (train once, use twice)."""
    from synthgen.generators import GENERATORS

    train, _ = cancer_split
    benign = train.with_frame(train.frame.filter(pl.col("diagnosis") == "benign"))
    return GENERATORS.get("ctgan")(**{**TINY_CTGAN, "epochs": 30}).fit(benign), benign


@pytest.fixture(scope="module")
def cancer_scorer(cancer_generator):
    generator, benign = cancer_generator
    return SCORERS.get("synthetic_knn")(reference_rows=1000).fit(benign, generator=generator), benign


def test_synthetic_knn_flags_malignant_rows_and_holds_no_real_row(cancer_split, cancer_scorer, tmp_path):
    _, holdout = cancer_split
    scorer, benign = cancer_scorer
    truth = (holdout.frame["diagnosis"] == "malignant").to_numpy()
    assert roc_auc_score(truth, scorer.decision_function(holdout)) > 0.8
    real = scorer.input_.matrix(benign)
    assert not scorer.holds_real_data
    assert (np.abs(scorer.reference_[:, None, :] - real[None, :, :]).sum(-1) > 1e-6).all()


def test_synthetic_ecod_flags_malignant_rows_from_synthetic_cdfs_only(cancer_split, cancer_generator):
    """The tabular default: ECOD tails over the GAN's rows, never a real row."""
    from synthgen.modalities import MODALITIES

    _, holdout = cancer_split
    generator, benign = cancer_generator
    scorer = SCORERS.get("synthetic_ecod")(reference_rows=1000).fit(benign, generator=generator)
    truth = (holdout.frame["diagnosis"] == "malignant").to_numpy()
    assert roc_auc_score(truth, scorer.decision_function(holdout)) > 0.8
    assert not scorer.holds_real_data
    real = scorer.input_.matrix(benign)
    assert (np.abs(scorer.reference_[:, None, :] - real[None, :, :]).sum(-1) > 1e-6).all()
    assert MODALITIES.get("tabular").default_scorer == "synthetic_ecod"


def test_synthetic_ecod_builds_on_argn_when_argn_is_the_published_generator(cancer_split, tmp_path):
    """Whichever generator a run publishes, the screening scorer builds on it; a scorer saved under the
    name it had before the rename (`gan_ecod`) still loads."""
    import json

    from synthgen.anomaly.base import Scorer
    from synthgen.generators import GENERATORS

    train, holdout = cancer_split
    benign = train.with_frame(train.frame.filter(pl.col("diagnosis") == "benign"))
    generator = GENERATORS.get("argn")(**{**TINY_ARGN, "epochs": 20}).fit(benign)
    scorer = SCORERS.get("synthetic_ecod")(reference_rows=1000).fit(benign, generator=generator)
    truth = (holdout.frame["diagnosis"] == "malignant").to_numpy()
    assert roc_auc_score(truth, scorer.decision_function(holdout)) > 0.8
    scorer.save(tmp_path)
    meta = json.loads((tmp_path / "scorer.json").read_text())
    (tmp_path / "scorer.json").write_text(json.dumps({**meta, "scorer": "gan_ecod"}))
    loaded = Scorer.load(tmp_path)
    assert loaded.name == "synthetic_ecod"
    assert np.allclose(loaded.decision_function(holdout), scorer.decision_function(holdout))


def test_missing_or_mistyped_columns_are_named(cancer_split, cancer_scorer):
    _, holdout = cancer_split
    scorer, _ = cancer_scorer
    with pytest.raises(InputError, match=r"columns \['mean radius'\] are missing"):
        scorer.decision_function(holdout.frame.drop("mean radius"))
    bad = holdout.frame.with_columns(pl.col("mean texture").cast(pl.String) + "x")
    with pytest.raises(InputError, match="column 'mean texture' must be numeric"):
        scorer.decision_function(bad)
    # the label column is not needed to score
    assert len(scorer.decision_function(holdout.frame.drop("diagnosis"))) == len(holdout)


def test_threshold_is_a_quantile_of_calibration_scores(cancer_split):
    train, holdout = cancer_split
    benign = lambda t: t.with_frame(t.frame.filter(pl.col("diagnosis") == "benign"))  # noqa: E731
    scorer = SCORERS.get("knn")(false_alarm_rate=0.1).fit(benign(train), calibration=benign(holdout))
    cal = scorer.decision_function(benign(holdout))
    assert scorer.threshold_ == pytest.approx(np.quantile(cal, 0.9, method="higher"))
    assert scorer.calibration_["n"] == len(cal)
    with pytest.raises(InputError, match="at least 10"):
        SCORERS.get("knn")().fit(benign(train).with_frame(benign(train).frame.head(5)))


def test_anogan_ranks_other_digits_above_the_normal_one(one_class, gan_zero):
    """AUROC and direction of AnoGAN on the one-digit case (20 normal, 40 other digits, a short latent
    search: 20 steps from one start), and the search lowers the loss it starts from."""
    normal, test = one_class
    pick = np.concatenate([np.flatnonzero(test.labels == "0")[:20], np.flatnonzero(test.labels != "0")[:40]])
    sample = test.subset(pick)
    scorer = SCORERS.get("anogan")(steps=20, candidates=1).fit(normal, generator=gan_zero)
    scores = scorer.decision_function(sample)
    truth = sample.labels != "0"
    assert roc_auc_score(truth, scores) > 0.85 and np.median(scores[truth]) > np.median(scores[~truth])
    start = SCORERS.get("anogan")(steps=1, candidates=1).fit(normal, generator=gan_zero).decision_function(sample)
    assert (scores <= start + 1e-6).mean() > 0.9


@pytest.mark.parametrize("name", ["knn", "ecod", "isolation_forest"])
def test_classic_scorers_rank_malignant_rows_above_benign_ones(cancer_split, name):
    """Fitted on benign training rows only: malignant holdout rows score higher (AUROC and direction), and
    the labels of the flagged rows follow the threshold."""
    train, holdout = cancer_split
    benign = train.with_frame(train.frame.filter(pl.col("diagnosis") == "benign"))
    scorer = SCORERS.get(name)().fit(benign)
    scores = scorer.decision_function(holdout)
    truth = (holdout.frame["diagnosis"] == "malignant").to_numpy()
    assert roc_auc_score(truth, scores) > 0.85, (name, roc_auc_score(truth, scores))
    assert np.median(scores[truth]) > np.median(scores[~truth])
    assert (scorer.predict(holdout) == (scores > scorer.threshold_)).all()
