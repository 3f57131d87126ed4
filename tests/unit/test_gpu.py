"""device: auto on a machine with CUDA (skipped elsewhere, CI included): GAN training, the f-AnoGAN
scorer and the validation CNN run on the GPU; results come back to the CPU."""

import numpy as np
import pytest
import torch

from synthgen.training.seeding import resolve_device

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_device_auto_places_training_scoring_and_the_validation_cnn_on_cuda(mnist_split):
    from synthgen.anomaly.fanogan import FAnoGANScorer
    from synthgen.generators.conditional_gan import ConditionalGANGenerator
    from synthgen.training.classifier import predict, train_classifier
    from tests.conftest import TINY_GAN

    assert resolve_device("auto") == "cuda"
    train, holdout = mnist_split
    gan = ConditionalGANGenerator(**{**TINY_GAN, "device": "auto"}).fit(train)
    assert gan.timings_["device"] == "cuda"
    net = train_classifier(train.images, train.label_index(), len(train.classes), epochs=1, device="cuda")
    assert next(net.parameters()).device.type == "cuda"
    probs, feats = predict(net, holdout.images[:64])
    assert isinstance(probs, np.ndarray) and probs.shape == (64, len(train.classes))
    normal = train.subset(np.flatnonzero(train.labels == train.classes[0]))
    scorer = FAnoGANScorer(device="auto", encoder_epochs=1).fit(normal, generator=gan)
    scores = scorer.decision_function(holdout.subset(np.arange(64)))
    assert np.isfinite(scores).all() and next(scorer.encoder_.parameters()).device.type == "cpu"
