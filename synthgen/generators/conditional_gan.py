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
    train_images: int | None = Field(None, ge=1, description="Training budget in images shown to the "
                                     "discriminator; null = max(100,000, 30 x training images), at most "
                                     "1,000,000 (300 images: 333 passes; 4,000: 30; 50,000: 20).")
    epochs: int | None = Field(None, ge=1, description="Passes over the training images; when set it "
                               "replaces the train_images budget.")
    batch_size: int = Field(32, ge=2)
    latent_dim: int = Field(64, ge=1)
    base_channels: int = Field(32, ge=4, description="Width of the first generator/discriminator layers.")
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    diffaugment: str = Field("translation", description="Comma list of translation, cutout, color; '' = off.")
    ada_target: float | None = Field(None, gt=0, lt=1, description="Adaptive discriminator augmentation "
                                     "(Karras et al. 2020): the DiffAugment probability rises while "
                                     "E[sign(D(real))] is above this target (0.6 in the paper); null = always "
                                     "augment. Off by default until ablated: on MNIST-5k it kept p near 0, and the "
                                     "f-AnoGAN built on that un-augmented discriminator ranked the holdout "
                                     "backwards (AUROC 0.198 vs 0.995 with p = 1).")
    ada_images: int = Field(50_000, ge=1, description="Images over which the ADA probability can move "
                            "from 0 to 1.")
    r1_gamma: float = Field(0.0, ge=0, description="Weight of the lazy R1 penalty on D's gradient at real "
                            "images (every 16 steps); 0 = off.")
    select_snapshot: bool = Field(True, description="Judge the EMA generator at 10 points of the budget "
                                  "against a 10% selection split carved from train (own CNN judge; never "
                                  "the gate holdout) and keep the best snapshot.")
    mode_seeking: float = Field(1.0, ge=0, description="Weight of the mode-seeking term (Mao et al. 2019) "
                                "that keeps different latents apart within a class; 0 = off.")
    class_balance: float = Field(1.0, ge=0, le=1, description="How evenly the classes are shown to D and G: "
                                 "each class gets a share of every epoch proportional to n_c ** (1 - class_balance) "
                                 "(1 = equal shares, 0 = as the data has them). Classes of equal size are unaffected.")
    mode_seeking_warmup: int = Field(0, ge=0, description="Images shown over which the mode-seeking weight ramps "
                                     "from 0 to `mode_seeking`; 0 = full weight from the first step. Off by default: "
                                     "20,000 cut the full 1,365-slice mni152's wasted start (D loss 0 in 0.58 of 60 "
                                     "epochs -> 0.11 of 80) but doubled it on the built-in 339 axial slices (0.30 -> "
                                     "0.52, label fidelity 0.976 -> 0.734) and broke a short-run AnoGAN.")
    truncation: float = Field(0.6, gt=0, le=1.0, description="Scale of the latent draws when sampling "
                              "(truncation trick, Brock et al. 2019): below 1 trades variety for class fidelity; "
                              "1 = off. Measured on MNIST-5k: 1.0 -> fidelity 0.88, TSTR/TRTR 0.95; 0.6 -> 0.97, 0.92.")
    max_minutes: float | None = Field(None, gt=0, description="A safety cap: stop training after this long "
                                      "(checkpointed; the card's stop_reason says so). The budget, not the "
                                      "cap, is meant to end training, so every machine trains the same model.")
    random_state: int = 0
    threads: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


def image_budget(n_images: int, train_images: int | None = None) -> int:
    """Images shown to the discriminator: at least 100,000, 30 passes over larger sets, at most 1,000,000.

    Why a floor in images, not passes: a GAN's progress is counted in generator steps (100,000 images are about
    3,100 steps at batch 32), whatever the set's size, so a 300-image set gets 333 passes. Measured over the
    ten snapshots of six image cases (bench/bench_image_judges.py, gates' measures on the holdout): the best
    came at 70-80% of the budget on four (pneumonia_small, mnist38_small, digits179_small, digits), at 30% on
    lfw_faces (160 images) and at the end on the full mni152; snapshot selection keeps the best, so a longer
    budget costs time, not quality, and a shorter one would cut the larger sets short. What wastes it is the start
    (the discriminator winning outright for a third of the budget on the built-in mni152: still open, see
    `mode_seeking_warmup`), and copies are kept out by DiffAugment and the judge's memorisation rank, not by a shorter
    budget. The built-ins' budgets are unchanged (mnist 108,000, mni152 100,000)."""
    if train_images:
        return int(train_images)
    return int(min(max(100_000, 30 * n_images), 1_000_000))


