"""The GAN/VAE models of paper §5 (shapes, the released architectures' parameter
counts, the CoordConv first layer), their losses and training loop, latent
interpolation and sampling, and the figures and slider that show the results."""

import math

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coordlib import AddCoords, CoordConv2d, training
from coordlib.book.plots import scene_grid, to_rgb
from coordlib.book.widgets import interpolation_slider
from coordlib.models import generative as gen

matplotlib.use("Agg")  # no display on CI; switches pyplot even if it was imported first

SIZES = [8, 16, 32, 64]
GENERATOR_CLASSES = {"deconv": gen.DeconvGenerator, "coordconv": gen.CoordConvGenerator}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture
def new_figures():
    """The figures a test opens; closed afterwards whatever happens."""
    before = set(plt.get_fignums())

    def collect():
        return [plt.figure(n) for n in sorted(set(plt.get_fignums()) - before)]

    yield collect
    for n in set(plt.get_fignums()) - before:
        plt.close(n)


def seeded(build, seed: int = 0):
    """``build()`` with the global torch RNG seeded (module initialisation uses it), restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def randn(*shape, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# Parameter counts by hand: weight + bias of a conv (or transposed conv, same count),
# BatchNorm's affine scale and shift (running statistics are buffers), and a dense layer.
def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def bn(c: int) -> int:
    return 2 * c


def dense(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def convs_of(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, CoordConv2d))]


def re_tuple(shape: tuple) -> str:
    """A shape as it appears in an error message, escaped for ``re``."""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


# ----------------------------------------------------------------------------- shapes and ranges


@pytest.mark.parametrize("kind", list(GENERATOR_CLASSES))
@pytest.mark.parametrize("size", SIZES)
def test_generator_output_shape_and_tanh_range(kind, size):
    g = seeded(lambda: GENERATOR_CLASSES[kind](z_dim=6, width=2, size=size))
    z = 10 * randn(3, 6)  # large latents push some pixels into tanh's saturation
    out = g(z)
    assert out.shape == (3, 3, size, size) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    assert torch.isfinite(out).all()
    g.eval()
    with torch.no_grad():
        assert g(z).shape == (3, 3, size, size)


@pytest.mark.parametrize("coordconv", [False, True])
@pytest.mark.parametrize("size", [8, 32, 64])
def test_discriminator_returns_one_logit_per_image(coordconv, size):
    d = seeded(lambda: gen.Discriminator(width=2, size=size, coordconv=coordconv))
    images = randn(5, 3, size, size).clamp(-1, 1)
    out = d(images)
    assert out.shape == (5,) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert len(out.unique()) > 1  # a logit per image, not one broadcast value


@pytest.mark.parametrize("kind", list(GENERATOR_CLASSES))
def test_vae_forward_shapes_and_decoder_kind(kind):
    vae = seeded(lambda: gen.VAE(decoder=kind, z_dim=6, width=2, size=16))
    assert isinstance(vae.decoder, GENERATOR_CLASSES[kind])
    images = randn(4, 3, 16, 16).clamp(-1, 1)
    recon, mu, logvar = vae(images)
    assert recon.shape == (4, 3, 16, 16)
    assert mu.shape == (4, 6) and logvar.shape == (4, 6)
    assert recon.min() >= -1 and recon.max() <= 1


def test_vae_eval_mode_decodes_the_mean_deterministically():
    vae = seeded(lambda: gen.VAE(decoder="coordconv", z_dim=6, width=8, size=8)).eval()
    images = randn(4, 3, 8, 8).clamp(-1, 1)
    with torch.no_grad():
        recon1, mu1, logvar1 = vae(images)
        recon2, mu2, logvar2 = vae(images)
        assert torch.equal(recon1, recon2) and torch.equal(mu1, mu2) and torch.equal(logvar1, logvar2)
        assert torch.equal(recon1, vae.decoder(mu1))
        # The decoder does read z, so a sampled z would have shown.
        assert not torch.equal(vae.decoder(mu1 + randn(4, 6)), recon1)


def test_vae_train_mode_samples_with_the_reparameterisation_trick():
    vae = seeded(lambda: gen.VAE(decoder="deconv", z_dim=6, width=2, size=8)).train()
    images = randn(4, 3, 8, 8).clamp(-1, 1)
    with torch.no_grad():
        recon_a, mu, logvar = seeded(lambda: vae(images), seed=3)
        recon_b, mu_b, _ = seeded(lambda: vae(images), seed=4)
        # The encoder is deterministic; only z is random.
        assert torch.equal(mu, mu_b)
        assert not torch.allclose(recon_a, recon_b)
        # Reference: z = mu + eps * exp(logvar / 2), eps the same draw from the same seed.
        eps = seeded(lambda: torch.randn_like(mu), seed=3)
        expected = vae.decoder(mu + eps * (0.5 * logvar).exp())
    torch.testing.assert_close(recon_a, expected)


# ----------------------------------------------------------------------------- the released architectures


def test_deconv_generator_parameter_count_at_paper_scale():
    expected = (
        dense(256, 4 * 4 * 512) + bn(512)
        + conv(512, 256, 5) + bn(256)
        + conv(256, 128, 5) + bn(128)
        + conv(128, 64, 5) + bn(64)
        + conv(64, 3, 5)
    )
    assert expected == 6_413_315
    assert n_params(gen.DeconvGenerator(z_dim=256, width=64, size=64)) == expected


def test_coordconv_generator_parameter_count_at_paper_scale():
    # model_builders.py CoordConvGAN.coordconv_generator: Conv2D + ReLU only, no BatchNorm.
    expected = (
        conv(256 + 2, 512, 1)
        + conv(512, 256, 1)
        + conv(256, 256, 1)
        + conv(256, 128, 1)
        + conv(128, 64, 1)
        + 2 * conv(64, 64, 3)
        + conv(64, 3, 1)
    )
    assert expected == 444_931
    g = gen.CoordConvGenerator(z_dim=256, width=64, size=64)
    assert n_params(g) == expected
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())


def test_discriminator_parameter_counts_at_paper_scale():
    expected = (
        conv(3, 64, 5)
        + conv(64, 128, 5) + bn(128)
        + conv(128, 256, 5) + bn(256)
        + conv(256, 512, 5) + bn(512)
        + dense(512 * 16, 1)
    )
    assert expected == 4_316_545
    plain = n_params(gen.Discriminator(width=64, size=64, coordconv=False))
    coord = n_params(gen.Discriminator(width=64, size=64, coordconv=True))
    assert plain == expected
    assert coord - plain == 2 * 64 * 25  # x and y input channels of the first 5x5 conv


def test_smaller_canvas_drops_stages_from_the_top():
    # size 32: three stride-2 stages from the same 4x4 start, the top one (512) gone.
    deconv = (
        dense(256, 4 * 4 * 256) + bn(256) + conv(256, 128, 5) + bn(128) + conv(128, 64, 5) + bn(64) + conv(64, 3, 5)
    )
    assert n_params(gen.DeconvGenerator(z_dim=256, width=64, size=32)) == deconv
    disc = conv(3, 64, 5) + conv(64, 128, 5) + bn(128) + conv(128, 256, 5) + bn(256) + dense(256 * 16, 1)
    assert n_params(gen.Discriminator(width=64, size=32)) == disc
    # The CoordConv generator has no stages: its size only sets the canvas.
    assert n_params(gen.CoordConvGenerator(z_dim=256, width=64, size=32)) == 444_931


def test_width_scales_channels_linearly():
    g = gen.CoordConvGenerator(z_dim=10, width=3, size=8)
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in convs_of(g)] == [
        (10, 24, (1, 1)), (24, 12, (1, 1)), (12, 12, (1, 1)), (12, 6, (1, 1)), (6, 3, (1, 1)),
        (3, 3, (3, 3)), (3, 3, (3, 3)), (3, 3, (1, 1)),
    ]
    d = gen.DeconvGenerator(z_dim=10, width=3, size=32)
    assert [(m.in_channels, m.out_channels) for m in convs_of(d)] == [(12, 6), (6, 3), (3, 3)]


def test_coordinate_layers_sit_where_documented():
    g = gen.CoordConvGenerator(z_dim=8, width=2, size=8)
    convs = convs_of(g)
    assert isinstance(convs[0], CoordConv2d) and convs[0].in_channels == 8
    assert convs[0].weight.shape == (16, 8 + 2, 1, 1)
    assert not any(isinstance(m, CoordConv2d) for m in convs[1:])

    assert not any(isinstance(m, CoordConv2d) for m in gen.DeconvGenerator(z_dim=8, width=2, size=8).modules())

    plain = convs_of(gen.Discriminator(width=2, size=32, coordconv=False))
    assert len(plain) == 3 and not any(isinstance(m, CoordConv2d) for m in plain)
    coord = convs_of(gen.Discriminator(width=2, size=32, coordconv=True))
    assert len(coord) == 3
    assert isinstance(coord[0], CoordConv2d) and coord[0].weight.shape == (2, 3 + 2, 5, 5)
    assert coord[0].stride == (2, 2) and coord[0].padding == (2, 2)
    assert not any(isinstance(m, CoordConv2d) for m in coord[1:])


# ----------------------------------------------------------------------------- the CoordConv generator sees positions


def test_coordconv_generator_equals_addcoords_then_convolve_the_tiled_latent():
    # The first layer is computed as a dense layer on z plus the coordinate term;
    # the whole generator must equal the release's tile -> AddCoords -> conv stack.
    g = seeded(lambda: gen.CoordConvGenerator(z_dim=5, width=2, size=8)).double()
    z = randn(3, 5, dtype=torch.float64)
    tiled = z[:, :, None, None].repeat(1, 1, 8, 8)
    first = g.first
    reference = g.body(F.conv2d(AddCoords()(tiled), first.weight, first.bias))
    with torch.no_grad():
        torch.testing.assert_close(g.pre_tanh(z), reference, rtol=0, atol=1e-12)
        torch.testing.assert_close(g(z), torch.tanh(reference), rtol=0, atol=1e-12)


def test_coordconv_generator_pre_tanh_is_unbounded_and_deconv_pre_tanh_is_its_output():
    g = seeded(lambda: gen.CoordConvGenerator(z_dim=5, width=2, size=8))
    with torch.no_grad():
        raw = g.pre_tanh(randn(4, 5) * 50)
    assert raw.abs().max() > 1  # nothing bounds what the release's discriminator sees
    d = seeded(lambda: gen.DeconvGenerator(z_dim=5, width=2, size=8)).eval()
    z = randn(2, 5)
    with torch.no_grad():
        torch.testing.assert_close(d.pre_tanh(z), d(z), rtol=0, atol=0)


def test_release_initialisation():
    # he_normal in the CoordConv generator (fan-in counts the coordinates), glorot_uniform
    # elsewhere, biases zero; the release's BatchNorm (momentum 0.1 in torch's terms, eps 1e-5).
    from coordlib.layers.init import TRUNCATED_STD

    torch.manual_seed(0)
    g = gen.CoordConvGenerator(z_dim=256, width=64, size=8)
    assert g.first.weight.abs().max() <= 2 * math.sqrt(2 / 258) / TRUNCATED_STD + 1e-6
    assert abs(float(g.first.weight.std()) - math.sqrt(2 / 258)) < 0.02 * math.sqrt(2 / 258)
    assert all(float(m.bias.abs().max()) == 0 for m in convs_of(g))
    d = gen.Discriminator(width=64, size=32)
    w = d.body[-1].weight
    assert w.abs().max() <= math.sqrt(6 / (256 * 16 + 1))
    conv2 = convs_of(d)[1]  # (128, 64, 5, 5): fans 64*25 and 128*25
    limit = math.sqrt(6 / (64 * 25 + 128 * 25))
    assert conv2.weight.abs().max() <= limit and conv2.weight.abs().max() > 0.99 * limit
    assert abs(float(conv2.weight.std()) - limit / math.sqrt(3)) < 0.01 * limit
    dec = gen.DeconvGenerator(z_dim=256, width=64, size=64)
    assert float(dec.project[0].bias.abs().max()) == 0
    bns = [m for m in [*dec.modules(), *d.modules()] if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.1 and m.eps == 1e-5 for m in bns)
    assert g.first.weight.abs().max() > 1.9 * math.sqrt(2 / 258) / TRUNCATED_STD


@pytest.mark.parametrize("kind", list(GENERATOR_CLASSES))
def test_one_latent_paints_a_non_constant_image(kind):
    g = seeded(lambda: GENERATOR_CLASSES[kind](z_dim=5, width=2, size=16)).eval()
    with torch.no_grad():
        image = g(randn(1, 5))[0]
    # Every pixel of the CoordConv generator reads the same z: only its position differs.
    assert image.flatten(1).std(dim=1).min() > 1e-4


# ----------------------------------------------------------------------------- argument checks


def test_make_generator_builds_each_kind_and_rejects_others():
    for kind, cls in GENERATOR_CLASSES.items():
        g = gen.make_generator(kind, z_dim=4, width=2, size=8)
        assert type(g) is cls and g.z_dim == 4 and g.size == 8
    assert gen.GENERATORS == GENERATOR_CLASSES
    with pytest.raises(ValueError, match=r"unknown generator 'resnet'; valid kinds are 'deconv', 'coordconv'"):
        gen.make_generator("resnet", z_dim=4, width=2, size=8)


BUILDERS = {
    "DeconvGenerator": lambda **kw: gen.DeconvGenerator(z_dim=4, **kw),
    "CoordConvGenerator": lambda **kw: gen.CoordConvGenerator(z_dim=4, **kw),
    "Discriminator": lambda **kw: gen.Discriminator(**kw),
    "VAE": lambda **kw: gen.VAE(z_dim=4, **kw),
}


@pytest.mark.parametrize("who", list(BUILDERS))
@pytest.mark.parametrize("size", [0, 4, 12, 48, 32.0])
def test_size_must_be_a_power_of_two_at_least_8(who, size):
    with pytest.raises(ValueError, match=rf"{who} expects size a power of two >= 8, got {size!r}"):
        BUILDERS[who](width=2, size=size)


@pytest.mark.parametrize("who", list(BUILDERS))
@pytest.mark.parametrize("width", [0, -1, 2.0])
def test_width_must_be_a_positive_int(who, width):
    # a non-integer is a TypeError, an integer below 1 a ValueError (coordlib._checks.integer)
    error = TypeError if isinstance(width, float) else ValueError
    with pytest.raises(error, match=rf"{who} expected width as an int >= 1, got .*{width!r}"):
        BUILDERS[who](width=width, size=8)


@pytest.mark.parametrize("cls", [gen.DeconvGenerator, gen.CoordConvGenerator, gen.VAE])
def test_z_dim_must_be_a_positive_int(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__} expected z_dim as an int >= 1, got 0"):
        cls(z_dim=0, width=2, size=8)


@pytest.mark.parametrize("kind", list(GENERATOR_CLASSES))
def test_generators_reject_wrong_latent_shapes(kind):
    g = GENERATOR_CLASSES[kind](z_dim=4, width=2, size=8)
    name = type(g).__name__
    with pytest.raises(ValueError, match=rf"{name} expected latents of shape \(N, 4\), got \(2, 5\)"):
        g(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=rf"{name} expected latents of shape \(N, 4\), got \(4,\)"):
        g(torch.zeros(4))
    with pytest.raises(ValueError, match=rf"{name} expected latents of shape \(N, 4\), got \(2, 4, 1, 1\)"):
        g(torch.zeros(2, 4, 1, 1))


def test_discriminator_and_vae_reject_wrong_image_shapes():
    d = gen.Discriminator(width=2, size=8)
    vae = gen.VAE(z_dim=4, width=2, size=8)
    for bad in [(2, 3, 16, 16), (2, 1, 8, 8), (3, 8, 8), (2, 3, 8, 4)]:
        shape = re_tuple(bad)
        with pytest.raises(ValueError, match=rf"Discriminator expected images of shape \(N, 3, 8, 8\), got {shape}"):
            d(torch.zeros(bad))
        with pytest.raises(ValueError, match=rf"VAE expected images of shape \(N, 3, 8, 8\), got {shape}"):
            vae(torch.zeros(bad))


# ----------------------------------------------------------------------------- vae_loss


def test_vae_loss_equals_hand_computation():
    recon, target = randn(2, 3, 2, 2, seed=1), randn(2, 3, 2, 2, seed=2)
    mu, logvar = randn(2, 4, seed=3), 0.5 * randn(2, 4, seed=4)
    r, t, m, lv = (x.double().numpy() for x in (recon, target, mu, logvar))
    rec = np.sum((r - t) ** 2) / 2  # summed over pixels, averaged over the 2 images
    kl = np.sum(0.5 * (m**2 + np.exp(lv) - 1 - lv)) / 2  # KL(N(m, e^lv) || N(0, 1)) per image
    for beta in [0.0, 1.0, 3.5]:
        loss = gen.vae_loss((recon, mu, logvar), target, beta=beta)
        assert loss.shape == ()
        assert loss.item() == pytest.approx(rec + beta * kl, rel=1e-5)
    assert gen.vae_loss((recon, mu, logvar), target).item() == pytest.approx(rec + kl, rel=1e-5)


def test_vae_loss_known_values():
    target = randn(3, 3, 4, 4)
    zeros = torch.zeros(3, 5)
    assert gen.vae_loss((target.clone(), zeros, zeros), target).item() == 0.0
    # Reconstruction off by 0.5 everywhere: 48 pixels * 0.25 per image.
    assert gen.vae_loss((target + 0.5, zeros, zeros), target).item() == pytest.approx(12.0)
    # Variance 2, mean 0: KL = 0.5 * (2 - 1 - ln 2) per latent dimension, 5 dimensions.
    logvar = torch.full((3, 5), math.log(2.0))
    expected = 5 * 0.5 * (1 - math.log(2.0))
    assert gen.vae_loss((target, zeros, logvar), target).item() == pytest.approx(expected, rel=1e-6)
    assert gen.vae_loss((target, zeros, logvar), target, beta=4.0).item() == pytest.approx(4 * expected, rel=1e-6)


def test_vae_loss_backpropagates_through_a_vae():
    vae = seeded(lambda: gen.VAE(decoder="coordconv", z_dim=4, width=2, size=8))
    images = randn(4, 3, 8, 8).clamp(-1, 1)
    loss = seeded(lambda: gen.vae_loss(vae(images), images))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in vae.parameters())


# ----------------------------------------------------------------------------- interpolate


def test_interpolate_shape_and_endpoints():
    z0, z1 = randn(3, 6, seed=1), randn(3, 6, seed=2)
    path = gen.interpolate(z0, z1, 7)
    assert path.shape == (3, 7, 6) and path.dtype == torch.float32
    torch.testing.assert_close(path[:, 0], z0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(path[:, -1], z1, atol=1e-5, rtol=1e-5)
    # Each pair has its own path.
    torch.testing.assert_close(gen.interpolate(z0[1:2], z1[1:2], 7)[0], path[1])


def test_interpolate_keeps_the_norm_of_orthogonal_equal_norm_latents():
    q, _ = torch.linalg.qr(randn(8, 8, dtype=torch.float64))
    z0, z1 = 3 * q[:, :4].T, 3 * q[:, 4:].T  # four pairs of orthogonal vectors of norm 3
    path = gen.interpolate(z0, z1, 9)
    assert path.dtype == torch.float64
    torch.testing.assert_close(path.norm(dim=2), torch.full((4, 9), 3.0, dtype=torch.float64))
    # Halfway between orthogonal vectors of equal norm: their sum scaled back to that norm.
    torch.testing.assert_close(path[:, 4], (z0 + z1) / math.sqrt(2))


def test_interpolate_moves_at_constant_angular_speed():
    z0 = randn(2, 5, seed=1, dtype=torch.float64)
    z1 = randn(2, 5, seed=2, dtype=torch.float64)
    z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)  # equal norms, not orthogonal
    path = gen.interpolate(z0, z1, 6)
    omega = torch.acos(F.cosine_similarity(z0, z1, dim=1))
    step_angles = torch.acos(F.cosine_similarity(path[:, 1:], path[:, :-1], dim=2).clamp(-1, 1))
    torch.testing.assert_close(step_angles, (omega / 5)[:, None].expand(2, 5))
    torch.testing.assert_close(path.norm(dim=2), z0.norm(dim=1, keepdim=True).expand(2, 6))


def test_interpolate_between_identical_latents_stays_put():
    z = randn(3, 16)
    path = gen.interpolate(z, z.clone(), 5)
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path, z[:, None].expand(3, 5, 16), atol=1e-5, rtol=1e-5)


def test_interpolate_rejects_bad_arguments():
    z = torch.zeros(3, 6)
    with pytest.raises(ValueError, match=r"interpolate expected steps >= 2, got 1"):
        gen.interpolate(z, z + 1, 1)
    with pytest.raises(ValueError, match=r"equal shape, got \(3, 6\) and \(3, 5\)"):
        gen.interpolate(z, torch.zeros(3, 5), 4)
    with pytest.raises(ValueError, match=r"equal shape, got \(3, 6\) and \(2, 6\)"):
        gen.interpolate(z, torch.zeros(2, 6), 4)
    with pytest.raises(ValueError, match=r"\(P, z_dim\) tensors of equal shape, got \(6,\) and \(6,\)"):
        gen.interpolate(torch.zeros(6), torch.ones(6), 4)


# ----------------------------------------------------------------------------- sample


@pytest.mark.parametrize("kind", list(GENERATOR_CLASSES))
def test_sample_runs_in_eval_mode_in_batches(kind):
    g = seeded(lambda: GENERATOR_CLASSES[kind](z_dim=4, width=2, size=8)).train()
    z = randn(10, 4)
    images = gen.sample(g, z, batch_size=3)
    assert not g.training
    assert images.shape == (10, 3, 8, 8) and images.device.type == "cpu"
    assert not images.requires_grad
    # Eval mode: BatchNorm uses running statistics, so batching cannot change an image.
    torch.testing.assert_close(images, gen.sample(g, z))
    torch.testing.assert_close(images, gen.sample(g, z, batch_size=1))
    with torch.no_grad():
        torch.testing.assert_close(images, g.eval()(z))
        assert not torch.allclose(images, g.train()(z))  # train mode would have differed


def test_sample_with_batch_statistics_normalises_each_batch_and_keeps_the_running_ones():
    g = seeded(lambda: GENERATOR_CLASSES["deconv"](z_dim=4, width=2, size=8))
    z = randn(10, 4)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    images = gen.sample(g, z, batch_size=5, batchnorm="batch")
    assert not g.training
    with torch.no_grad():
        expected = torch.cat([g.train()(z[:5]), g.train()(z[5:])])
    g.load_state_dict(before)  # the reference pass above moved the running statistics
    torch.testing.assert_close(images, expected)
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k]), k  # sample itself moved nothing
    assert not torch.allclose(images, gen.sample(g, z, batch_size=5))  # running statistics differ
    assert not torch.allclose(images, gen.sample(g, z, batch_size=2, batchnorm="batch"))
    with pytest.raises(ValueError, match=r"batchnorm in \('running', 'batch'\), got 'train'"):
        gen.sample(g, z, batchnorm="train")


def test_sample_with_batch_statistics_changes_nothing_without_batchnorm():
    g = seeded(lambda: GENERATOR_CLASSES["coordconv"](z_dim=4, width=2, size=8))
    z = randn(6, 4)
    torch.testing.assert_close(gen.sample(g, z, batchnorm="batch"), gen.sample(g, z))


# ----------------------------------------------------------------------------- train_gan

N_IMAGES, Z_DIM, SIZE = 24, 4, 8


@pytest.fixture(scope="module")
def images():
    """A tiny image set in [-1, 1]."""
    return torch.tanh(randn(N_IMAGES, 3, SIZE, SIZE, seed=7))


def make_pair(kind: str = "coordconv", init_seed: int = 0):
    return seeded(
        lambda: (gen.make_generator(kind, z_dim=Z_DIM, width=2, size=SIZE), gen.Discriminator(width=2, size=SIZE)),
        init_seed,
    )


def run(images, kind: str = "coordconv", init_seed: int = 0, **kwargs):
    """Train a fresh pair; train_gan seeds the global RNG, so keep the caller's state intact."""
    g, d = make_pair(kind, init_seed)
    options = {"steps": 7, "batch_size": 8, "log_every": 3, "progress": False, "device": "cpu"} | kwargs
    with torch.random.fork_rng(devices=[]):
        records = training.train_gan(g, d, images, **options)
    return records, g, d


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("kind", list(GENERATOR_CLASSES))
def test_train_gan_logs_every_log_every_steps_and_the_last(images, kind):
    records, g, d = run(images, kind)
    assert [r["step"] for r in records] == [3, 6, 7]
    assert all(set(r) == {"step", "loss_d", "loss_g", "seconds"} for r in records)
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in records)
    assert all(r["loss_d"] > 0 and r["loss_g"] > 0 for r in records)  # cross-entropies
    seconds = [r["seconds"] for r in records]
    assert 0 < seconds[0] <= seconds[1] <= seconds[2]
    assert not g.training and not d.training
    assert [r["step"] for r in run(images, kind, steps=6)[0]] == [3, 6]
    assert run(images, kind, steps=0)[0] == []


