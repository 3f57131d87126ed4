"""CTGAN's training loop (Xu et al. 2019), owned here around the ctgan package's public networks.

synthgen used to call `ctgan.CTGAN.fit` and swap the package's DataTransformer for its own
`ModeNormalizer` by patching the module at run time (under a process-wide lock). Owning the ~60 lines
of the loop instead lets the normaliser be passed in, needs no lock, and keeps the algorithm
unchanged: WGAN-GP critic on packs of `pac` rows, a generator with a conditional vector and the
cross-entropy term that makes it honour the condition, gumbel-softmax outputs, Adam(0.5, 0.9) with
weight decay 1e-6 — in the same order of random draws as ctgan 0.12, so a seed trains the same model.

What is used from ctgan (public modules): `Generator` and `Discriminator` nets and `DataSampler`
(training-by-sampling of the conditional vector with log-frequency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHT_DECAY = 1e-6  # ctgan's default generator_decay and discriminator_decay
GUMBEL_TAU = 0.2


@dataclass
class CTGANTraining:
    embedding_dim: int
    generator_dim: tuple[int, ...]
    discriminator_dim: tuple[int, ...]
    generator_lr: float
    discriminator_lr: float
    batch_size: int
    discriminator_steps: int
    log_frequency: bool
    steps: int
    pac: int


def _gumbel_softmax(logits, tau: float):
    """ctgan retries a NaN draw up to ten times; so do we (same draws when none is NaN)."""
    import torch
    from torch.nn import functional

    for _ in range(10):
        out = functional.gumbel_softmax(logits, tau=tau, hard=False, eps=1e-10, dim=-1)
        if not torch.isnan(out).any():
            return out
    raise ValueError("gumbel_softmax returned NaN ten times")


def apply_activate(data, output_info):
    """tanh on each continuous value, gumbel-softmax on each one-hot block (modes and categories)."""
    import torch

    parts, st = [], 0
    for column in output_info:
        for span in column:
            ed = st + span.dim
            if span.activation_fn == "tanh":
                parts.append(torch.tanh(data[:, st:ed]))
            elif span.activation_fn == "softmax":
                parts.append(_gumbel_softmax(data[:, st:ed], GUMBEL_TAU))
            else:
                raise ValueError(f"unexpected activation {span.activation_fn!r}")
            st = ed
    return torch.cat(parts, dim=1)


def cond_loss(data, c, m, output_info):
    """Cross-entropy between the generated discrete columns and the conditional vector, counted only
    for the column the condition names (mask m)."""
    import torch
    from torch.nn import functional

    losses, st, st_c = [], 0, 0
    for column in output_info:
        for span in column:
            if len(column) != 1 or span.activation_fn != "softmax":
                st += span.dim
                continue
            ed, ed_c = st + span.dim, st_c + span.dim
            losses.append(functional.cross_entropy(data[:, st:ed], torch.argmax(c[:, st_c:ed_c], dim=1),
                                                   reduction="none"))
            st, st_c = ed, ed_c
    return (torch.stack(losses, dim=1) * m).sum() / data.size()[0]


def train_ctgan(train_data: np.ndarray, output_info, cfg: CTGANTraining, *, device: str = "cpu",
                progress: bool = False, selector=None):
    """Train on data already encoded by the normaliser (`output_info`: its spans) for `cfg.steps` generator
    steps. Returns (generator net on the CPU, loss history {"Epoch", "Generator Loss", "Discriminator Loss"},
    one entry per pass over the data). The caller seeds the global RNGs (ctgan's DataSampler draws from
    numpy's). `selector` (training.selection.SnapshotSelector) judges the generator after the steps it
    names, and the best snapshot's weights are what is returned."""
    import torch
    from ctgan.data_sampler import DataSampler
    from ctgan.synthesizers.ctgan import Discriminator
    from ctgan.synthesizers.ctgan import Generator as CTGANGeneratorNet

    dev = torch.device(device)
    sampler = DataSampler(train_data, output_info, cfg.log_frequency)
    if sampler.dim_cond_vec() == 0:
        raise ValueError("CTGAN needs at least one discrete column (the label is one)")
    data_dim = train_data.shape[1]
    generator = CTGANGeneratorNet(cfg.embedding_dim + sampler.dim_cond_vec(), cfg.generator_dim, data_dim).to(dev)
    critic = Discriminator(data_dim + sampler.dim_cond_vec(), cfg.discriminator_dim, pac=cfg.pac).to(dev)
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.generator_lr, betas=(0.5, 0.9),
                             weight_decay=WEIGHT_DECAY)
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.discriminator_lr, betas=(0.5, 0.9),
                             weight_decay=WEIGHT_DECAY)
    mean = torch.zeros(cfg.batch_size, cfg.embedding_dim, device=dev)
    std = mean + 1
    history: dict[str, list[float]] = {"Epoch": [], "Generator Loss": [], "Discriminator Loss": []}

    def conditioned_noise():
        c1, m1, col, opt = sampler.sample_condvec(cfg.batch_size)
        c1, m1 = torch.from_numpy(c1).to(dev), torch.from_numpy(m1).to(dev)
        return c1, m1, col, opt

    steps_per_epoch = max(len(train_data) // cfg.batch_size, 1)
    record_every = max(steps_per_epoch, cfg.steps // 200)   # the loss curve keeps at most ~200 points
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, desc="CTGAN", unit="step")
    for step in range(cfg.steps):
        for _ in range(cfg.discriminator_steps):
            fakez = torch.normal(mean=mean, std=std)
            c1, m1, col, opt = conditioned_noise()
            fakez = torch.cat([fakez, c1], dim=1)
            perm = np.arange(cfg.batch_size)
            np.random.shuffle(perm)
            real = sampler.sample_data(train_data, cfg.batch_size, col[perm], opt[perm])
            c2 = c1[perm]
            fakeact = apply_activate(generator(fakez), output_info)
            real = torch.from_numpy(real.astype("float32")).to(dev)
            fake_cat = torch.cat([fakeact, c1], dim=1)
            real_cat = torch.cat([real, c2], dim=1)
            y_fake, y_real = critic(fake_cat), critic(real_cat)
            pen = critic.calc_gradient_penalty(real_cat, fake_cat, dev, cfg.pac)
            loss_d = -(torch.mean(y_real) - torch.mean(y_fake))
            opt_d.zero_grad(set_to_none=False)
            pen.backward(retain_graph=True)
            loss_d.backward()
            opt_d.step()

        fakez = torch.normal(mean=mean, std=std)
        c1, m1, _, _ = conditioned_noise()
        fakez = torch.cat([fakez, c1], dim=1)
        fake = generator(fakez)
        y_fake = critic(torch.cat([apply_activate(fake, output_info), c1], dim=1))
        loss_g = -torch.mean(y_fake) + cond_loss(fake, c1, m1, output_info)
        opt_g.zero_grad(set_to_none=False)
        loss_g.backward()
        opt_g.step()
        if bar is not None:
            bar.update(1)
        if (step + 1) % record_every == 0 or step + 1 == cfg.steps:
            history["Epoch"].append((step + 1) / steps_per_epoch)
            history["Generator Loss"].append(float(loss_g.detach().cpu().item()))
            history["Discriminator Loss"].append(float(loss_d.detach().cpu().item()))
        if selector is not None:
            selector.step(step + 1, generator, lambda: {"generator": generator.state_dict()})
    if bar is not None:
        bar.close()
    if selector is not None and selector.best_state is not None:
        generator.load_state_dict(selector.best_state["generator"])
    return generator.cpu(), history
