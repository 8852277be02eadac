"""The paper's architectures (coordlib.models) and the published numbers (coordlib.book.paper).

Parameter counts are checked twice: against the counts of the release's
architectures (``model_builders.py``: 7,553 / 906 / 72,850, "46k to 1.6M") and
against counts derived
layer by layer in this file, so that a changed layer cannot hide behind a
hard-coded total. Every model is run on tiny batches only (this file runs in a
few seconds on 2 CPU cores).
"""

import re

import pytest
import torch
from torch import nn

from coordlib import CoordConv2d, coordinate_grid, datasets
from coordlib.book import paper
from coordlib.models import (
    ConvRegressor,
    ConvRegressorGAP,
    CoordConvClassifier,
    CoordConvRegressor,
    CoordConvRenderer,
    DeconvNet,
    count_parameters,
    scale_coords,
)
from coordlib.models.notsoclevr import CANVAS

COORD_MODELS = [DeconvNet, CoordConvClassifier, CoordConvRenderer]  # (N, 2) -> (N, 64, 64)
IMAGE_MODELS = [CoordConvRegressor, ConvRegressor, ConvRegressorGAP]  # (N, 1, 64, 64) -> (N, 2)
ALL_MODELS = COORD_MODELS + IMAGE_MODELS


# ----------------------------------------------------------------------------- helpers


def conv(c_in, c_out, k):
    """Parameters of a Conv2d / ConvTranspose2d with bias (groups=1)."""
    return c_in * c_out * k * k + c_out


def bn(c):
    return 2 * c


def coordconv_classifier_params(width=1):
    c = [32 * width, 32 * width, 64 * width, 64 * width]
    return conv(2 + 2, c[0], 1) + conv(c[0], c[1], 1) + conv(c[1], c[2], 1) + conv(c[2], c[3], 1) + conv(c[3], 1, 1)


def paint_stack_params(width=1):
    c = [8 * width, 8 * width, 16 * width, 16 * width]
    return conv(1, c[0], 3) + conv(c[0], c[1], 3) + conv(c[1], c[2], 3) + conv(c[2], c[3], 3) + conv(c[3], 1, 3)


def coordconv_regressor_params(width=1):
    c = 8 * width
    return conv(1 + 2, c, 1) + 2 * conv(c, c, 1) + conv(c, c, 3) + conv(c, 2, 3)


def conv_regressor_params(width=1):
    c = 16 * width
    return conv(1, c, 3) + 3 * conv(c, c, 3) + (c * 8 * 8 * 64 + 64) + (64 * 2 + 2)


def conv_regressor_gap_params(width=1):
    chans = [1, 16 * width, 32 * width, 64 * width, 64 * width]
    body = sum(conv(a, b, 3) + bn(b) for a, b in zip(chans[:-1], chans[1:]))
    return body + conv(chans[-1], 2, 1)


def deconv_params(width, kernel):
    chans = [2, 64 * width, 64 * width, 64 * width, 32 * width, 32 * width, 1]
    total = sum(conv(a, b, kernel) for a, b in zip(chans[:-1], chans[1:]))
    return total + sum(bn(c) for c in chans[1:-1])


def coords(n, seed=0):
    """(n, 2) int64 pixel coordinates on the canvas, including both corners."""
    g = torch.Generator().manual_seed(seed)
    c = torch.randint(0, CANVAS, (n, 2), generator=g)
    c[0] = torch.tensor([0, 0])
    c[-1] = torch.tensor([CANVAS - 1, CANVAS - 1])
    return c


def onehots(n, seed=0):
    """(n, 1, 64, 64) float32 one-hot images, as the regression task feeds them."""
    c = coords(n, seed)
    img = torch.zeros(n, 1, CANVAS, CANVAS)
    img[torch.arange(n), 0, c[:, 1], c[:, 0]] = 1.0
    return img


def model_input(model_cls, n=3):
    return coords(n) if model_cls in COORD_MODELS else onehots(n)


# ----------------------------------------------------------------------------- parameter counts


def test_release_parameter_counts():
    assert count_parameters(CoordConvClassifier()) == 7553
    assert count_parameters(CoordConvRegressor()) == 906
    assert count_parameters(ConvRegressor()) == 72850