def test_train_gan_records_the_mean_over_the_logged_steps(images):
    per_step, _, _ = run(images, log_every=1)
    grouped, _, _ = run(images, log_every=3)
    assert [r["step"] for r in per_step] == list(range(1, 8))
    for record, window in zip(grouped, [per_step[0:3], per_step[3:6], per_step[6:7]]):
        for key in ("loss_d", "loss_g"):
            assert record[key] == pytest.approx(np.mean([w[key] for w in window]), rel=1e-5)


def test_train_gan_is_reproducible_per_seed(images):
    _, g1, d1 = run(images, seed=1)
    _, g2, d2 = run(images, seed=1)
    _, g3, _ = run(images, seed=2)
    start, _ = make_pair()
    assert not same_weights(g1, start)  # it trained
    assert same_weights(g1, g2) and same_weights(d1, d2)  # bit-identical on the CPU
    assert not same_weights(g1, g3)


def test_train_gan_instance_noise_changes_the_run(images):
    records0, g0, _ = run(images, instance_noise=0.0)
    records1, g1, _ = run(images, instance_noise=0.5)
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in records1)
    assert not same_weights(g0, g1)
    assert records0[0]["loss_d"] != records1[0]["loss_d"]


def test_train_gan_calls_back_in_eval_mode_and_merges_the_result(images):
    g, d = make_pair()
    probe = randn(2, Z_DIM, seed=5)
    forwards: list[tuple[bool, bool]] = []  # (training, grad enabled) at every generator call
    # g.body runs in every call, pre_tanh (training, as released) or forward (the callback)
    g.body.register_forward_pre_hook(
        lambda module, inputs: forwards.append((module.training, torch.is_grad_enabled())))
    calls = []

    def callback(step, generator):
        calls.append(step)
        assert generator is g
        return {"probe_mean": float(generator(probe).mean()), "probe_step": step}

    with torch.random.fork_rng(devices=[]):
        records = training.train_gan(
            g, d, images, steps=7, batch_size=8, log_every=3, progress=False, device="cpu",
            callback=callback, callback_every=3,
        )
    assert calls == [3, 6, 7]
    assert [r["probe_step"] for r in records] == [3, 6, 7]
    assert all(set(r) == {"step", "loss_d", "loss_g", "seconds", "probe_mean", "probe_step"} for r in records)
    # an iteration: the discriminator's step (no graph through G), then two generator steps
    it, evaluate = [(True, False), (True, True), (True, True)], [(False, False)]
    assert forwards == it * 3 + evaluate + it * 3 + evaluate + it + evaluate


