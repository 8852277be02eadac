"""Generative models of the paper's Sort-of-CLEVR experiment (paper §5), scaled by width.

The paper trained GANs and VAEs whose generator (or decoder) is either a
deconvolutional stack or a CoordConv stack, and judged them by eye: with
CoordConv, objects in latent interpolations move instead of teleporting or
fading. The release defines its GANs in ``model_builders.py`` (``CoordConvGAN``) and
``train_gan.py`` (uber-research/CoordConv at commit 27fab8b); at ``width=64``,
``z_dim=256`` and ``size=64`` the classes below are those architectures, with
the release's initialisation:

* :class:`DeconvGenerator`: dense ``4x4x512`` -> BatchNorm, ReLU -> 5x5
  stride-2 transposed convs ``256, 128, 64, 3`` (BatchNorm + ReLU between) ->
  tanh; every kernel ``glorot_uniform`` (TF's default: the release sets none);
* :class:`CoordConvGenerator`: ``z`` tiled over the canvas + coordinates -> 1x1
  convs ``512, 256, 256, 128, 64`` -> two 3x3 convs ``64`` -> 1x1 conv ``3``,
  ReLU between and **no BatchNorm**, every kernel ``he_normal``; tanh on the
  output (:meth:`CoordConvGenerator.pre_tanh` is the output before it, which is
  what the release feeds its discriminator);
* :class:`Discriminator`: 5x5 stride-2 convs ``64, 128, 256, 512`` with
  BatchNorm (not on the first) and leaky ReLU 0.2 -> dense 1, kernels
  ``glorot_uniform``, optionally with coordinates at the input (the release's
  ``clevr_coordconv_in_gd``).

BatchNorm is the release's: momentum 0.9 in TF's convention, which is 0.1 in
PyTorch's, and eps 1e-5. Biases start at zero (TF's default).
A smaller canvas drops stride-2 stages from the top (``size=32``: three of them,
from the same 4x4 start), and ``width`` scales every channel count linearly.
The VAE code was never released; :class:`VAE` pairs a small conv encoder with
either generator as its decoder, so the two arms differ only in the decoder.

Images are ``(N, 3, size, size)`` in [-1, 1]; latents are ``(N, z_dim)``.
Every coordinate layer is :class:`coordlib.CoordConv2d`.
"""


from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from coordlib import _checks
from coordlib.layers.coordconv import CoordConv2d
from coordlib.layers.init import glorot_uniform_, he_normal_

__all__ = [
    "DeconvGenerator", "CoordConvGenerator", "Discriminator", "VAE", "GENERATORS", "LATENTS", "D_SEES",
    "make_generator", "latents", "vae_loss", "interpolate", "sample", "BATCHNORM",
]

#: The release's BatchNorm: ``BatchNormalization(momentum=0.9, epsilon=1e-5)`` in
#: TF's convention (the running mean keeps 0.9 of itself), 0.1 in PyTorch's.
BN_MOMENTUM, BN_EPS = 0.1, 1e-5
LATENTS = ("uniform", "normal")  # the release's z ~ U(-1, 1); N(0, 1) as an option
D_SEES = ("released", "images")  # see train_gan


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


@torch.no_grad()
def _init_(module: nn.Module, kernel: str) -> nn.Module:
    """Every conv, transposed conv and dense kernel of ``module`` by ``kernel``
    (``"he_normal"`` or ``"glorot_uniform"``, Keras' definitions, :mod:`coordlib.layers.init`),
    biases zero; BatchNorm keeps weight 1 and bias 0."""
    from coordlib.layers.init import _is_conv, _is_transposed

    fill = he_normal_ if kernel == "he_normal" else glorot_uniform_
    seen: set[int] = set()
    for m in module.modules():
        if id(m) in seen or not (_is_conv(m) or isinstance(m, nn.Linear)):
            continue
        fill(m.weight, _is_transposed(m))
        if m.bias is not None:
            m.bias.zero_()
        seen.update(id(sub) for sub in m.modules())
    return module


