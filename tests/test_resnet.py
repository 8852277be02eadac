"""The ImageNet ResNets: torchvision's models plus exactly the paper's extra 1x1 CoordConv layer."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import ResNet
from torchvision.models.resnet import BasicBlock, Bottleneck

from coordlib import CoordConv2d
from coordlib.models import SmallResNet, coord_resnet50, coord_stem, count_parameters, resnet50_baseline

TORCHVISION_RESNET50_PARAMS = 25_557_032  # torchvision's documented count for resnet50 (1000 classes)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def resnets():
    torch.manual_seed(0)
    return resnet50_baseline(), coord_resnet50()


def _reference_grid(h, w):
    """x (columns), y (rows) on [-1, 1] and r, computed independently of coordlib."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return torch.stack([xs, ys, torch.sqrt(xs**2 + ys**2)])[None]


def test_coord_resnet50_is_torchvision_resnet50_with_the_extra_layer(resnets):
    base, coord = resnets
    assert isinstance(base, ResNet) and isinstance(coord, ResNet)
    assert isinstance(coord.layer1[0], Bottleneck)
    extra = coord.conv1.coordconv
    assert type(extra) is CoordConv2d
    assert (extra.in_channels, extra.out_channels, extra.with_r) == (3, 8, True)
    assert extra.kernel_size == (1, 1) and extra.weight.shape == (8, 6, 1, 1)
    stem = coord.conv1.conv
    assert type(stem) is nn.Conv2d and stem.weight.shape == (64, 8, 7, 7)
    assert (stem.stride, stem.padding, stem.bias) == ((2, 2), (3, 3), None)
    assert base.conv1.weight.shape == (64, 3, 7, 7)


def test_coord_resnet50_forward_shape(resnets):
    _, coord = resnets
    coord.eval()
    with torch.no_grad():
        out = coord(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 1000) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_parameter_difference_is_the_extra_layer_and_widened_conv1(resnets):
    base, coord = resnets
    assert count_parameters(base) == TORCHVISION_RESNET50_PARAMS
    extra = 8 * (3 + 3) * 1 * 1 + 8  # 1x1 CoordConv: weights over image + x, y, r, and a bias
    widened = 64 * (8 - 3) * 7 * 7  # conv1 takes 8 channels instead of 3 (no bias)
    assert extra + widened == 15_736
    assert count_parameters(coord) - count_parameters(base) == 15_736
    # every other parameter and buffer has the same name and shape in both arms
    b = {k: v.shape for k, v in base.state_dict().items() if not k.startswith("conv1.")}
    c = {k: v.shape for k, v in coord.state_dict().items() if not k.startswith("conv1.")}
    assert b == c
    assert sorted(k for k in coord.state_dict() if k.startswith("conv1.")) == [
        "conv1.conv.weight", "conv1.coordconv.bias", "conv1.coordconv.weight"
    ]


def test_num_classes_and_no_pretrained_weights():
    assert coord_resnet50(num_classes=7).fc.out_features == 7
    with pytest.raises(ValueError, match="expected weights=None, got 'IMAGENET1K_V2'"):
        resnet50_baseline(weights="IMAGENET1K_V2")
    with pytest.raises(ValueError, match="num_classes as an int >= 1, got 0"):
        coord_resnet50(num_classes=0)


def test_coord_stem_is_coordconv_then_conv_on_its_output():
    """The documented connection: conv1(CoordConv1x1(image)), checked against concatenate-then-convolve."""
    torch.manual_seed(1)
    plain = nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False)
    stem = coord_stem(plain, 3)
    x = torch.randn(2, 3, 9, 12)
    with torch.no_grad():
        cc = stem.coordconv
        grid = _reference_grid(9, 12).expand(2, -1, -1, -1)
        hidden = F.conv2d(torch.cat([x, grid], 1), cc.weight, cc.bias)
        expected = F.conv2d(hidden, stem.conv.weight, None, stride=2, padding=1)
        assert torch.allclose(stem(x), expected, atol=1e-5)
    assert stem.conv.kernel_size == (3, 3) and stem.conv.in_channels == 8
    with pytest.raises(ValueError, match="stem conv with 1 input channels, got 3"):
        coord_stem(plain, 1)
    with pytest.raises(TypeError, match="expected the stem nn.Conv2d, got Linear"):
        coord_stem(nn.Linear(3, 3), 3)