def test_train_gan_callback_every_multiple_of_log_every_and_none_result(images):
    calls = []
    records, _, _ = run(images, callback=lambda step, g: calls.append(step), callback_every=6)
    assert calls == [6, 7]  # and the last step
    assert all(set(r) == {"step", "loss_d", "loss_g", "seconds"} for r in records)  # None adds nothing
    calls.clear()
    run(images, callback=lambda step, g: calls.append(step), callback_every=0)
    assert calls == []


def test_train_gan_callback_every_must_be_a_multiple_of_log_every(images):
    """The callback's results are merged into the log records, so a schedule that
    does not fall on logging steps is refused rather than silently thinned."""
    with pytest.raises(ValueError, match="callback_every a multiple of it .* log_every=3, callback_every=2"):
        run(images, steps=7, log_every=3, callback=lambda step, g: None, callback_every=2)


@pytest.mark.parametrize("log_every", [0, -3])
def test_train_gan_rejects_nonpositive_log_every(images, log_every):
    """Bad input raises a clear ValueError (not a ZeroDivisionError at the first step)."""
    with pytest.raises(ValueError, match="log_every"):
        run(images, steps=3, log_every=log_every)


def test_train_gan_rejects_bad_arguments(images):
    with pytest.raises(ValueError, match=r"1 <= batch_size <= 24, got steps=3, batch_size=25"):
        run(images, steps=3, batch_size=N_IMAGES + 1)
    with pytest.raises(ValueError, match=r"1 <= batch_size <= 24, got steps=3, batch_size=0"):
        run(images, steps=3, batch_size=0)
    with pytest.raises(ValueError, match=r"steps >= 0 .* got steps=-1"):
        run(images, steps=-1)
    with pytest.raises(ValueError, match=r"train_gan expected images of shape \(N, 3, H, W\), got \(24, 1, 8, 8\)"):
        run(images[:, :1])
    with pytest.raises(ValueError, match=r"train_gan expected images of shape \(N, 3, H, W\), got \(24, 3, 64\)"):
        run(images.flatten(2))


