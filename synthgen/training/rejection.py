"""Discriminator rejection sampling (DRS, Azadi et al. 2019) with a discriminator trained after the GAN.

A trained generator's samples still differ from the data in ways a classifier can see (the gates'
detection AUC). If D(x) is the logit of a discriminator trained with the logistic loss on real rows
against generated ones, exp(D(x)) estimates the density ratio p_data(x) / p_g(x), and keeping a candidate
with probability min(1, exp(D(x) - M)) turns p_g into p_data wherever the ratio stays under exp(M)
(rejection sampling; the paper's sections 3.1-3.2). M is a percentile of D over a burn-in sample, as the
paper bounds it empirically; candidates above it are always kept. The paper then shifts the acceptance by
a gamma through F(x) = D - M - log(1 - exp(D - M)) to raise it; that term is not used here: on an
uninformative discriminator (synthetic = real, logit spread 0.02) it turned noise into a 0.23-sd shift of
a column's mean, where the plain ratio keeps 97% of rows and moves the mean by 0.006 sd (tests/unit/test_rejection.py).

The acceptance floor. A discriminator that tells real from synthetic rows at AUC ~0.95 keeps 10-13% of
candidates at the 95th-percentile bound, and on a table where it is sharper, fewer: sampling cost grows as
1 / acceptance. The paper's remedy is its gamma shift; the one used here moves the bound instead: when the
expected acceptance on the burn-in sample, mean(min(1, exp(D - M))), falls below `min_acceptance`, M is
lowered (bisection; acceptance only grows as M falls) until it meets it. A lower M always keeps the rows the
discriminator finds most real and scales the keep probability of all others by the same factor, so the
filter stays a density-ratio correction, only capped where the ratio is largest; at its limit (M at the
lowest logit) it keeps every row, i.e. no filter. The bound that applied and why are in `report`.

CTGAN's own critic is a Wasserstein critic on packs of rows, not a per-row density ratio, so a fresh
discriminator is trained here: a small MLP on the distance encoder's features
(`synthgen.distances.DistanceEncoder`, label included), real rows of the generator's fit part against
rows the generator just sampled. It never sees the gate holdout or the selection split, and it is saved
as a state_dict plus JSON like every other net.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthgen.distances import DistanceEncoder

HIDDEN = 128
MAX_ROWS = 20_000      # real rows (and as many synthetic ones) the discriminator trains on
MAX_EPOCHS = 40
PATIENCE = 4


def _net(width: int):
    from torch import nn

    return nn.Sequential(nn.Linear(width, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN),
                         nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1))


@dataclass
class RejectionFilter:
    """`fit` trains the discriminator and sets the bound M (`max_logit`) on held-out synthetic rows;
    `accept(frame, rng)` is the rejection coin for each candidate row."""

    encoder: DistanceEncoder
    net: object
    max_logit: float = 0.0
    percentile: float = 95.0
    report: dict | None = None
    burn_logits: np.ndarray | None = None     # the burn-in sample's logits (benchmarks re-set M; not saved)

    @classmethod
    def fit(cls, real: pl.DataFrame, synthetic: pl.DataFrame, kinds: dict[str, str], *, percentile: float,
            min_acceptance: float = 0.0, random_state: int = 0) -> "RejectionFilter":
        import torch

        rng = np.random.default_rng([random_state, 3131])
        n = min(len(real), len(synthetic), MAX_ROWS)
        real = real[np.sort(rng.choice(len(real), n, replace=False)).tolist()]
        synthetic = synthetic[np.sort(rng.choice(len(synthetic), n, replace=False)).tolist()]
        encoder = DistanceEncoder.fit(real, kinds)
        x = np.vstack([encoder.transform(real, "real rows"), encoder.transform(synthetic, "synthetic rows")])
        y = np.r_[np.ones(n), np.zeros(n)].astype(np.float32)
        order = rng.permutation(len(x))
        cut = max(1, len(x) // 5)
        val, tr = order[:cut], order[cut:]
        torch.manual_seed(random_state)
        net = _net(x.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
        xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        best, best_state, waited, epochs = float("inf"), None, 0, 0
        gen = torch.Generator().manual_seed(random_state)
        for epochs in range(1, MAX_EPOCHS + 1):
            net.train()
            perm = torch.from_numpy(tr)[torch.randperm(len(tr), generator=gen)]
            for start in range(0, len(perm), 256):
                idx = perm[start:start + 256]
                opt.zero_grad(set_to_none=True)
                loss_fn(net(xt[idx]).squeeze(1), yt[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(xt[val]).squeeze(1), yt[val]))
            if val_loss < best - 1e-4:
                best, waited = val_loss, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= PATIENCE:
                    break
        net.load_state_dict(best_state)
        net.eval()
        # burn-in: the held-out synthetic rows set the bound M
        with torch.no_grad():
            logits = net(xt[val]).squeeze(1).numpy()
            held_out_auc = _auc(y[val], logits)
        burn = logits[y[val] == 0]
        self = cls(encoder, net, burn_logits=burn)
        self.report = {"rows_per_side": int(n), "epochs": epochs, "held_out_auc": round(float(held_out_auc), 4)}
        self.set_bound(percentile, min_acceptance)
        return self

    def set_bound(self, percentile: float, min_acceptance: float = 0.0) -> None:
        """M at `percentile` of the burn-in logits, lowered to keep `min_acceptance` of them where that
        percentile would keep fewer; the report says which bound applied and what each keeps. (Benchmarks
        re-set it on one trained discriminator.)"""
        burn = self.burn_logits
        self.percentile, self.max_logit = percentile, float(np.percentile(burn, percentile))
        at_percentile = float(self._probability(burn).mean())
        bound = "percentile"
        if at_percentile < min_acceptance:
            self.max_logit, bound = acceptance_bound(burn, min_acceptance), "acceptance floor"
        self.report = {**(self.report or {}), "expected_acceptance": round(float(self._probability(burn).mean()), 4),
                       "percentile": percentile, "acceptance_at_percentile": round(at_percentile, 4),
                       "min_acceptance": min_acceptance, "bound": bound}

    def _probability(self, logits: np.ndarray) -> np.ndarray:
        return np.exp(np.minimum(logits - self.max_logit, 0.0))

    def logits(self, frame: pl.DataFrame) -> np.ndarray:
        import torch

        x = torch.from_numpy(self.encoder.transform(frame, "synthetic rows").astype(np.float32))
        with torch.no_grad():
            return self.net(x).squeeze(1).numpy()

    def accept(self, frame: pl.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Boolean mask of the candidate rows kept."""
        if len(frame) == 0:
            return np.zeros(0, dtype=bool)
        return rng.random(len(frame)) < self._probability(self.logits(frame))

    # -- persistence: JSON + the net's state_dict (never a pickle) --------------------------------
    def state(self) -> tuple[dict, dict]:
        return ({"plan": [list(p) for p in self.encoder.plan], "max_logit": self.max_logit,
                 "percentile": self.percentile, "report": self.report}, self.net.state_dict())

    @classmethod
    def from_state(cls, state: dict, weights: dict) -> "RejectionFilter":
        encoder = DistanceEncoder(state["plan"])
        width = weights["0.weight"].shape[1]
        net = _net(width)
        net.load_state_dict(weights)
        net.eval()
        return cls(encoder, net, state["max_logit"], state["percentile"], state.get("report"))


def acceptance_bound(logits: np.ndarray, floor: float) -> float:
    """The largest bound M whose expected acceptance mean(min(1, exp(logits - M))) is at least `floor`
    (bisection: the acceptance falls monotonically as M grows; at M = min(logits) it is 1)."""
    def acceptance(m: float) -> float:
        return float(np.exp(np.minimum(logits - m, 0.0)).mean())

    low, high = float(np.min(logits)), float(np.max(logits))
    if acceptance(high) >= floor:
        return high
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if acceptance(mid) >= floor else (low, mid)
    return low


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(set(y.tolist())) == 2 else float("nan")