def test_deconv_range_is_46k_to_1_6m():
    assert count_parameters(DeconvNet(1, 2)) == 46465  # smallest of the sweep
    assert count_parameters(DeconvNet(3, 4)) == 1632001  # largest of the sweep
    counts = [count_parameters(DeconvNet(m, k)) for m in (1, 2, 3) for k in (2, 3, 4)]
    assert min(counts) == 46465 and max(counts) == 1632001


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_deconv_counts_by_formula(width, kernel):
    assert count_parameters(DeconvNet(width, kernel)) == deconv_params(width, kernel)


def test_renderer_is_classifier_plus_paint_stack():
    assert paint_stack_params() == 4297
    assert count_parameters(CoordConvRenderer()) == 7553 + paint_stack_params() == 11850
    assert count_parameters(CoordConvRenderer().locate) == 7553


def test_formulas_reproduce_release_counts():
    # the formulas used below are themselves checked against the published numbers
    assert coordconv_classifier_params() == 7553
    assert coordconv_regressor_params() == 906
    assert conv_regressor_params() == 72850
    assert deconv_params(1, 2) == 46465 and deconv_params(3, 4) == 1632001


def test_conv_regressor_gap_count():
    assert count_parameters(ConvRegressorGAP()) == conv_regressor_gap_params() == 60706


@pytest.mark.parametrize("width", [2, 3])
def test_width_scaling(width):
    assert count_parameters(CoordConvClassifier(width)) == coordconv_classifier_params(width)
    assert count_parameters(CoordConvRenderer(width)) == coordconv_classifier_params(width) + paint_stack_params(width)
    assert count_parameters(CoordConvRegressor(width)) == coordconv_regressor_params(width)
    assert count_parameters(ConvRegressor(width)) == conv_regressor_params(width)
    assert count_parameters(ConvRegressorGAP(width)) == conv_regressor_gap_params(width)


def test_width_two_classifier_count():
    # 64*4+64 + 64*64+64 + 64*128+128 + 128*128+128 + 128+1
    assert count_parameters(CoordConvClassifier(2)) == 320 + 4160 + 8320 + 16512 + 129 == 29441


def test_count_parameters_ignores_frozen():
    m = CoordConvRegressor()
    m.net[-1].requires_grad_(False)
    assert count_parameters(m) == 906 - conv(8, 2, 3)


# ----------------------------------------------------------------------------- shapes and validation


@pytest.mark.parametrize("model_cls", COORD_MODELS)
def test_coordinate_models_give_canvas(model_cls):
    torch.manual_seed(0)
    out = model_cls()(coords(3))
    assert out.shape == (3, CANVAS, CANVAS)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("model_cls", IMAGE_MODELS)
def test_regressors_give_two_coordinates(model_cls):
    torch.manual_seed(0)
    out = model_cls()(onehots(3))
    assert out.shape == (3, 2)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("kernel", [2, 3, 4])
@pytest.mark.parametrize("width", [1, 2])
def test_deconv_every_kernel_gives_exactly_64(kernel, width):
    torch.manual_seed(0)
    out = DeconvNet(width, kernel)(coords(2))
    assert out.shape == (2, 64, 64)


def test_deconv_each_layer_doubles():
    for kernel in (2, 3, 4):
        x = torch.zeros(1, 2, 1, 1)
        sizes = []
        for layer in DeconvNet(1, kernel).net:
            x = layer(x) if not isinstance(layer, nn.BatchNorm2d) else x
            if isinstance(layer, nn.ConvTranspose2d):
                sizes.append(x.shape[-1])
        assert sizes == [2, 4, 8, 16, 32, 64], kernel


@pytest.mark.parametrize("kernel", [1, 5])
def test_deconv_invalid_kernel(kernel):
    with pytest.raises(ValueError) as err:
        DeconvNet(1, kernel)
    msg = str(err.value)
    assert all(v in msg for v in ("2", "3", "4")), msg
    assert str(kernel) in msg, msg


