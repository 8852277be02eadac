"""coordlib.layers.init: the release's he_normal / glorot_uniform as TF 1.13 Keras defines them."""

import math

import pytest
import torch
from torch import nn

from coordlib import layers
from coordlib.layers import CoordConv2d


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_truncated_std_constant():
    """0.8796... is the standard deviation of a unit normal truncated to [-2, 2]."""
    phi = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert layers.init.TRUNCATED_STD == pytest.approx(math.sqrt(1 - 2 * 2 * phi / mass), abs=1e-12)


@pytest.mark.parametrize(
    "shape, transposed, fan_in, fan_out",
    [
        ((64, 32), False, 32, 64),  # Linear (out, in)
        ((16, 3, 5, 5), False, 75, 400),  # Conv2d (out, in, kh, kw)
        ((128, 64, 3, 3), True, 9 * 64, 9 * 128),  # ConvTranspose2d (in, out, kh, kw): Keras fan_in = k * out
    ],
)
def test_fans_follow_keras(shape, transposed, fan_in, fan_out):
    assert layers.fans(torch.empty(shape), transposed) == (fan_in, fan_out)


def test_transposed_fan_matches_keras_kernel_layout():
    """Keras' Conv2DTranspose kernel is (kh, kw, out, in): its fan_in (shape[-2] * k) counts outputs."""
    layer = nn.ConvTranspose2d(7, 5, 3)  # in 7, out 5
    kh, kw, out, inp = 3, 3, 5, 7
    keras_fan_in = kh * kw * out
    assert layers.fans(layer.weight, transposed=True)[0] == keras_fan_in
    assert layers.fans(layer.weight, transposed=True)[1] == kh * kw * inp


@pytest.mark.parametrize("transposed", [False, True])
def test_he_normal_std_and_truncation(transposed):
    t = torch.empty(256, 128, 3, 3)
    layers.he_normal_(t, transposed, generator=_gen())
    fan_in = layers.fans(t, transposed)[0]
    target = math.sqrt(2 / fan_in)
    assert t.std().item() == pytest.approx(target, rel=0.01)  # truncated samples have std sqrt(2/fan_in)
    assert abs(t.mean().item()) < 0.01 * target
    bound = 2 * target / layers.init.TRUNCATED_STD  # truncated at 2 sd of the untruncated normal
    assert t.abs().max().item() <= bound + 1e-7
    assert t.abs().max().item() > 0.99 * bound  # and not narrower


def test_he_normal_seeded():
    a = layers.he_normal_(torch.empty(64, 64), generator=_gen(3))
    b = layers.he_normal_(torch.empty(64, 64), generator=_gen(3))
    assert torch.equal(a, b)


def test_glorot_uniform_limits():
    t = torch.empty(300, 200)
    layers.glorot_uniform_(t, generator=_gen())
    limit = math.sqrt(6 / 500)
    assert t.abs().max().item() <= limit
    assert t.abs().max().item() > 0.99 * limit
    assert t.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.01)


def test_release_init_every_layer():
    torch.manual_seed(0)
    model = nn.Sequential(
        CoordConv2d(3, 256, 3),
        nn.Conv2d(256, 256, 3),
        nn.ConvTranspose2d(256, 128, 3),
        nn.BatchNorm2d(128),
        nn.Flatten(),
        nn.Linear(512, 256),
    )
    with torch.no_grad():
        model[3].weight.fill_(0.5)
    layers.release_init_(model)
    cc = model[0]
    assert layers.fans(cc.weight)[0] == (3 + 2) * 9  # the coordinate channels count in the fan-in
    assert cc.weight.std().item() == pytest.approx(math.sqrt(2 / 45), rel=0.03)
    assert model[1].weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 9)), rel=0.01)
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.01)
    assert model[5].weight.abs().max().item() <= math.sqrt(6 / (512 + 256))
    for m in (cc, model[1], model[2], model[5]):
        assert torch.count_nonzero(m.bias) == 0
    assert torch.all(model[3].weight == 0.5)  # BatchNorm untouched


def test_apply_init_pytorch_is_a_no_op_and_unknown_raises():
    torch.manual_seed(0)
    m = nn.Conv2d(2, 3, 3)
    before = m.weight.clone()
    layers.init.apply_init(m, "pytorch")
    assert torch.equal(before, m.weight)
    with pytest.raises(ValueError, match="release"):
        layers.init.apply_init(m, "keras")
