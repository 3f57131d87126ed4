"""The image GAN's training loop: resume is exact, augmentation pipelines are validated."""

import numpy as np
import pytest
import torch

from synthgen.augment import epoch_augmenter, load_pipeline
from synthgen.errors import InputError
from synthgen.nn.image_gan import ConditionalGeneratorNet, ProjectionDiscriminatorNet
from synthgen.training.gan import GANConfig, train_gan


def _cfg(epochs):
    return GANConfig(latent_dim=8, n_classes=3, channels=1, size=28, base_channels=8, batch_size=16,
                     epochs=epochs, random_state=7)


@pytest.fixture(scope="module")
def small(mnist_split):
    train, _ = mnist_split
    idx = np.concatenate([np.flatnonzero(train.labels == c)[:32] for c in ("0", "1", "2")])
    sub = train.subset(idx)
    return sub.images, np.array([int(v) for v in sub.labels])


def test_stop_and_resume_reaches_the_uninterrupted_state(small, tmp_path):
    images, labels = small
    full = train_gan(images, labels, _cfg(3))
    first = train_gan(images, labels, _cfg(3), checkpoint_dir=tmp_path, stop_after_epochs=1)
    assert first.epochs_done == 1 and first.stop_reason == "interrupted"
    resumed = train_gan(images, labels, _cfg(3), checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 1 and resumed.epochs_done == 3
    for name, tensor in full.ema.state_dict().items():
        assert torch.equal(tensor, resumed.ema.state_dict()[name]), name
    assert full.history["d_loss"] == resumed.history["d_loss"]


def test_checkpoint_of_other_data_is_not_resumed(small, tmp_path):
    images, labels = small
    train_gan(images, labels, _cfg(1), checkpoint_dir=tmp_path)
    other = train_gan(255 - images, labels, _cfg(1), checkpoint_dir=tmp_path)
    assert other.resumed_from == 0


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (64, 1), (25, 1), (8, 1), (50, 3)])
def test_nets_shapes(size, channels):
    """Any side from 8 px: one that is not a multiple of the upsampling factor (25 px faces) is
    generated one multiple up and centre-cropped; D and the encoder take it as it is."""
    from synthgen.nn.image_gan import EncoderNet

    g = ConditionalGeneratorNet(8, 4, channels, size, 8)
    d = ProjectionDiscriminatorNet(4, channels, size, 8)
    y = torch.tensor([0, 1, 2, 3])
    x = g(torch.randn(4, 8), y)
    assert x.shape == (4, channels, size, size) and x.abs().max() <= 1
    assert d(x, y).shape == (4,)
    assert EncoderNet(8, channels, size, 8)(x).shape == (4, 8)


def test_gan_trains_and_samples_at_an_odd_side(mnist_split):
    """25x25 crops of real digits (the side of scikit-image's LFW faces): trains, samples 25x25."""
    from synthgen.generators import GENERATORS

    train, _ = mnist_split
    idx = np.concatenate([np.flatnonzero(train.labels == c)[:24] for c in ("0", "1")])
    sub = train.subset(idx)
    data = type(sub)(images=np.ascontiguousarray(sub.images[:, 1:26, 1:26]), labels=sub.labels,
                     classes=("0", "1"))
    gen = GENERATORS.get("conditional_gan")(epochs=1, batch_size=16, base_channels=8, threads=1).fit(data)
    out = gen.sample(6, random_state=0)
    assert out.images.shape == (6, 25, 25, 1) and out.images.dtype == np.uint8


def test_invalid_or_legacy_augmentation_is_an_error_naming_it():
    with pytest.raises(InputError, match="var_limit.*GaussNoise"):
        load_pipeline({"__class_fullname__": "Compose",
                       "transforms": [{"__class_fullname__": "GaussNoise", "var_limit": [10, 50]}]}, origin="s.yaml")
    with pytest.raises(InputError, match="unknown albumentations transform 'Sharpen2'"):
        load_pipeline({"__class_fullname__": "Compose", "transforms": [{"__class_fullname__": "Sharpen2"}]},
                      origin="s.yaml")
    with pytest.raises(InputError, match="rotate"):
        load_pipeline({"__class_fullname__": "Compose",
                       "transforms": [{"__class_fullname__": "Affine", "rotate": "a lot"}]}, origin="s.yaml")


def test_epoch_augmentation_is_seeded_per_epoch(small):
    images, _ = small
    aug = epoch_augmenter({"__class_fullname__": "Compose",
                           "transforms": [{"__class_fullname__": "Affine", "rotate": [-20, 20], "p": 1.0}]},
                          origin="s", random_state=0)
    a0, a0_again, a1 = aug(images, 0), aug(images, 0), aug(images, 1)
    assert a0.shape == images.shape and a0.dtype == np.uint8
    assert (a0 == a0_again).all() and not (a0 == a1).all() and not (a0 == images).all()


def test_truncation_is_applied_when_sampling(mnist_split):
    from synthgen.generators import GENERATORS
    from tests.conftest import TINY_GAN

    train, _ = mnist_split
    full = GENERATORS.get("conditional_gan")(**TINY_GAN, truncation=1.0).fit(train)
    truncated = GENERATORS.get("conditional_gan")(**TINY_GAN, truncation=0.0001).fit(train)
    a = full.sample(per_class={"3": 20}, random_state=0).images.astype(float)
    b = truncated.sample(per_class={"3": 20}, random_state=0).images.astype(float)
    assert not (a == b).all()
    assert b.std(axis=0).mean() < 0.1 * a.std(axis=0).mean()  # z ~ 0: every sample of a class alike
