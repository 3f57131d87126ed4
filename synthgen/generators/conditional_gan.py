"""Class-conditional image GAN behind synthgen's generator contract.

Projection discriminator, spectral norm, hinge loss, DiffAugment, EMA generator (nn/, training/).
Sampling uses the EMA generator in eval mode with a seeded torch.Generator; every image is drawn
for its class, so per-class counts are exact with acceptance 1.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from synthgen.data import LabeledImages
from synthgen.generators.base import GENERATORS, GANParts, Generator
from synthgen.params import Params
from synthgen.persist import load_prefixed
from synthgen.training.seeding import resolve_device, seeded


class ConditionalGANModelSpec(Params):
    """Class-conditional GAN for small labeled image sets: projection discriminator, spectral norm,
    hinge loss, DiffAugment, EMA generator."""

    name: Literal["conditional_gan"] = "conditional_gan"
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=2)
    latent_dim: int = Field(64, ge=1)
    base_channels: int = Field(32, ge=4, description="Width of the first generator/discriminator layers.")
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    diffaugment: str = Field("translation", description="Comma list of translation, cutout, color; '' = off.")
    mode_seeking: float = Field(1.0, ge=0, description="Weight of the mode-seeking term (Mao et al. 2019) "
                                "that keeps different latents apart within a class; 0 = off.")
    truncation: float = Field(0.6, gt=0, le=1.0, description="Scale of the latent draws when sampling "
                              "(truncation trick, Brock et al. 2019): below 1 trades variety for class fidelity; "
                              "1 = off. Measured on MNIST-5k: 1.0 -> fidelity 0.88, TSTR/TRTR 0.95; 0.6 -> 0.97, 0.92.")
    max_minutes: float | None = Field(None, gt=0, description="Stop training after this long (checkpointed).")
    random_state: int = 0
    threads: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class ImageGenerator(Generator):
    """Image generators return a LabeledImages of the training set's shape and classes."""

    modality: ClassVar[str] = "image"

    def _remember(self, data: LabeledImages) -> None:
        self.shape_ = tuple(int(v) for v in data.shape)

    def _data_facts(self) -> dict:
        return {"shape": list(self.shape_)}

    def _load_facts(self, facts: dict, directory: Path) -> None:
        self.shape_ = tuple(facts["shape"])

    def _combine(self, parts: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> LabeledImages:
        h, w, c = self.shape_
        images = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, h, w, c), np.uint8)
        labels = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=object)
        order = rng.permutation(len(images))
        return LabeledImages(images=images[order], labels=labels[order], classes=tuple(self.classes_),
                             origin="synthetic")


@GENERATORS.register("conditional_gan")
class ConditionalGANGenerator(ImageGenerator):
    """Parameters are those of spec.ConditionalGANModelSpec (minus `name`), plus `progress`."""

    params_model = ConditionalGANModelSpec

    def _config(self):
        from synthgen.training.gan import GANConfig

        p = self.params
        h, _, c = self.shape_
        return GANConfig(
            latent_dim=p["latent_dim"], n_classes=len(self.classes_), channels=c, size=h,
            base_channels=p["base_channels"], batch_size=p["batch_size"],
            epochs=p["epochs"], generator_lr=p["generator_lr"],
            discriminator_lr=p["discriminator_lr"], ema_decay=p["ema_decay"],
            diffaugment=p["diffaugment"], mode_seeking=p["mode_seeking"],
            random_state=p["random_state"],
            max_minutes=p["max_minutes"])

    def _fit(self, data: LabeledImages, *, checkpoint_dir: Path | None = None, augment=None,
             stop_after_epochs: int | None = None) -> None:
        from synthgen.training.gan import train_gan

        h, w, _ = self.shape_
        if h != w:
            raise ValueError(f"images must be square, got {h}x{w}; set image.size")
        device = resolve_device(self.params["device"])
        with seeded(self.params["random_state"], threads=self.params["threads"]):
            result = train_gan(data.images, data.label_index(), self._config(), device=device,
                               checkpoint_dir=checkpoint_dir, augment=augment,
                               progress=self.params.get("progress", False),
                               stop_after_epochs=stop_after_epochs)
        self.net_ = result.ema.eval()
        self.discriminator_ = result.discriminator  # kept for the anomaly scorers (train once, use twice)
        self.loss_history_ = result.history
        self.timings_.update(train_s=result.train_s, images_per_s=result.images_per_s,
                             epochs_done=result.epochs_done, resumed_from_epoch=result.resumed_from,
                             stopped_early=result.stopped_early, device=device)

    def _sample_class(self, cls: str, k: int, *, random_state: int, max_rounds: int):
        import torch

        from synthgen.nn.convert import tensor_to_images

        index = self.classes_.index(cls)
        gen = torch.Generator().manual_seed(random_state)
        latent = self.params["latent_dim"]
        truncation = self.params["truncation"]
        out = []
        with seeded(random_state, threads=self.params["threads"]), torch.inference_mode():
            for start in range(0, k, 2048):
                b = min(2048, k - start)
                z = torch.randn(b, latent, generator=gen) * truncation
                x = self.net_(z, torch.full((b,), index, dtype=torch.long))   # (b, C, H, W) in [-1, 1]
                out.append(tensor_to_images(x))
        return (np.concatenate(out), np.full(k, cls, dtype=object)), 1.0

    def gan_parts(self) -> GANParts:
        """Copies of the EMA generator and the discriminator, with the shape of their inputs."""
        import copy

        self._check_fitted()
        cfg = self._config()
        return GANParts(generator=copy.deepcopy(self.net_), discriminator=copy.deepcopy(self.discriminator_),
                        config={k: getattr(cfg, k) for k in ("latent_dim", "n_classes", "channels", "size",
                                                             "base_channels")},
                        classes=list(self.classes_))

    def _state(self):
        weights = {f"ema.{k}": v for k, v in self.net_.state_dict().items()}
        weights.update({f"discriminator.{k}": v for k, v in self.discriminator_.state_dict().items()})
        return {"loss_history": self.loss_history_}, weights

    def _restore(self, state: dict, weights: dict) -> None:
        from synthgen.training.gan import build_nets

        self.net_, self.discriminator_ = build_nets(self._config())
        for prefix, net in (("ema.", self.net_), ("discriminator.", self.discriminator_)):
            load_prefixed(net, weights, prefix).eval()
        self.loss_history_ = state.get("loss_history", {})
