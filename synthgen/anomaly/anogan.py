"""AnoGAN (Schlegl et al. 2017): for each sample, search the latent space of the frozen generator
for the closest image, then score the residual left.

loss(z) = (1 - lambda) * sum|x - G(z)| + lambda * sum|f(x) - f(G(z))|, f = discriminator features;
Adam on z only (G and D are frozen copies in eval mode, so scoring changes no weight or statistic).
Every sample starts from the best of the same seeded `candidates` latents and runs `steps` updates;
samples are searched in batches but independently (the loss is a sum of per-sample terms and Adam
is element-wise), so a score does not depend on the batch. Normal classes are searched side by side
and the best is kept. The score is the loss at the end of the search.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from synthgen.anomaly.base import SCORERS, GANScorerParams
from synthgen.anomaly.gan_images import (
    GANImageScorer,
    best_over_classes,
    frozen_weights,
    to_tensor,
)
from synthgen.nn.convert import tensor_to_images
from synthgen.training.seeding import resolve_device


class AnoGANScorerSpec(GANScorerParams):
    """AnoGAN (Schlegl et al. 2017): per-sample latent search with G and D frozen;
    score = (1 - lambda) * residual + lambda * discriminator-feature residual (L1)."""

    name: Literal["anogan"] = "anogan"
    lambda_weight: float = Field(0.1, ge=0, le=1, description="lambda: weight of the feature residual.")
    steps: int = Field(500, ge=1, description="Adam steps of the latent search per sample.")
    lr: float = Field(0.02, gt=0, description="Adam learning rate of the latent search.")
    candidates: int = Field(8, ge=1, description="Shared seeded starting latents; each sample starts from its best.")
    batch_size: int = Field(256, ge=1, description="Samples searched at once.")
    device: Literal["auto", "cpu", "cuda"] = "auto"


@SCORERS.register("anogan")
class AnoGANScorer(GANImageScorer):
    """`components(X)` per sample: `residual` (sum |x - G(z*)|), `feature` (sum |f(x) - f(G(z*))|),
    `score` = (1 - lambda) * residual + lambda * feature, `reconstruction`, `class_position`."""

    params_model = AnoGANScorerSpec

    def _components(self, X, reconstruct: bool = True) -> dict[str, np.ndarray]:
        images = self.input_.check(X)
        device = resolve_device(self.params["device"])
        chunks = []
        try:
            self.g_.to(device), self.d_.to(device)
            with frozen_weights():
                for start in range(0, len(images), self.params["batch_size"]):
                    batch = to_tensor(images[start:start + self.params["batch_size"]]).to(device)
                    chunks.append(self._search(batch))
        finally:                    # saved and shipped to workers from the CPU
            self.g_.cpu(), self.d_.cpu()
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def _losses(self, x, z, y, f_x):
        x_hat = self.g_(z, y)
        residual = (x - x_hat).abs().flatten(1).sum(dim=1)
        feature = (f_x - self.features(x_hat)).abs().sum(dim=1)
        lam = self.params["lambda_weight"]
        return (1 - lam) * residual + lam * feature, residual, feature, x_hat

    def _search(self, x) -> dict[str, np.ndarray]:
        import torch

        p = self.params
        latent = self.gan_config_["latent_dim"]
        n = len(x)
        k = len(self.class_index_)
        xs = x.repeat(k, 1, 1, 1)                                         # (K*N, C, H, W), class-major
        ys = torch.tensor(self.class_index_, dtype=torch.long, device=x.device).repeat_interleave(n)
        seeds = torch.randn(p["candidates"], latent, generator=torch.Generator().manual_seed(p["random_state"]))
        seeds = seeds.to(x.device)                                        # the same seeded starts on every device
        with torch.no_grad():
            f_x = self.features(xs)
            best = None
            for cand in seeds:                                            # the best shared start per sample
                loss, *_ = self._losses(xs, cand.expand(len(xs), -1), ys, f_x)
                best = (loss, cand.expand(len(xs), -1).clone()) if best is None else \
                    (torch.minimum(best[0], loss), torch.where((loss < best[0])[:, None], cand, best[1]))
        z = best[1].clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=p["lr"])
        for _ in range(p["steps"]):
            loss, *_ = self._losses(xs, z, ys, f_x)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        with torch.no_grad():
            loss, residual, feature, x_hat = self._losses(xs, z, ys, f_x)
        split = lambda t: t.reshape(k, n, *t.shape[1:])  # noqa: E731
        recon = split(x_hat)
        per_class = [{"residual": split(residual)[i].double().cpu().numpy(),
                      "feature": split(feature)[i].double().cpu().numpy(),
                      "score": split(loss)[i].double().cpu().numpy(), "reconstruction": tensor_to_images(recon[i].cpu())}
                     for i in range(k)]
        return best_over_classes(per_class)

    def _fit_scorer(self, data) -> None:
        pass

    def _state(self):
        return self._gan_state(), self._gan_tensors()

    def _restore(self, state: dict, tensors: dict) -> None:
        self._restore_gan(state, tensors)
