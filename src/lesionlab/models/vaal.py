"""VAAL (Sinha, Ebrahimi & Darrell, ICCV 2019): a VAE and a discriminator trained on labelled vs
unlabelled images; the discriminator's probability that an image is unlabelled is its selection score.

The VAE learns a latent space of both sets (the beta-VAE objective on each), while playing an adversarial
game with the discriminator: the discriminator, reading the latent mean, learns to tell labelled (1) from
unlabelled (0); the VAE is also trained to make it answer "labelled" for both. Hyper-parameters as Sinha
et al. give them: latent dimension 32, beta = 1, adversarial weight 1, Adam at 5e-4 for both networks,
two VAE steps per discriminator step, a discriminator of two hidden layers of 512 units.

On CPU the VAE does not read pixels: it reads the frozen trunk's cached activations of each image (the
plain view), averaged onto a `grid` x `grid` map and flattened (192 x 4 x 4 = 3072 numbers per image for
EfficientNet-Lite0 with `freeze_stages: 6`), standardised per feature over labelled + unlabelled. Those are
ImageNet features of the image, like the images independent of the task model. Without the fast path
(`freeze_stages: 0`) it reads the current model's pooled embeddings instead. Encoder and decoder are
therefore multi-layer perceptrons (two hidden layers of 512 with batch norm) rather than Sinha et al.'s
convolutional networks. The VAE objective per image is the beta-VAE's: squared reconstruction error
summed over the features (a unit-variance Gaussian likelihood) plus beta times the KL divergence summed
over the latent dimensions, averaged over the batch, plus the adversarial term (the reference code adds
a mean squared error to a KL summed over the batch; with a mean squared error, the adversarial term
outweighed reconstruction and the VAE hid the shifted rows of a toy test from the discriminator).
Training length: `epochs` passes over the unlabelled pool, one
iteration per batch of 64 unlabelled and 64 labelled rows drawn with replacement; 3 by default on CPU,
where Sinha et al. train for 100 epochs of the whole data set. Longer training lets the discriminator
memorise the labelled rows, after which it calls every other row unlabelled and its ranking degrades
(toy measurements in `docs/methods.md`). Everything is seeded from the labelled and unlabelled ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from lesionlab.data.records import Record
    from lesionlab.training.trainer import Trainer

LATENT_DIM = 32
BETA = 1.0
ADVERSARY_WEIGHT = 1.0
LR = 5e-4
EPOCHS = 3
BATCH_SIZE = 64
HIDDEN = 512
GRID = 4
VAE_STEPS = 2  # per discriminator step, as in Sinha et al.'s code


class VAE(nn.Module):
    def __init__(self, dim: int, latent_dim: int = LATENT_DIM, hidden: int = HIDDEN) -> None:
        super().__init__()

        def block(n_in: int) -> list[nn.Module]:
            return [nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]

        self.encoder = nn.Sequential(*block(dim), *block(hidden))
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(*block(latent_dim), *block(hidden), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, latent mean and log-variance."""
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10, 10)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decoder(z), mu, logvar


class Discriminator(nn.Module):
    """Latent mean -> logit of "labelled" (Sinha et al.: 512-512 hidden units, ReLU)."""

    def __init__(self, latent_dim: int = LATENT_DIM, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        return self.net(mu).squeeze(1)


def _vae_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float):
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
    return (recon - x).pow(2).sum(1).mean() + beta * kl


def seed_from_ids(labeled: Sequence[str], unlabeled: Sequence[str]) -> int:
    """A seed fixed by the two sets (so by the run's seed and round, and equal on resume)."""
    h = hashlib.sha256()
    for ids in (sorted(labeled), sorted(unlabeled)):
        h.update("\n".join(map(str, ids)).encode())
        h.update(b"\x00")
    return int.from_bytes(h.digest()[:8], "little") % (2**63)