def _stages(size: int, who: str) -> int:
    """Number of stride-2 stages between a 4x4 map and a ``size`` x ``size`` image."""
    if not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"{who} expects size a power of two >= 8, got {size!r}")
    return int(math.log2(size)) - 2


def _check_latent(z: torch.Tensor, z_dim: int, who: str) -> None:
    if z.dim() != 2 or z.shape[1] != z_dim:
        raise ValueError(f"{who} expected latents of shape (N, {z_dim}), got {tuple(z.shape)}")


def latents(n: int, z_dim: int, generator: torch.Generator | None = None, prior: str = "uniform") -> torch.Tensor:
    """``(n, z_dim)`` latents from the prior: ``"uniform"`` on [-1, 1] (the release's
    ``np.random.uniform(-1, 1)``) or ``"normal"`` (standard normal)."""
    if prior not in LATENTS:
        raise ValueError(f"unknown latent prior {prior!r}; valid priors are {', '.join(map(repr, LATENTS))}")
    if prior == "uniform":
        return torch.rand(n, z_dim, generator=generator) * 2 - 1
    return torch.randn(n, z_dim, generator=generator)


class DeconvGenerator(nn.Module):
    """The baseline (DCGAN) generator: ``(N, z_dim)`` -> ``(N, 3, size, size)`` in [-1, 1].

    A dense layer makes a ``4x4`` map with ``width * 2**(stages-1)`` channels
    (512 at the paper's scale), then ``stages`` 5x5 stride-2 transposed
    convolutions halve the channels each time and end at 3 (BatchNorm + ReLU
    between, tanh at the end). Padding 2 with output padding 1 doubles the size
    exactly, like TensorFlow's "SAME". Kernels ``glorot_uniform``, biases zero.
    """

    def __init__(self, z_dim: int = 256, width: int = 64, size: int = 64):
        super().__init__()
        _checks.integer("DeconvGenerator", "z_dim", z_dim)
        _checks.integer("DeconvGenerator", "width", width)
        stages = _stages(size, "DeconvGenerator")
        self.z_dim, self.size = z_dim, size
        top = width * 2 ** (stages - 1)
        self.project = nn.Sequential(nn.Linear(z_dim, top * 16), nn.Unflatten(1, (top, 4, 4)), _bn(top), nn.ReLU())
        layers: list[nn.Module] = []
        channels = top
        for i in range(stages):
            last = i == stages - 1
            out = 3 if last else channels // 2
            layers.append(nn.ConvTranspose2d(channels, out, 5, stride=2, padding=2, output_padding=1))
            layers += [nn.Tanh()] if last else [_bn(out), nn.ReLU()]
            channels = out
        self.body = nn.Sequential(*layers)
        _init_(self, "glorot_uniform")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_latent(z, self.z_dim, "DeconvGenerator")
        return self.body(self.project(z))

    def pre_tanh(self, z: torch.Tensor) -> torch.Tensor:
        """What the release feeds its discriminator: for this generator, the output itself."""
        return self(z)