def test_train_gan_uses_every_image_before_repeating_one(images):
    """Seeded minibatches without replacement: 3 steps of 8 see all 24 images once."""
    d_inputs = []
    g, d = make_pair()
    first = next(m for m in d.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_pre_hook(lambda module, inputs: d_inputs.append(inputs[0].detach().clone()))
    with torch.random.fork_rng(devices=[]):
        training.train_gan(g, d, images, steps=3, batch_size=8, log_every=3, progress=False, device="cpu")
    # Per iteration the discriminator sees real and fake (its step), then fake twice (the
    # generator's two steps): the reals are calls 0, 4, 8.
    assert len(d_inputs) == 12
    reals = torch.cat([d_inputs[i] for i in (0, 4, 8)])
    matches = (reals[:, None] == images[None]).flatten(2).all(dim=2)  # (24 seen, 24 images)
    assert matches.sum(dim=1).tolist() == [1] * N_IMAGES
    assert sorted(matches.float().argmax(dim=1).tolist()) == list(range(N_IMAGES))


def _d_inputs(images, **kwargs):
    """What the discriminator's first conv sees in a 1-iteration run of a coordconv pair
    whose generator's last conv is scaled up (so its pre-tanh output leaves [-1, 1])."""
    seen = []
    g, d = make_pair()
    with torch.no_grad():
        g.body[-1].weight.mul_(100)
    first = next(m for m in d.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().clone()))
    with torch.random.fork_rng(devices=[]):
        training.train_gan(g, d, images, steps=1, batch_size=8, log_every=1, progress=False, device="cpu", **kwargs)
    return seen


