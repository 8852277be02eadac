"""Tests for coordlib.layers.convert.add_coords: convolutions of any model become CoordConv layers
that keep the old weights, start with zero coordinate weights and so compute the same function.

Every torchvision model is built with weights=None: nothing is downloaded.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from coordlib.layers import (
    CoordConv1d,
    CoordConv2d,
    CoordConv3d,
    CoordConvTranspose2d,
    add_coords,
    convertible,
    coordconv_like,
)

torchvision = pytest.importorskip("torchvision")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small tensors: one torch thread is faster on a busy machine (see conftest)."""


def _resnet18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


def _check_same_function(model, x, which, with_r=False):
    with torch.no_grad():
        before = model(x)
    rng = torch.random.get_rng_state()
    model2, names = add_coords(model, which, with_r=with_r)
    assert torch.equal(torch.random.get_rng_state(), rng), "converting must not draw random numbers"
    assert model2 is model
    with torch.no_grad():
        after = model(x)
    return before, after, names


# --------------------------------------------------------------------------- #
# Whole networks
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("which", ["first", "all"])
def test_resnet18_same_output_after_conversion(which):
    model = _resnet18()
    old = {n: m for n, m in model.named_modules() if type(m) is nn.Conv2d}
    x = torch.randn(2, 3, 64, 64)
    before, after, names = _check_same_function(model, x, which)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    assert names == (["conv1"] if which == "first" else list(old))
    assert len(names) == (1 if which == "first" else 20)
    for name in names:
        layer, conv = model.get_submodule(name), old[name]
        assert type(layer) is CoordConv2d and not layer.with_r
        assert (layer.stride, layer.padding, layer.dilation) == (conv.stride, conv.padding, conv.dilation)
        assert torch.equal(layer.weight[:, : conv.in_channels], conv.weight)
        assert torch.equal(layer.weight[:, conv.in_channels :], torch.zeros_like(layer.weight[:, conv.in_channels :]))
        assert layer.bias is None and conv.bias is None
    if which == "first":
        assert type(model.layer1[0].conv1) is nn.Conv2d


def test_resnet18_coordinate_weights_are_trainable():
    """Zero at the start, but not dead: the coordinate weights get gradients and the output moves."""
    model = _resnet18().train()
    add_coords(model, "first", with_r=True)
    stem = model.conv1
    assert stem.weight.shape[1] == 3 + 3
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert stem.weight.grad[:, 3:].abs().sum() > 0


def test_detection_backbone_same_output_after_conversion():
    """torchvision's Faster R-CNN MobileNetV3-FPN backbone: depthwise (grouped) convs, a frozen
    stem and an FPN; every conv converted, with r."""
    detection = pytest.importorskip("torchvision.models.detection")
    torch.manual_seed(0)
    backbone = detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None).backbone.eval()
    for p in backbone.body["0"].parameters():  # freeze the stem, as fine-tuning does
        p.requires_grad_(False)
    frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    assert frozen
    x = torch.randn(1, 3, 64, 64)
    before, after, names = _check_same_function(backbone, x, "all", with_r=True)
    assert list(after) == list(before)
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=1e-5, atol=1e-6)
    layers = [backbone.get_submodule(n) for n in names]
    assert len(names) > 50 and all(isinstance(m, CoordConv2d) and m.with_r for m in layers)
    assert any(m.groups > 1 for m in layers), "depthwise convolutions are converted too"
    assert not any(type(m) is nn.Conv2d for m in backbone.modules())
    # frozen layers stay frozen (weights of converted convs included)
    still_frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    assert still_frozen == frozen