@pytest.mark.parametrize("width", [0, -1])
def test_deconv_invalid_width(width):
    with pytest.raises(ValueError, match=r">= ?1|at least 1|positive"):
        DeconvNet(width, 2)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_width_zero_is_rejected(model_cls):
    """A zero width multiplier must be rejected when the model is built.

    coordlib validates arguments with precise messages when a model is built
    (torchvision style), as DeconvNet does. ConvRegressor(0) and ConvRegressorGAP(0) currently
    build without complaint (194 and 2 parameters, 0-channel convolutions) and only
    fail at the first forward with torch's unrelated "expected weight to be at least
    1 at dimension 0" RuntimeError.
    """
    with pytest.raises(ValueError):
        model_cls(0)


def test_scale_coords_endpoints_exact():
    s = scale_coords(torch.tensor([[0, 63], [63, 0]]))
    assert s.dtype == torch.float32
    assert s.tolist() == [[-1.0, 1.0], [1.0, -1.0]]
    assert scale_coords(torch.tensor([[31.5, 31.5]])).tolist() == [[0.0, 0.0]]
    assert scale_coords(torch.tensor([[0, 31]], dtype=torch.int32), canvas=32).tolist() == [[-1.0, 1.0]]


def test_scale_coords_matches_addcoords_grid():
    pixels = torch.arange(CANVAS)
    s = scale_coords(torch.stack([pixels, pixels], 1))
    grid = coordinate_grid(CANVAS, CANVAS)[0]
    torch.testing.assert_close(s[:, 0], grid[0, 0, :], rtol=0, atol=1e-6)  # x channel varies along columns
    torch.testing.assert_close(s[:, 1], grid[1, :, 0], rtol=0, atol=1e-6)  # y channel varies along rows


@pytest.mark.parametrize("shape", [(4,), (4, 3), (4, 2, 1), (2, 4)])
def test_scale_coords_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        scale_coords(torch.zeros(shape))


# ----------------------------------------------------------------------------- structure


def test_coordconv_models_start_with_coordconv():
    clf = CoordConvClassifier()
    assert isinstance(clf.net[0], CoordConv2d) and clf.net[0].in_channels == 2
    ren = CoordConvRenderer()
    assert isinstance(ren.locate, CoordConvClassifier)
    assert isinstance(ren.locate.net[0], CoordConv2d)
    reg = CoordConvRegressor()
    assert isinstance(reg.net[0], CoordConv2d) and reg.net[0].in_channels == 1
    for m in (clf, ren, reg):
        assert sum(isinstance(x, CoordConv2d) for x in m.modules()) == 1


def test_plain_models_have_no_coordconv():
    for m in (DeconvNet(), ConvRegressor(), ConvRegressorGAP()):
        assert not any(isinstance(x, CoordConv2d) for x in m.modules())


def test_coordconv_regressor_has_no_relu_and_max_pools():
    torch.manual_seed(0)
    model = CoordConvRegressor()
    assert not any(isinstance(m, (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.GELU)) for m in model.modules())
    x = onehots(4)
    torch.testing.assert_close(model(x), model.net(x).amax((2, 3)), rtol=0, atol=0)
    # not average pooling (which would collapse to the mean coordinate)
    assert not torch.allclose(model(x), model.net(x).mean((2, 3)))


def test_coordconv_regressor_stack_is_affine():
    """No hidden nonlinearity (functional ReLU, ...) before the pooling: net(a + b) = net(a) + net(b) - net(0)."""
    torch.manual_seed(0)
    net = CoordConvRegressor().net
    a, b = torch.randn(2, 1, 64, 64), torch.randn(2, 1, 64, 64)
    zero = torch.zeros_like(a)
    torch.testing.assert_close(net(a + b), net(a) + net(b) - net(zero), rtol=1e-4, atol=1e-4)


def test_conv_regressor_structure():
    m = ConvRegressor()
    assert sum(isinstance(x, nn.MaxPool2d) for x in m.modules()) == 3
    assert sum(isinstance(x, nn.Conv2d) for x in m.modules()) == 4
    assert [x.out_features for x in m.modules() if isinstance(x, nn.Linear)] == [64, 2]


def test_conv_regressor_gap_averages():
    torch.manual_seed(0)
    m = ConvRegressorGAP().eval()
    x = onehots(3)
    torch.testing.assert_close(m(x), m.net(x).mean((2, 3)), rtol=0, atol=0)


