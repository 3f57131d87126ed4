"""What the GAN-based image scorers share: a frozen copy of a trained class-conditional GAN (EMA
generator + projection discriminator), the normal classes' indices in it, and the discriminator
feature map f(x) (the pooled features before its last layer).

Train once, use twice: `fit(X, generator=...)` takes the generator an augmentation run trained
(on every class) and uses only the normal classes of X; without one it trains a
ConditionalGANGenerator on X itself (extra parameter `gan`: that generator's parameters).
Scoring a sample takes the best (lowest) score over the normal classes, since its class is unknown.
"""

from __future__ import annotations

import numpy as np

from synthgen.anomaly.base import Scorer
from synthgen.data import LabeledImages
from synthgen.errors import InputError
from synthgen.nn.convert import images_to_tensor
from synthgen.persist import load_prefixed

SCORE_ELEMENTS = 2 ** 16  # values per scoring batch: small batches stay in cache (28x28: 3,100 vs 1,800 img/s at 512)


def to_tensor(images: np.ndarray):
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1], channels-last like the frozen nets."""
    return images_to_tensor(images, channels_last=True)


class GANImageScorer(Scorer):
    modalities = ("image",)
    holds_real_data = False  # GAN weights (the same as the published generator's) or synthetic rows

    def _fit(self, X, *, generator=None) -> None:
        data = self.adapter.labeled(X)
        normal = [c for c, n in data.class_counts().items() if n]
        if generator is None:
            data_present = LabeledImages(images=data.images, labels=data.labels, classes=tuple(normal))
            generator = self.trained_generator(data_present, threads=self.params["threads"])
        if not hasattr(generator, "gan_parts"):
            raise InputError(f"{type(generator).__name__}: an image GAN scorer needs a generator that exposes "
                             "its networks (gan_parts(), e.g. conditional_gan)")
        parts = generator.gan_parts()
        missing = [c for c in normal if c not in parts.classes]
        if missing:
            raise InputError(f"normal classes {missing} are not classes of the generator ({parts.classes})")
        self.normal_classes_ = normal
        self.class_index_ = [parts.classes.index(c) for c in normal]
        self.gan_config_ = dict(parts.config)
        if self.gan_config_["size"] != self.input_.shape[0] or self.gan_config_["channels"] != self.input_.shape[2]:
            raise InputError(f"fit data: images are {self.input_.shape} but the generator makes "
                             f"{self.gan_config_['size']}x{self.gan_config_['size']}x{self.gan_config_['channels']}")
        self.g_ = frozen_net(parts.generator)
        self.d_ = frozen_net(parts.discriminator)
        self._fit_scorer(data.subset(np.flatnonzero(np.isin(data.labels, normal))))

    def _fit_scorer(self, data: LabeledImages) -> None:
        """Train what the scorer adds on top of the frozen GAN (the encoder for f-AnoGAN)."""

    def features(self, x):
        """f(x): the discriminator's intermediate feature map (all but its last downsampling block),
        flattened, as in the paper (the residual is then a mean over its n_f elements). Summed over
        positions instead, the feature term dwarfed the pixel term and the encoder learnt badly:
        one-class MNIST digits 0-4, 80-epoch GANs, AUROC 0.873 summed vs 0.944 flattened; the main
        job's ten-class MNIST GAN with digit 0 normal, 0.655 vs 0.996."""
        return self.d_.features[:-2](x).flatten(1)                     # (B, n_f)

    def _batches(self, X):
        images = self.input_.check(X)
        size = min(max(SCORE_ELEMENTS // images[0].size, 8), 512)
        for start in range(0, len(images), size):
            yield to_tensor(images[start:start + size])

    def _gan_tensors(self) -> dict:
        out = {f"g.{k}": v for k, v in self.g_.state_dict().items()}
        out.update({f"d.{k}": v for k, v in self.d_.state_dict().items()})
        return out

    def _gan_state(self) -> dict:
        return {"normal_classes": self.normal_classes_, "class_index": self.class_index_, "gan": self.gan_config_}

    def _restore_gan(self, state: dict, tensors: dict) -> None:
        from synthgen.nn.image_gan import (
            ConditionalGeneratorNet,
            ProjectionDiscriminatorNet,
        )

        self.normal_classes_, self.class_index_, cfg = state["normal_classes"], state["class_index"], state["gan"]
        self.gan_config_ = cfg
        self.g_ = ConditionalGeneratorNet(cfg["latent_dim"], cfg["n_classes"], cfg["channels"], cfg["size"],
                                          cfg["base_channels"])
        self.d_ = ProjectionDiscriminatorNet(cfg["n_classes"], cfg["channels"], cfg["size"], cfg["base_channels"])
        for prefix, net in (("g.", self.g_), ("d.", self.d_)):
            frozen_net(load_prefixed(net, tensors, prefix))

    def components(self, X) -> dict[str, np.ndarray]:
        """The score's parts per sample, for the best normal class (keys: see the scorer's docstring)."""
        self._check_fitted()
        return self._components(X, reconstruct=True)

    def explain(self, X) -> dict:
        """{"residual": |x - reconstruction| per pixel in [0, 1], "reconstruction": uint8 images}."""
        self._check_fitted()
        parts = self._components(X, reconstruct=True)
        recon = parts["reconstruction"]
        images = self.input_.check(X)
        residual = np.abs(images.astype(np.float32) - recon.astype(np.float32)).mean(axis=3) / 255.0
        return {"residual": residual, "reconstruction": recon}

    def _score(self, X) -> np.ndarray:
        return self._components(X)["score"]

    def _components(self, X, reconstruct: bool = False) -> dict[str, np.ndarray]:
        """Per-sample score parts (and uint8 reconstructions when asked) for the best normal class."""
        raise NotImplementedError


def frozen_weights():
    """Within it, spectral-norm weights are computed once instead of at every forward pass (the
    nets are frozen, so the cached weight stays right): +20-25% scoring speed."""
    from torch.nn.utils import parametrize

    return parametrize.cached()


def frozen_net(net):
    """Eval mode, no gradients on weights, channels-last convolutions (1.2-1.6x faster on CPU)."""
    import torch

    net.to(memory_format=torch.channels_last)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def best_over_classes(per_class: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per sample, the components of the class with the lowest score."""
    scores = np.stack([p["score"] for p in per_class])                   # (K, N)
    pick = scores.argmin(axis=0)
    out = {}
    for key in per_class[0]:
        stacked = np.stack([p[key] for p in per_class])
        out[key] = stacked[pick, np.arange(stacked.shape[1])]
    out["class_position"] = pick
    return out