def test_train_gan_feeds_the_discriminator_pre_tanh_as_released_or_images_as_corrected(images):
    released = _d_inputs(images)
    assert len(released) == 4
    assert all(x.abs().max() > 1.5 for x in released[1:])  # fakes before tanh: unbounded
    corrected = _d_inputs(images, d_sees="images")
    assert all(x.abs().max() <= 1 for x in corrected)
    # Same latents, same generator at the discriminator step: the fakes differ by tanh only.
    torch.testing.assert_close(corrected[1], torch.tanh(released[1]))


def test_train_gan_makes_g_steps_generator_steps_per_discriminator_step(images):
    assert len(_d_inputs(images, g_steps=1)) == 3
    assert len(_d_inputs(images, g_steps=3)) == 5
    with pytest.raises(ValueError, match=r"g_steps an int >= 1, got 0"):
        run(images, g_steps=0)
    with pytest.raises(ValueError, match=r"unknown latent prior 'cauchy'"):
        run(images, latent="cauchy")
    with pytest.raises(ValueError, match=r"unknown d_sees 'logits'"):
        run(images, d_sees="logits")


def test_train_gan_generator_steps_leave_the_discriminator_alone(images):
    # Two runs that differ only in g_steps have the same discriminator after iteration 1:
    # the generator steps neither update it nor leave gradients in it.
    _, _, d1 = run(images, steps=1, g_steps=1)
    _, _, d2 = run(images, steps=1, g_steps=2)
    # (BatchNorm's running statistics, buffers, do see the generator steps' fakes.)
    assert all(torch.equal(a, b) for a, b in zip(d1.parameters(), d2.parameters()))
    assert all(p.requires_grad for p in d2.parameters())