# --------------------------------------------------------------------------- #
# Single convolutions of every supported kind
# --------------------------------------------------------------------------- #
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize(
    "conv,size,new_cls",
    [
        (lambda: nn.Conv1d(4, 6, 3, padding=1, groups=2, padding_mode="circular"), (9,), CoordConv1d),
        (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, padding_mode="reflect"), (7, 8), CoordConv2d),
        (lambda: nn.Conv2d(4, 4, (2, 4), padding="same", dilation=2, groups=4, bias=False), (6, 9), CoordConv2d),
        (lambda: nn.Conv3d(2, 3, 3, padding=(1, 0, 1), padding_mode="replicate"), (3, 4, 5), CoordConv3d),
        (lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (4, 5),
         CoordConvTranspose2d),
    ],
    ids=["conv1d-groups-circular", "conv2d-reflect", "conv2d-depthwise-same", "conv3d-replicate", "convT2d-groups"],
)
def test_coordconv_like_is_the_same_function(conv, size, new_cls, with_r):
    torch.manual_seed(0)
    conv = conv().double()
    x = torch.randn(2, conv.in_channels, *size, dtype=torch.float64)
    layer = coordconv_like(conv, with_r)
    assert type(layer) is new_cls and layer.with_r == with_r
    assert layer.weight.dtype == torch.float64 and layer.weight.device == conv.weight.device
    assert (layer.groups, layer.padding_mode, layer.padding) == (conv.groups, conv.padding_mode, conv.padding)
    torch.testing.assert_close(layer(x), conv(x), rtol=1e-12, atol=1e-12)
    # the coordinate weights are exactly zero and the old ones are kept
    if new_cls is CoordConvTranspose2d:
        rows = layer.weight.unflatten(0, (conv.groups, -1))
        per_group = conv.in_channels // conv.groups
        assert torch.equal(rows[:, :per_group].flatten(0, 1), conv.weight)
        assert not rows[:, per_group:].any()
    else:
        assert torch.equal(layer.weight[:, : conv.weight.shape[1]], conv.weight)
        assert not layer.weight[:, conv.weight.shape[1] :].any()
    # new parameters, not shared with the old module
    assert layer.weight.data_ptr() != conv.weight.data_ptr()


def test_coordconv_like_keeps_mode_requires_grad_and_channels_last():
    conv = nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last).train(False)
    conv.weight.requires_grad_(False)
    layer = coordconv_like(conv)
    assert not layer.training and not layer.weight.requires_grad and layer.bias.requires_grad
    assert layer.weight.is_contiguous(memory_format=torch.channels_last)


def test_coordconv_like_refuses_other_modules():
    with pytest.raises(TypeError, match="expected one of nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, got Linear"):
        coordconv_like(nn.Linear(2, 2))


# --------------------------------------------------------------------------- #
# Choosing modules, shared modules, errors
# --------------------------------------------------------------------------- #
class _StdConv2d(nn.Conv2d):
    """A subclass with its own forward: must be left alone."""


def _small_net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)),
        _StdConv2d(4, 2, 1),
        nn.ConvTranspose2d(2, 2, 2, stride=2),
    ).eval()


def test_convertible_lists_exact_types_in_order():
    assert convertible(_small_net()) == ["0", "2.0", "4"]


def test_names_list_converts_exactly_those():
    net = _small_net()
    x = torch.randn(2, 1, 6, 6)
    with torch.no_grad():
        before = net(x)
    _, names = add_coords(net, ["4", "2.0", "4"])
    assert names == ["4", "2.0"]  # order kept, repeats dropped
    assert type(net[0]) is nn.Conv2d and type(net[2][0]) is CoordConv2d and type(net[4]) is CoordConvTranspose2d
    with torch.no_grad():
        torch.testing.assert_close(net(x), before, rtol=1e-6, atol=1e-6)


def test_all_skips_subclasses_and_first_takes_the_first():
    net = _small_net()
    add_coords(net, "all")
    assert type(net[3]) is _StdConv2d
    net = _small_net()
    assert add_coords(net, "first")[1] == ["0"]


def test_shared_module_is_replaced_everywhere():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), conv)
    _, names = add_coords(net, "all")
    assert names == ["0"]
    assert net[0] is net[2] and isinstance(net[0], CoordConv2d)


@pytest.mark.parametrize(
    "which,exc,msg",
    [
        (["nope"], ValueError, "no module named ['nope'] in Sequential; its convolutions: ['0', '2.0', '4']"),
        (["1"], ValueError, ("can convert only modules of type nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, "
                            "got '1' (ReLU)")),
        (["3"], ValueError, "got '3' (_StdConv2d)"),
        ([], ValueError, "at least one module name in which, got an empty list"),
        ("last", ValueError, "which='first', 'all' or a list of module names, got 'last'"),
        (3, TypeError, "which='first', 'all' or a list of module names, got int"),
    ],
    ids=["unknown", "not-a-conv", "subclass", "empty", "bad-string", "not-iterable"],
)
def test_choice_errors(which, exc, msg):
    net = _small_net()
    with pytest.raises(exc, match=re.escape(msg)):
        add_coords(net, which)
    assert type(net[0]) is nn.Conv2d, "nothing replaced after an error"


def test_model_without_convolutions():
    with pytest.raises(ValueError, match=re.escape("found no convolution (nn.Conv1d, nn.Conv2d, nn.Conv3d, "
                                                   "nn.ConvTranspose2d) to convert in Sequential")):
        add_coords(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))


def test_model_errors():
    with pytest.raises(TypeError, match="expected an nn.Module, got str"):
        add_coords("resnet18")
    with pytest.raises(ValueError, match=r"cannot replace the model itself \(an nn.Conv2d\)"):
        add_coords(nn.Conv2d(1, 1, 1))