def test_classifier_channels_last_equals_contiguous_reference():
    torch.manual_seed(0)
    model = CoordConvClassifier()  # raw pixel coordinates, as released
    c = coords(5)
    tile = c.float()[:, :, None, None].expand(-1, -1, CANVAS, CANVAS).contiguous()
    assert tile.is_contiguous()
    with torch.no_grad():
        ref = model.net(tile).squeeze(1)
        out = model(c)
    assert out.shape == ref.shape == (5, 64, 64)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_classifier_depends_on_the_coordinates():
    torch.manual_seed(0)
    model = CoordConvClassifier()
    out = model(torch.tensor([[5, 5], [50, 20]]))
    assert not torch.allclose(out[0], out[1])


def test_renderer_paints_the_softmax_of_its_classifier():
    torch.manual_seed(0)
    model = CoordConvRenderer()
    c = coords(2)
    with torch.no_grad():
        logits = model.locate(c)
        sharp = torch.softmax(logits.flatten(1), 1).view(2, 1, 64, 64)
        torch.testing.assert_close(model(c), model.paint(sharp).squeeze(1))


def test_renderer_without_sharpening_paints_the_logits_themselves():
    torch.manual_seed(0)
    sharp = CoordConvRenderer()
    torch.manual_seed(0)
    plain = CoordConvRenderer(sharpen=False)  # the release's -nosfmx: same weights from the same seed
    c = coords(2)
    with torch.no_grad():
        logits = plain.locate(c)
        torch.testing.assert_close(plain(c), plain.paint(logits[:, None]).squeeze(1))
        assert not torch.allclose(plain(c), sharp(c))
    assert [p.shape for p in plain.parameters()] == [p.shape for p in sharp.parameters()]
    with pytest.raises(TypeError, match="expected sharpen a bool, got 'no'"):
        CoordConvRenderer(sharpen="no")


@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_gradients_reach_every_parameter(model_cls):
    torch.manual_seed(0)
    model = model_cls()
    model.train()
    out = model(model_input(model_cls, n=4))
    loss = out.float().square().mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{model_cls.__name__}.{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name


def test_coordconv_coordinate_weights_get_gradient():
    """The coordinate part of the first layer's weight learns too (it is what makes the task easy)."""
    torch.manual_seed(0)
    model = CoordConvClassifier()
    model(coords(2)).square().mean().backward()
    g = model.net[0].weight.grad
    assert g.shape == (32, 4, 1, 1)
    assert g[:, 2:].abs().sum() > 0


# ----------------------------------------------------------------------------- published numbers


def test_claim_values():
    assert paper.number("rendering/deconv/uniform/test_iou") == 0.83
    assert paper.number("rendering/deconv/quadrant/test_iou") == 0.36
    assert paper.number("classification/deconv/uniform/test_accuracy") == 0.86
    assert paper.number("classification/deconv/quadrant/test_accuracy") == 0.0
    assert paper.number("classification/coordconv/quadrant/test_accuracy") == 1.0
    assert paper.number("regression/conv/quadrant/test_accuracy") == 0.071
    assert paper.number("regression/conv/uniform/train_accuracy") == 0.486
    assert paper.number("speed/coordconv_vs_conv") == 150.0
    assert paper.number("size/conv_over_coordconv_low") == 10.0
    assert paper.number("size/conv_over_coordconv_high") == 100.0


def test_unknown_claim_lists_known_keys():
    with pytest.raises(KeyError) as err:
        paper.number("rendering/deconv/uniform/test_accuracy")
    msg = err.value.args[0]
    assert "rendering/deconv/uniform/test_accuracy" in msg
    for key in paper.CLAIMS:
        assert key in msg


def test_every_claim_is_sourced_and_worded():
    assert paper.CLAIMS
    for key, entry in paper.CLAIMS.items():
        assert len(entry) == 3, key
        value, source, wording = entry
        assert isinstance(source, str) and source.strip(), key
        assert isinstance(wording, str) and wording.strip(), key
        assert value is None or isinstance(value, float), key
        assert re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)+", key), key
        # numbers of runs or of games
        is_count = key.endswith("/runs_per_arm") or key.startswith("rl/a2c/atari_games")
        if value is not None and not key.startswith(("speed/", "size/")) and not is_count:
            assert 0.0 <= value <= 1.0, f"{key}: fractions, not percentages"