class CoordConvGenerator(nn.Module):
    """The CoordConv generator: ``(N, z_dim)`` -> ``(N, 3, size, size)`` in [-1, 1].

    ``z`` is tiled over the canvas; the first 1x1 :class:`~coordlib.CoordConv2d`
    adds the x and y channels, so every pixel sees its own position and the
    latent. Then 1x1 convs (channels ``8w, 4w, 4w, 2w, w`` in all, with
    ``w = width``; 512 ... 64 at the paper's scale), two 3x3 convs ``w`` that
    let neighbouring pixels agree, and a 1x1 conv to RGB. ReLU between, no
    BatchNorm, kernels ``he_normal`` (fan-in of the first counts the coordinate
    channels), biases zero: ``model_builders.py`` ``CoordConvGAN``.

    :meth:`pre_tanh` returns the last conv's output; ``forward`` its tanh.
    Because the tiled latent is the same at every pixel, the first 1x1 conv is
    computed as a dense layer on ``z`` broadcast over the canvas plus the
    layer's coordinate term: the same sums as convolving the tiled map, without
    building it.
    """

    def __init__(self, z_dim: int = 256, width: int = 64, size: int = 64):
        super().__init__()
        _checks.integer("CoordConvGenerator", "z_dim", z_dim)
        _checks.integer("CoordConvGenerator", "width", width)
        _stages(size, "CoordConvGenerator")
        self.z_dim, self.size = z_dim, size
        w = width
        self.first = CoordConv2d(z_dim, 8 * w, 1)
        layers: list[nn.Module] = [nn.ReLU()]
        for cin, cout in [(8 * w, 4 * w), (4 * w, 4 * w), (4 * w, 2 * w), (2 * w, w)]:
            layers += [nn.Conv2d(cin, cout, 1), nn.ReLU()]
        layers += [nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(w, 3, 1)]
        self.body = nn.Sequential(*layers)
        _init_(self, "he_normal")

    def pre_tanh(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, z_dim)`` -> ``(N, 3, size, size)``, the output before tanh (unbounded)."""
        _check_latent(z, self.z_dim, "CoordConvGenerator")
        weight_z, _ = self.first._split_weight()  # (8w, z_dim, 1, 1)
        dense = F.linear(z, weight_z[:, :, 0, 0], self.first.bias)  # (N, 8w)
        coords = self.first.coordinate_term(self.size, self.size, z.dtype, z.device)  # (1, 8w, S, S)
        return self.body(dense[:, :, None, None] + coords)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.pre_tanh(z))


GENERATORS = {"deconv": DeconvGenerator, "coordconv": CoordConvGenerator}


def make_generator(kind: str, z_dim: int, width: int, size: int) -> nn.Module:
    """``"deconv"`` or ``"coordconv"`` generator (see :data:`GENERATORS`)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; valid kinds are {', '.join(map(repr, GENERATORS))}")
    return GENERATORS[kind](z_dim=z_dim, width=width, size=size)


class Discriminator(nn.Module):
    """``(N, 3, size, size)`` images -> ``(N,)`` logits of "real".

    ``stages`` 5x5 stride-2 convs with channels ``w, 2w, 4w, ...`` (64 ... 512 at
    the paper's scale) down to a 4x4 map, BatchNorm (not on the first layer, as
    in DCGAN) and leaky ReLU 0.2, then a dense layer; kernels ``glorot_uniform``,
    biases zero. With ``coordconv=True`` the first conv is a
    :class:`~coordlib.CoordConv2d` (coordinates at the input only, as in the
    release's ``clevr_coordconv_in_gd``).
    """

    def __init__(self, width: int = 64, size: int = 64, coordconv: bool = False):
        super().__init__()
        _checks.integer("Discriminator", "width", width)
        stages = _stages(size, "Discriminator")
        self.size = size
        layers: list[nn.Module] = []
        channels = 3
        for i in range(stages):
            out = width * 2**i
            conv_cls = CoordConv2d if (coordconv and i == 0) else nn.Conv2d
            layers.append(conv_cls(channels, out, 5, stride=2, padding=2))
            if i > 0:
                layers.append(_bn(out))
            layers.append(nn.LeakyReLU(0.2))
            channels = out
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 16, 1))
        _init_(self, "glorot_uniform")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"Discriminator expected images of shape (N, 3, {self.size}, {self.size}), got {tuple(images.shape)}")
        return self.body(images)[:, 0]


