"""Training a generator against a discriminator as the release does (``train_gan``).
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from coordlib.models.generative import D_SEES, LATENTS, latents
from coordlib.training.devices import pick_device

__all__ = ["train_gan"]


class _Switch:
    """Turn ``requires_grad`` of a fixed list of parameters off and on again."""

    def __init__(self, params: list[torch.Tensor]):
        self.params = params

    def requires_grad_(self, flag: bool) -> None:
        for p in self.params:
            p.requires_grad_(flag)


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 16,
    lr_g: float = 5e-4,
    lr_d: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.99),
    g_steps: int = 2,
    latent: str = "uniform",
    d_sees: str = "released",
    seed: int = 0,
    device=None,
    progress: bool = True,
    desc: str = "GAN",
    log_every: int = 50,
    instance_noise: float = 0.0,
    callback: Callable[[int, nn.Module], dict | None] | None = None,
    callback_every: int = 0,
) -> list[dict]:
    """Train a GAN as ``train_gan.py`` of the release does; ``steps`` iterations.

    Each iteration draws one minibatch of real images and one of latents, then
    makes one discriminator step and ``g_steps`` generator steps (the release:
    two) on the same latents, each generator step recomputing the fakes with
    the updated generator. Losses are the release's: sigmoid cross-entropy,
    real -> 1 and fake -> 0 for the discriminator, fake -> 1 for the generator
    (the non-saturating loss). Adam with ``lr_d`` for the discriminator (the
    release's ``-L 0.0001``) and ``lr_g`` for the generator (``--lr2 .0005``),
    ``betas`` (0.9, 0.99) as util.py's parser defaults.

    ``latent`` is the prior (:func:`~coordlib.models.generative.latents`; the release's ``"uniform"`` on
    [-1, 1]). ``d_sees="released"`` feeds the discriminator what the release
    feeds it, ``generator.pre_tanh(z)``: for the CoordConv generator that is the
    output *before* tanh (``CoordConvGAN.call`` passes ``g_out`` to the
    discriminator and applies tanh only to the images it shows), for the
    deconv generator its tanh output. ``d_sees="images"`` always feeds the
    tanh output (the corrected variant).

    ``images`` ``(N, 3, size, size)`` in [-1, 1] are drawn in seeded random
    minibatches (reshuffled each pass); latents come from the same seeded
    generator, so a run is reproducible on a given device. ``instance_noise``
    (default 0, not in the release) adds Gaussian noise of that standard
    deviation to every image the discriminator sees, annealed linearly to 0.

    Returns a list of records ``{"step", "loss_d", "loss_g", "seconds"}`` every
    ``log_every`` iterations (the mean over them; ``loss_g`` is that of the
    last generator step of each iteration; ``seconds`` is cumulative training
    time), plus whatever ``callback(step, generator)`` returns every
    ``callback_every`` iterations, a multiple of ``log_every`` (called in eval
    mode under ``no_grad``).
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"train_gan expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
    if log_every < 1 or callback_every < 0 or (callback_every and callback_every % log_every):
        raise ValueError(f"train_gan expected log_every >= 1 and callback_every a multiple of it (or 0), "
                         f"got log_every={log_every}, callback_every={callback_every}")
    if steps < 0 or batch_size < 1 or batch_size > len(images):
        raise ValueError(f"train_gan expected steps >= 0 and 1 <= batch_size <= {len(images)}, got steps={steps}, batch_size={batch_size}")
    if not isinstance(g_steps, int) or g_steps < 1:
        raise ValueError(f"train_gan expected g_steps an int >= 1, got {g_steps!r}")
    if latent not in LATENTS:
        raise ValueError(f"unknown latent prior {latent!r}; valid priors are {', '.join(map(repr, LATENTS))}")
    if d_sees not in D_SEES:
        raise ValueError(f"unknown d_sees {d_sees!r}; valid values are {', '.join(map(repr, D_SEES))}")
    device = pick_device(device)
    generator.to(device)
    discriminator.to(device)
    images = images.to(device)
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    ones = torch.ones(batch_size, device=device)
    zeros = torch.zeros(batch_size, device=device)
    z_dim = generator.z_dim
    draw = generator.pre_tanh if d_sees == "released" and hasattr(generator, "pre_tanh") else generator
    bce = F.binary_cross_entropy_with_logits
    d_params = _Switch([p for p in discriminator.parameters() if p.requires_grad])

    records: list[dict] = []
    sums = torch.zeros(2)
    elapsed, order, cursor = 0.0, torch.randperm(len(images), generator=rng), 0
    generator.train()
    discriminator.train()
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress, leave=False)
    for step in bar:
        tic = time.perf_counter()
        if cursor + batch_size > len(images):
            order, cursor = torch.randperm(len(images), generator=rng), 0
        real = images[order[cursor : cursor + batch_size].to(device)]
        cursor += batch_size
        z = latents(batch_size, z_dim, rng, latent).to(device)
        sigma = instance_noise * (1 - (step - 1) / steps)

        def noisy(x: torch.Tensor) -> torch.Tensor:
            return x + sigma * torch.randn(x.shape, generator=rng).to(device) if sigma > 0 else x

        # Discriminator: real -> 1, fake -> 0 (no graph through the generator needed).
        with torch.no_grad():
            fake = draw(z)
        loss_d = bce(discriminator(noisy(real)), ones) + bce(discriminator(noisy(fake)), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        # Generator, g_steps times on the same latents: make the discriminator call fakes real.
        # The discriminator's own weight gradients are not needed here, so they are not
        # computed (same generator gradients, less work).
        d_params.requires_grad_(False)
        for _ in range(g_steps):
            loss_g = bce(discriminator(noisy(draw(z))), ones)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        d_params.requires_grad_(True)

        elapsed += time.perf_counter() - tic
        sums += torch.stack([loss_d.detach(), loss_g.detach()]).cpu()
        if step % log_every == 0 or step == steps:
            n = (step - 1) % log_every + 1
            record = {"step": step, "loss_d": float(sums[0]) / n, "loss_g": float(sums[1]) / n, "seconds": elapsed}
            sums.zero_()
            if callback is not None and callback_every and (step % callback_every == 0 or step == steps):
                generator.eval()
                with torch.no_grad():
                    record.update(callback(step, generator) or {})
                generator.train()
            records.append(record)
            bar.set_postfix(d=f"{record['loss_d']:.3f}", g=f"{record['loss_g']:.3f}")
    bar.close()
    generator.eval()
    discriminator.eval()
    return records