@pytest.mark.parametrize("coordconv", [False, True])
@pytest.mark.parametrize("num_classes", [10, 9])
def test_small_resnet_shapes(coordconv, num_classes):
    torch.manual_seed(0)
    model = SmallResNet(coordconv, num_classes)
    out = model(torch.randn(4, 1, 64, 64))
    assert out.shape == (4, num_classes) and out.dtype == torch.float32
    assert [model.layer1[0].conv1.in_channels] + [getattr(model, f"layer{i}")[0].conv2.out_channels
                                                  for i in (1, 2, 3, 4)] == [16, 16, 32, 64, 128]
    assert model.fc.in_features == 128
    assert all(isinstance(b, BasicBlock) for i in (1, 2, 3, 4) for b in getattr(model, f"layer{i}"))


def _stage_shapes(model, x):
    """Output shapes of layer1 .. layer4 for input ``x``."""
    shapes = {}
    for i in (1, 2, 3, 4):
        getattr(model, f"layer{i}").register_forward_hook(lambda m, a, out, i=i: shapes.__setitem__(i, out.shape))
    model(x)
    return [tuple(shapes[i]) for i in (1, 2, 3, 4)]


def test_small_resnet_blocks_width_and_stem_stride():
    model = SmallResNet(False, 10, in_channels=3, width=8, blocks=(2, 1, 3, 1), stem_stride=1)
    assert [len(getattr(model, f"layer{i}")) for i in (1, 2, 3, 4)] == [2, 1, 3, 1]
    x = torch.randn(2, 3, 64, 64)
    assert _stage_shapes(model, x) == [(2, 8, 64, 64), (2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]
    model = SmallResNet(True, 10, in_channels=3, width=8, stem_stride=2)
    assert _stage_shapes(model, x) == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4)]
    # the default for 64x64 CPU experiments: stride-2 stem, width 16
    assert _stage_shapes(SmallResNet(False, 9), torch.randn(2, 1, 64, 64))[0] == (2, 16, 32, 32)


def test_small_resnet_arms_differ_only_by_the_extra_layer():
    base, coord = SmallResNet(False, 10), SmallResNet(True, 10)
    assert type(base.conv1) is nn.Conv2d and base.conv1.weight.shape == (16, 1, 3, 3)
    assert type(coord.conv1.coordconv) is CoordConv2d
    assert (coord.conv1.coordconv.out_channels, coord.conv1.coordconv.with_r) == (8, True)
    assert coord.conv1.conv.weight.shape == (16, 8, 3, 3)
    b = {k: v.shape for k, v in base.state_dict().items() if not k.startswith("conv1.")}
    c = {k: v.shape for k, v in coord.state_dict().items() if not k.startswith("conv1.")}
    assert b == c
    # extra layer 8 * (1 + 3) + 8, and conv1 widened from 1 to 8 input channels: 16 * 7 * 3 * 3
    assert count_parameters(coord) - count_parameters(base) == 40 + 1_008


def test_the_coordinate_channels_reach_the_stem():
    """On a constant image a plain stem is constant inside the borders; the CoordConv stem is not."""
    torch.manual_seed(0)
    x = torch.ones(1, 1, 16, 16)
    with torch.no_grad():
        plain = SmallResNet(False, 10).conv1(x)[..., 1:-1, 1:-1]
        coord = SmallResNet(True, 10).conv1(x)[..., 1:-1, 1:-1]
    assert torch.allclose(plain, plain[..., :1, :1].expand_as(plain))
    assert (coord - coord[..., :1, :1]).abs().amax() > 1e-3


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(num_classes=0), ValueError, "num_classes as an int >= 1, got 0"),
        (dict(width=0), ValueError, "width as an int >= 1, got 0"),
        (dict(in_channels=2.0), TypeError, "in_channels as an int >= 1, got float 2.0"),
        (dict(blocks=(1, 1, 1)), ValueError, r"blocks as 4 ints >= 1 \(one per stage\), got \(1, 1, 1\)"),
        (dict(stem_stride=3), ValueError, "stem_stride 1 or 2, got 3"),
    ],
)
def test_small_resnet_rejects_bad_arguments(kwargs, error, message):
    args = dict(coordconv=True, num_classes=10) | kwargs
    with pytest.raises(error, match=message):
        SmallResNet(**args)