@pytest.mark.parametrize("seed", [0, 1])
def test_onehot_gain_puts_the_max_next_to_the_hot_pixel(seed):
    """Chapter 4's finding: at the released input scale the regressor's global max pool is (almost)
    never taken within the 5x5 neighbourhood the hot pixel reaches, so no gradient tells the network
    where the pixel is; scaling the one-hot input by 64 makes the hot pixel win the max."""
    ds = datasets.not_so_clevr()
    idx = torch.arange(0, 3136, 7)

    def near_share(gain):
        torch.manual_seed(seed)
        model = CoordConvRegressor(onehot_gain=gain)
        with torch.no_grad():
            arg = model.net(ds.onehots[idx, None] * gain).flatten(2).argmax(2)  # (n, 2)
        centers = ds.centers[idx]
        near = ((arg % 64 - centers[:, :1]).abs() <= 2) & ((arg // 64 - centers[:, 1:]).abs() <= 2)
        return near.all(1).double().mean().item()

    assert near_share(1.0) < 0.01
    assert near_share(64.0) > 0.99


# --- the release's initialisation, inputs and quadrant regressor ---------------------


def test_models_default_to_release_init():
    """Every model defaults to init="release": zero biases, he_normal-scaled kernels."""
    import math

    from coordlib.models import ConvRegressorQuadrant

    torch.manual_seed(0)
    for m in (DeconvNet(2, 3), CoordConvClassifier(), CoordConvRenderer(), CoordConvRegressor(),
              ConvRegressor(), ConvRegressorGAP(), ConvRegressorQuadrant()):
        for mod in m.modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)) or hasattr(
                mod, "extra_channels"
            ):
                assert mod.bias is None or torch.count_nonzero(mod.bias) == 0
        pyt = type(m)(init="pytorch") if not isinstance(m, DeconvNet) else DeconvNet(2, 3, init="pytorch")
        biases = [mod.bias for mod in pyt.modules() if isinstance(mod, torch.nn.Conv2d) and mod.bias is not None]
        assert any(torch.count_nonzero(b) > 0 for b in biases) or isinstance(m, DeconvNet)
    big = DeconvNet(2, 3).net[3]  # 128 -> 128, 3x3 transposed: Keras fan_in = 9 * 128 (out channels)
    assert isinstance(big, torch.nn.ConvTranspose2d)
    assert big.weight.std().item() == pytest.approx(math.sqrt(2 / (9 * 128)), rel=0.03)


def test_unknown_init_and_inputs_raise():
    with pytest.raises(ValueError, match="init"):
        CoordConvRegressor(init="xavier")
    with pytest.raises(ValueError, match="inputs"):
        CoordConvClassifier(inputs="normalised")


def test_classifier_inputs_pixels_vs_scaled():
    """``inputs="scaled"`` equals feeding the pixel model the scaled coordinates."""
    torch.manual_seed(0)
    pix = CoordConvClassifier()
    sca = CoordConvClassifier(inputs="scaled")
    sca.load_state_dict(pix.state_dict())
    c = coords(3)
    with torch.no_grad():
        ref = pix.net(scale_coords(c)[:, :, None, None].expand(-1, -1, CANVAS, CANVAS)).squeeze(1)
        torch.testing.assert_close(sca(c), ref, rtol=1e-5, atol=1e-5)


def test_quadrant_regressor_as_released():
    """big_conv2: 10 convolutions of 16 channels (last 2), 2 BatchNorms, 64 -> 2 pixels, ReLU at the end."""
    from coordlib.models import ConvRegressorQuadrant

    m = ConvRegressorQuadrant().eval()
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 3, 3, 3, 3, 1, 3, 3]
    assert [c.stride[0] for c in convs] == [2, 1, 1, 2, 2, 2, 1, 2, 1]
    assert [c.out_channels for c in convs] == [16] * 8 + [2]
    assert sum(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules()) == 2
    assert count_parameters(m) == 12914
    h = torch.zeros(2, 1, 64, 64)
    h[:, 0, 5, 7] = 1
    assert m.net(h).shape == (2, 2, 2, 2)
    assert (m(h) >= 0).all()  # ReLU after the last convolution, then the average