def test_latents_uniform_on_minus_one_one_and_seeded():
    z = gen.latents(4000, 8, torch.Generator().manual_seed(0))
    assert z.shape == (4000, 8) and z.min() >= -1 and z.max() < 1
    assert abs(float(z.mean())) < 0.02 and abs(float(z.var()) - 1 / 3) < 0.01
    torch.testing.assert_close(z, gen.latents(4000, 8, torch.Generator().manual_seed(0)), rtol=0, atol=0)
    normal = gen.latents(4000, 8, torch.Generator().manual_seed(0), "normal")
    assert abs(float(normal.var()) - 1) < 0.05
    with pytest.raises(ValueError, match="unknown latent prior"):
        gen.latents(2, 2, prior="laplace")


def test_linear_interpolation_is_the_straight_line():
    z0, z1 = torch.tensor([[-1.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    path = gen.interpolate(z0, z1, 3, "linear")
    torch.testing.assert_close(path[0], torch.tensor([[-1.0, 1.0], [0.0, 0.5], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="mode 'slerp' or 'linear'"):
        gen.interpolate(z0, z1, 3, "cubic")


# ----------------------------------------------------------------------------- plots


def test_to_rgb_maps_minus_one_to_zero_and_one_to_one():
    image = torch.tensor([-1.0, 0.0, 1.0, 0.5, -2.0, 3.0]).reshape(1, 2, 3).expand(3, 2, 3).clone()
    image[1] *= -1  # channels differ, so a wrong permutation shows
    image.requires_grad_(True)
    rgb = to_rgb(image)
    assert isinstance(rgb, np.ndarray) and rgb.shape == (2, 3, 3)
    np.testing.assert_allclose(rgb[..., 0], [[0.0, 0.5, 1.0], [0.75, 0.0, 1.0]])
    np.testing.assert_allclose(rgb[..., 1], [[1.0, 0.5, 0.0], [0.25, 1.0, 0.0]])  # out of range: clipped
    np.testing.assert_allclose(rgb[..., 2], rgb[..., 0])
    tall = randn(3, 5, 4)
    np.testing.assert_allclose(to_rgb(tall), ((tall.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())


@pytest.mark.parametrize("shape", [(4, 8, 8), (8, 8), (1, 3, 8, 8), (8, 8, 3)])
def test_to_rgb_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=rf"to_rgb expected a \(3, H, W\) image, got shape {re_tuple(shape)}"):
        to_rgb(torch.zeros(shape))


def test_scene_grid_draws_each_image_once(new_figures):
    images = torch.tanh(randn(5, 3, 8, 8))
    fig = scene_grid(images, rows=2, title="samples", row_labels=["deconv", "coordconv"])
    assert new_figures() == [fig]
    axes = fig.axes
    assert len(axes) == 6  # 2 rows x ceil(5 / 2) columns
    for i, ax in enumerate(axes[:5]):
        [shown] = ax.get_images()
        np.testing.assert_allclose(np.asarray(shown.get_array()), to_rgb(images[i]))
    assert axes[5].get_images() == []
    assert axes[0].get_ylabel() == "deconv" and axes[3].get_ylabel() == "coordconv"
    assert fig._suptitle is not None and fig._suptitle.get_text() == "samples"


def test_scene_grid_one_row_by_default(new_figures):
    fig = scene_grid(torch.zeros(3, 3, 4, 4))
    assert len(fig.axes) == 3
    assert fig._suptitle is None
    assert new_figures() == [fig]


# ----------------------------------------------------------------------------- widgets


def test_interpolation_slider_walks_every_strip(new_figures):
    strips = {"deconv": torch.tanh(randn(4, 3, 8, 8, seed=1)), "coordconv": torch.tanh(randn(4, 3, 8, 8, seed=2))}
    box = interpolation_slider(strips)
    assert isinstance(box, widgets.VBox)
    slider, output = box.children
    assert isinstance(slider, widgets.IntSlider) and isinstance(output, widgets.Output)
    assert (slider.min, slider.max, slider.value) == (0, 3, 0)

    def shown():
        fig = new_figures()[-1]
        return [(ax.get_title(), np.asarray(ax.get_images()[0].get_array())) for ax in fig.axes]

    for step in (0, 3):
        if step:
            slider.value = step  # redraws
        frames = shown()
        assert [title for title, _ in frames] == ["deconv", "coordconv"]
        for (_, array), strip in zip(frames, strips.values()):
            np.testing.assert_allclose(array, to_rgb(strip[step]))


def test_interpolation_slider_rejects_mismatched_strips(new_figures):
    with pytest.raises(ValueError, match=r"same number of frames, got \{'a': 4, 'b': 5\}"):
        interpolation_slider({"a": torch.zeros(4, 3, 8, 8), "b": torch.zeros(5, 3, 8, 8)})
    with pytest.raises(ValueError, match=r"same number of frames, got \{\}"):
        interpolation_slider({})
    assert new_figures() == []


# ----------------------------------------------------------------------------- the release's settings, as profiles use them


def test_release_gan_settings_and_every_profile_departure_has_a_reason():
    from coordlib.book import profiles, release

    r = release.values("gan", "coordconv")
    assert (r["lr_d"], r["lr_g"], r["betas"], r["batch_size"], r["z_dim"]) == (1e-4, 5e-4, (0.9, 0.99), 16, 256)
    assert r["iterations"] == 50 * (50_000 // 16) == 156_250
    assert release.values("gan", "deconv")["coordinates"] == "none" and r["coordinates"] == "G and D"
    for name in profiles.PROFILES:
        s = profiles.settings("generative", name)
        g = s["gan"]
        assert (g["lr_d"], g["lr_g"], g["betas"], g["g_steps"], g["latent"], g["d_sees"]) == (
            1e-4, 5e-4, (0.9, 0.99), 2, "uniform", "released")
        used = {"seeds": len(s["seeds"]), "size": s["size"], "images": s["images"],
                **{k: g[k] for k in ("iterations", "z_dim", "width", "lr_g", "lr_d", "betas", "batch_size",
                                     "latent", "instance_noise")}}
        for arm in ("deconv", "coordconv"):
            rows = release.departures("gan", arm, used, profiles.why("generative", name))
            assert all(row[3] for row in rows)
    paper = profiles.settings("generative", "paper")
    assert (paper["size"], paper["images"], paper["gan"]["iterations"], paper["gan"]["z_dim"]) == (
        64, 50_000, 156_250, 256)