def draw_images(net, classes: np.ndarray, params: dict, gen, device: str = "cpu", chunk: int = 2048) -> np.ndarray:
    """uint8 images from a generator net for the given class indices, latents drawn from `gen` and scaled
    by the truncation of `params`; what sampling and the snapshot judge both draw with."""
    import torch

    from synthgen.nn.convert import tensor_to_images

    out = []
    with torch.inference_mode():
        for start in range(0, len(classes), chunk):
            y = torch.from_numpy(np.asarray(classes[start:start + chunk], dtype=np.int64))
            z = torch.randn(len(y), params["latent_dim"], generator=gen) * params["truncation"]
            out.append(tensor_to_images(net(z.to(device), y.to(device)).cpu()))  # (b, C, H, W) in [-1, 1]
    return np.concatenate(out)


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
    """Parameters are those of spec.ConditionalGANModelSpec (minus `name`); `fit(progress=True)` shows a bar."""

    params_model = ConditionalGANModelSpec

    def _config(self, n_images: int = 0):
        from synthgen.params import config_from
        from synthgen.training.gan import GANConfig

        h, _, c = self.shape_
        return config_from(GANConfig, self.params, n_classes=len(self.classes_), channels=c, size=h,
                           epochs=self._epochs(n_images))

    def _epochs(self, n_images: int) -> int:
        """Explicit epochs, else the images-shown budget in whole passes over the training images."""
        p = self.params
        if p["epochs"] or not n_images:
            return p["epochs"] or 1
        per_epoch = max(n_images // p["batch_size"], 1) * p["batch_size"]
        return max(1, -(-image_budget(n_images, p["train_images"]) // per_epoch))

    def _fit(self, data: LabeledImages, *, checkpoint_dir: Path | None = None, augment=None,
             stop_after_epochs: int | None = None) -> None:
        from synthgen.training.gan import d_loss_low_share, train_gan

        h, w, _ = self.shape_
        if h != w:
            raise ValueError(f"images must be square, got {h}x{w}; set image.size")
        p = self.params
        device = resolve_device(p["device"])
        images, labels = data.images, data.label_index()
        selector = None
        with seeded(p["random_state"], threads=p["threads"]):
            if p["select_snapshot"]:
                selector, fit_idx = self._selection(images, labels, device)
                images, labels = images[fit_idx], labels[fit_idx]
            cfg = self._config(len(images))
            result = train_gan(images, labels, cfg, device=device,
                               checkpoint_dir=checkpoint_dir, augment=augment,
                               progress=getattr(self, "progress_", False),
                               stop_after_epochs=stop_after_epochs, selector=selector)
        self.net_ = result.ema.eval()
        self.discriminator_ = result.discriminator  # kept for the anomaly scorers (train once, use twice)
        self.loss_history_ = result.history
        self.selection_ = result.selection
        self.timings_.update(train_s=result.train_s, images_per_s=result.images_per_s,
                             epochs_done=result.epochs_done, epochs_budget=cfg.epochs,
                             images_shown=result.images_shown, fit_images=len(images),
                             resumed_from_epoch=result.resumed_from, stop_reason=result.stop_reason,
                             selected_epoch=(result.selection or {}).get("best_at"), device=device,
                             d_loss_low_share=d_loss_low_share(result.history))

    def _selection(self, images: np.ndarray, labels: np.ndarray, device: str):
        """(selector, fit positions): the selection split is carved from the training images
        (stratified, seeded); the judge CNN trains on the fit part. None when no class can spare images."""
        import torch

        from synthgen.training.selection import SnapshotSelector, carve_selection, evaluation_points
        from synthgen.validation.judges import ImageSnapshotJudge

        p = self.params
        fit_idx, sel_idx = carve_selection(labels, random_state=p["random_state"])
        if len(sel_idx) == 0:
            return None, np.arange(len(labels))
        judge = ImageSnapshotJudge(images[fit_idx], labels[fit_idx], images[sel_idx], labels[sel_idx],
                                   len(self.classes_), random_state=p["random_state"], threads=p["threads"])
        seed = p["random_state"] + 4242                          # the same latents for every snapshot

        def sampler(ema):
            return judge(lambda wanted: draw_images(ema, wanted, p, torch.Generator().manual_seed(seed), device))

        points = evaluation_points(self._epochs(len(fit_idx)))
        return SnapshotSelector(judge=sampler, points=points, criterion=judge.criterion), fit_idx

    def _sample_class(self, cls: str, k: int, *, random_state: int, min_acceptance: float):
        """Every image is conditioned on its class and kept: acceptance 1, one draw."""
        import torch

        gen = torch.Generator().manual_seed(random_state)
        with seeded(random_state, threads=self.params["threads"]):
            images = draw_images(self.net_, np.full(k, self.classes_.index(cls)), self.params, gen)
        return (images, np.full(k, cls, dtype=object)), {
            "rows": k, "kept": k, "acceptance": 1.0, "candidates": k, "draws": 1, "budget": k,
            "min_acceptance": min_acceptance, "short": False}

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
        return {"loss_history": self.loss_history_, "selection": self.selection_}, weights

    def _restore(self, state: dict, weights: dict) -> None:
        from synthgen.training.gan import build_nets

        self.net_, self.discriminator_ = build_nets(self._config())
        for prefix, net in (("ema.", self.net_), ("discriminator.", self.discriminator_)):
            load_prefixed(net, weights, prefix).eval()
        self.loss_history_ = state.get("loss_history", {})
        self.selection_ = state.get("selection")