def unlabeled_probability(
    labeled: np.ndarray,
    unlabeled: np.ndarray,
    seed: int,
    latent_dim: int = LATENT_DIM,
    beta: float = BETA,
    adversary_weight: float = ADVERSARY_WEIGHT,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
) -> np.ndarray:
    """Train VAAL on feature rows (L, D) and (U, D); return the discriminator's probability that each
    unlabelled row is unlabelled (U,). Deterministic for a given seed (on CPU)."""
    labeled, unlabeled = np.asarray(labeled, np.float32), np.asarray(unlabeled, np.float32)
    if len(unlabeled) == 0:
        return np.empty(0)
    if len(labeled) == 0:
        return np.full(len(unlabeled), 0.5)
    x_lab, x_unl = _standardised(labeled, unlabeled)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        vae, disc = VAE(x_lab.shape[1], latent_dim), Discriminator(latent_dim)
        opt_vae = torch.optim.Adam(vae.parameters(), lr=lr)
        opt_disc = torch.optim.Adam(disc.parameters(), lr=lr)

        def batches() -> tuple[torch.Tensor, torch.Tensor]:
            i = torch.from_numpy(rng.integers(0, len(x_lab), batch_size))
            j = torch.from_numpy(rng.integers(0, len(x_unl), batch_size))
            return x_lab[i], x_unl[j]

        ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)
        iterations = epochs * -(-len(x_unl) // batch_size)
        vae.train()
        disc.train()
        for _ in range(iterations):
            for _ in range(VAE_STEPS):
                lab, unl = batches()
                _vae_step(vae, disc, opt_vae, lab, unl, ones, beta, adversary_weight)
            _discriminator_step(vae, disc, opt_disc, lab, unl, ones, zeros)
        vae.eval()
        disc.eval()
        with torch.no_grad():
            logits = torch.cat([disc(vae(chunk)[1]) for chunk in x_unl.split(1024)])
    return torch.sigmoid(-logits.double()).numpy()  # P(unlabelled); float64 keeps the ranking at saturation


def _standardised(labeled: np.ndarray, unlabeled: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets standardised per feature over labelled + unlabelled together.

    One shared scaling, so the discriminator cannot tell the sets apart by a scaling of their own; a
    constant feature keeps a scale of 1 instead of dividing by zero.
    """
    both = np.concatenate([labeled, unlabeled])
    mean, std = both.mean(0), both.std(0)
    std[std < 1e-6] = 1.0
    return torch.from_numpy((labeled - mean) / std), torch.from_numpy((unlabeled - mean) / std)


def _vae_step(
    vae: VAE,
    disc: Discriminator,
    opt_vae: torch.optim.Optimizer,
    lab: torch.Tensor,
    unl: torch.Tensor,
    ones: torch.Tensor,
    beta: float,
    adversary_weight: float,
) -> None:
    """One VAE update: reconstruct both batches, and fool the discriminator into calling both labelled."""
    recon_l, mu_l, logvar_l = vae(lab)
    recon_u, mu_u, logvar_u = vae(unl)
    # The VAE wants the discriminator to take every image for a labelled one.
    adversarial = F.binary_cross_entropy_with_logits(disc(mu_l), ones) + F.binary_cross_entropy_with_logits(
        disc(mu_u), ones
    )
    loss = (
        _vae_loss(lab, recon_l, mu_l, logvar_l, beta)
        + _vae_loss(unl, recon_u, mu_u, logvar_u, beta)
        + adversary_weight * adversarial
    )
    opt_vae.zero_grad(set_to_none=True)
    loss.backward()
    opt_vae.step()


def _discriminator_step(
    vae: VAE,
    disc: Discriminator,
    opt_disc: torch.optim.Optimizer,
    lab: torch.Tensor,
    unl: torch.Tensor,
    ones: torch.Tensor,
    zeros: torch.Tensor,
) -> None:
    """One discriminator update on the VAE's latent means (VAE frozen): labelled 1, unlabelled 0."""
    with torch.no_grad():
        mu_l, mu_u = vae(lab)[1], vae(unl)[1]
    loss = F.binary_cross_entropy_with_logits(disc(mu_l), ones) + F.binary_cross_entropy_with_logits(
        disc(mu_u), zeros
    )
    opt_disc.zero_grad(set_to_none=True)
    loss.backward()
    opt_disc.step()


def vaal_features(trainer: Trainer, records: Sequence[Record], grid: int = GRID) -> np.ndarray:
    """(N, D) what the VAE reads: cached frozen-trunk activations averaged onto a `grid` x `grid` map
    (fast path), else the current model's pooled embeddings."""
    if not trainer.fast:
        return trainer.embed(records).astype(np.float32)
    out = []
    for start in range(0, len(records), 512):
        paths = [r.image_path for r in records[start : start + 512]]
        acts = trainer.runtime.activations.get(paths, 1)[0].float()
        size = (min(grid, acts.shape[2]), min(grid, acts.shape[3]))
        out.append(F.adaptive_avg_pool2d(acts, size).flatten(1).numpy())
    return np.concatenate(out) if out else np.empty((0, 0), np.float32)