class VAE(nn.Module):
    """A variational autoencoder whose decoder is one of the two generators.

    Encoder: 4x4 stride-2 convs ``w, 2w, 4w, ...`` with ReLU down to 4x4, then
    dense layers to the mean and log-variance of ``q(z | image)``. ``forward``
    returns ``(reconstruction (N, 3, size, size), mu (N, z_dim), logvar (N, z_dim))``,
    sampling ``z`` with the reparameterisation trick in training mode and using
    ``mu`` in eval mode.
    """

    def __init__(self, decoder: str = "coordconv", z_dim: int = 32, width: int = 16, size: int = 32):
        super().__init__()
        _checks.integer("VAE", "z_dim", z_dim)
        _checks.integer("VAE", "width", width)
        stages = _stages(size, "VAE")
        layers: list[nn.Module] = []
        channels = 3
        for i in range(stages):
            out = width * 2**i
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.ReLU()]
            channels = out
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.mu = nn.Linear(channels * 16, z_dim)
        self.logvar = nn.Linear(channels * 16, z_dim)
        self.decoder = make_generator(decoder, z_dim, width, size)
        self.z_dim, self.size = z_dim, size

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, 3, size, size)`` -> ``(mu, logvar)``, each ``(N, z_dim)``."""
        if images.dim() != 4 or images.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"VAE expected images of shape (N, 3, {self.size}, {self.size}), got {tuple(images.shape)}")
        h = self.encoder(images)
        return self.mu(h), self.logvar(h)

    def forward(self, images: torch.Tensor):
        mu, logvar = self.encode(images)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decoder(z), mu, logvar


def vae_loss(output, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Negative ELBO per image: squared error summed over pixels + ``beta`` * KL(q || N(0, I)).

    ``output`` is what :class:`VAE` returns; ``target`` the ``(N, 3, H, W)`` images.
    """
    recon, mu, logvar = output
    rec = F.mse_loss(recon, target, reduction="sum") / len(target)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(target)
    return rec + beta * kl


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """Interpolation between latents: ``(P, z_dim)`` pairs -> ``(P, steps, z_dim)``.

    ``mode="slerp"`` (spherical): Gaussian latents concentrate on a sphere, so
    the straight line between two of them passes through improbable short
    vectors; slerp stays on the shell. ``mode="linear"``: the straight line, which
    stays inside the cube of the release's uniform latents (slerp can leave it).
    """
    if z0.shape != z1.shape or z0.dim() != 2:
        raise ValueError(f"interpolate expected two (P, z_dim) tensors of equal shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if steps < 2:
        raise ValueError(f"interpolate expected steps >= 2, got {steps}")
    if mode not in ("slerp", "linear"):
        raise ValueError(f"interpolate expected mode 'slerp' or 'linear', got {mode!r}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[None, :, None]
    a, b = z0[:, None, :], z1[:, None, :]
    if mode == "linear":
        return (1 - t) * a + t * b
    cos = F.cosine_similarity(z0, z1, dim=1).clamp(-1 + 1e-7, 1 - 1e-7)[:, None, None]
    omega = torch.acos(cos)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


#: How :func:`sample` normalises: BatchNorm's running statistics (eval mode, the release's ``bn0``
#: images) or each batch's own (training mode, its ``bn1`` images); ``train_gan.py`` saves both.
BATCHNORM = ("running", "batch")


@torch.no_grad()
def sample(generator: nn.Module, z: torch.Tensor, batch_size: int = 256, batchnorm: str = "running") -> torch.Tensor:
    """Images ``(N, 3, size, size)`` on the CPU for latents ``(N, z_dim)``.

    ``batchnorm="running"`` (default) samples in eval mode, so BatchNorm uses its running statistics
    and batching cannot change an image. ``batchnorm="batch"`` normalises each batch of
    ``batch_size`` latents by its own statistics, as the generator trains (the release saves such
    samples beside the others, from batches of 100); the running statistics are left as they were.
    The generator is left in eval mode either way.
    """
    if batchnorm not in BATCHNORM:
        raise ValueError(f"sample expected batchnorm in {BATCHNORM}, got {batchnorm!r}")
    _checks.integer("sample", "batch_size", batch_size)
    device = next(generator.parameters()).device
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.named_buffers()} for m in norms]
    generator.eval()
    for m in norms if batchnorm == "batch" else ():
        m.train()
    try:
        return torch.cat([generator(z[i : i + batch_size].to(device)).cpu() for i in range(0, len(z), batch_size)])
    finally:
        for m, buffers in zip(norms, saved):
            for k, v in buffers.items():
                getattr(m, k).copy_(v)  # training mode updated them; sampling must not
        generator.eval()