@pytest.mark.parametrize("seed", [0, 5])
def test_identity_init_starts_as_the_plain_network(seed):
    """Same seed: the identity-initialised CoordConv ResNet computes the plain one's logits."""
    x = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    plain = SmallResNet(False, 10)
    torch.manual_seed(seed)
    coord = SmallResNet(True, 10, coord_init="identity")
    extra = coord.conv1.coordconv
    expected = torch.zeros(8, 4, 1, 1)
    expected[0, 0] = 1.0  # the image channel passes through; x, y, r weights start at zero
    assert torch.equal(extra.weight, expected) and torch.equal(extra.bias, torch.zeros(8))
    assert torch.equal(coord.conv1.conv.weight[:, :1], plain.conv1.weight)
    for model in (plain, coord):
        model.train()
    torch.testing.assert_close(coord(x), plain(x), rtol=0, atol=1e-6)
    # everything but the stem draws the same initial weights in both arms
    p = {k: v for k, v in plain.state_dict().items() if not k.startswith("conv1")}
    c = {k: v for k, v in coord.state_dict().items() if not k.startswith("conv1")}
    assert p.keys() == c.keys() and all(torch.equal(p[k], c[k]) for k in p)


def test_identity_init_learns_the_coordinate_weights():
    """The coordinate weights start at zero but receive gradient: training can use them."""
    torch.manual_seed(0)
    coord = SmallResNet(True, 9, coord_init="identity")
    loss = F.cross_entropy(coord(torch.rand(4, 1, 32, 32)), torch.tensor([0, 3, 5, 8]))
    loss.backward()
    assert coord.conv1.coordconv.weight.grad[1:, 1:].abs().amax() > 0


def test_identity_init_of_coord_resnet50_on_rgb():
    stem = coord_resnet50(num_classes=5, coord_init="identity").conv1
    w = stem.coordconv.weight[:, :, 0, 0]
    assert torch.equal(w[:3, :3], torch.eye(3)) and w.abs().sum() == 3 and stem.coordconv.bias.abs().sum() == 0
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        plain = F.conv2d(x, stem.conv.weight[:, :3], None, 2, 3)
        assert torch.allclose(stem(x), plain, atol=1e-6)
    with pytest.raises(ValueError, match=r"init='identity' needs in_channels <= 5, got 6"):
        coord_stem(nn.Conv2d(6, 4, 3), 6, init="identity")
    with pytest.raises(ValueError, match=r"init in \('default', 'identity'\), got 'zeros'"):
        coord_stem(nn.Conv2d(1, 4, 3), 1, init="zeros")


def test_batchnorm_after_the_extra_layer():
    torch.manual_seed(0)
    model = SmallResNet(True, 10, coord_batchnorm=True)
    assert list(dict(model.conv1.named_children())) == ["coordconv", "bn", "conv"]
    assert isinstance(model.conv1.bn, nn.BatchNorm2d) and model.conv1.bn.num_features == 8
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        hidden = model.conv1.bn(model.conv1.coordconv(x))  # train mode: batch statistics
        assert torch.allclose(hidden.mean((0, 2, 3)), torch.zeros(8), atol=1e-5)
        assert torch.allclose(model.conv1(x), model.conv1.conv(hidden))
    # the default design has nothing between the two layers
    assert list(dict(SmallResNet(True, 10).conv1.named_children())) == ["coordconv", "conv"]


def test_the_extra_layer_is_the_papers_imagenet_entry():
    """coordlib.book.release's ImageNet entry comes from the paper; coord_resnet50 builds what it states."""
    from coordlib.book import release

    entry = release.PAPER_EXPERIMENTS[("imagenet", "coordconv")]
    assert entry["extra_layer"].value == "1x1 CoordConv, 8 channels, with r, at the bottom"
    assert entry["seeds"].value == 5 and entry["extra_layer"].source == "paper §5"
    extra = coord_resnet50(num_classes=3).conv1.coordconv
    assert (extra.kernel_size, extra.out_channels, extra.with_r) == ((1, 1), 8, True)
    rows = release.departures("imagenet", "coordconv", {"extra_layer_init": "identity", "seeds": 5},
                              {"extra_layer_init": "diagnosis"}, label="a")
    assert rows == [["a: extra_layer_init", "not stated (paper §5; the release has no ImageNet code)",
                     "identity", "diagnosis"]]
    with pytest.raises(KeyError, match="has no reason"):
        release.departures("imagenet", "coordconv", {"seeds": 3}, {})
