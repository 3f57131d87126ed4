"""f-AnoGAN (Schlegl et al. 2019) on synthgen's conditional GAN: one encoder pass and one generator
pass per sample and normal class, so scoring runs at thousands of images per second on CPU."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from synthgen.anomaly.base import SCORERS, GANScorerParams
from synthgen.anomaly.gan_images import (
    GANImageScorer,
    frozen_net,
    best_over_classes,
    frozen_weights,
    to_tensor,
)
from synthgen.nn.convert import tensor_to_images
from synthgen.persist import load_prefixed
from synthgen.training.seeding import resolve_device, seeded


class FAnoGANScorerSpec(GANScorerParams):
    """f-AnoGAN (Schlegl et al. 2019): an izi_f encoder trained with G and D frozen;
    score = MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x)))), f = discriminator features."""

    name: Literal["fanogan"] = "fanogan"
    kappa: float = Field(1.0, ge=0, description="Weight of the discriminator-feature residual.")
    encoder_epochs: int = Field(60, ge=1)
    encoder_lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, ge=2)
    device: Literal["auto", "cpu", "cuda"] = "auto"


@SCORERS.register("fanogan")
class FAnoGANScorer(GANImageScorer):
    """score = MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x)))).

    `components(X)` per sample: `pixel` (MSE), `feature` (MSE of D features), `score` = pixel +
    kappa * feature, `reconstruction` (uint8), `class_position` (index into normal_classes_)."""

    params_model = FAnoGANScorerSpec

    def _fit_scorer(self, data) -> None:
        import torch

        from synthgen.training.encoder import train_encoder

        lookup = dict(zip(self.normal_classes_, self.class_index_))
        classes = torch.tensor([lookup[v] for v in data.labels], dtype=torch.long)
        p = self.params
        device = resolve_device(p["device"])
        self.g_.to(device), self.d_.to(device)
        with seeded(p["random_state"], threads=p["threads"]), frozen_weights():
            self.encoder_, info = train_encoder(
                self.g_, self.features, to_tensor(data.images), classes, latent_dim=self.gan_config_["latent_dim"],
                base_channels=self.gan_config_["base_channels"], kappa=p["kappa"], epochs=p["encoder_epochs"],
                batch_size=p["batch_size"], lr=p["encoder_lr"], random_state=p["random_state"],
                device=device)
        self.g_.cpu(), self.d_.cpu()
        frozen_net(self.encoder_)
        self.encoder_history_ = info["history"]
        self.timings_["encoder_train_s"] = info["train_s"]

    def _components(self, X, reconstruct: bool = False) -> dict[str, np.ndarray]:
        import torch

        from synthgen.training.encoder import izif_residuals

        kappa = self.params["kappa"]
        device = resolve_device(self.params["device"])
        nets = (self.encoder_, self.g_, self.d_)
        chunks = []
        try:
            for net in nets:
                net.to(device)
            with torch.inference_mode(), frozen_weights():
                for x in self._batches(X):
                    x = x.to(device)
                    z = self.encoder_(x)
                    per_class = []
                    for index in self.class_index_:
                        x_hat = self.g_(z, torch.full((len(x),), index, dtype=torch.long, device=device))
                        pixel, feat = izif_residuals(x, x_hat, self.features)
                        parts = {"pixel": pixel.double().cpu().numpy(), "feature": feat.double().cpu().numpy(),
                                 "score": (pixel + kappa * feat).double().cpu().numpy()}
                        if reconstruct:
                            parts["reconstruction"] = tensor_to_images(x_hat.cpu())
                        per_class.append(parts)
                    chunks.append(best_over_classes(per_class))
        finally:
            for net in nets:  # saved and shipped to workers from the CPU
                net.cpu()
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def _state(self):
        tensors = self._gan_tensors()
        tensors.update({f"e.{k}": v for k, v in self.encoder_.state_dict().items()})
        return {**self._gan_state(), "encoder_history": self.encoder_history_}, tensors

    def _restore(self, state: dict, tensors: dict) -> None:
        from synthgen.nn.image_gan import EncoderNet

        self._restore_gan(state, tensors)
        cfg = self.gan_config_
        self.encoder_ = EncoderNet(cfg["latent_dim"], cfg["channels"], cfg["size"], cfg["base_channels"])
        frozen_net(load_prefixed(self.encoder_, tensors, "e."))
        self.encoder_history_ = state.get("encoder_history", {})
