"""Tests for coordlib.layers: AddCoords, CoordConv2d and ConcatCoordConv2d.

The contract under test is the one documented in ``coordlib.layers``: the
conventions of the release's ``CoordConv.py``, without its bugs or those of the
PyTorch ports mkocabas/CoordConv-pytorch and walsvid/CoordConv. The reference
used for CoordConv2d is written here, independently of coordlib: build the coordinate grid with ``torch.linspace`` (an axis of size
1 maps to 0), concatenate it after the input channels, and call ``F.conv2d``.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

import coordlib.layers
from coordlib import AddCoords, ConcatCoordConv2d, CoordConv2d

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SHAPE_MSG = re.escape("(N, C, H, W)")


# --------------------------------------------------------------------------- #
# Independent reference
# --------------------------------------------------------------------------- #
def ref_axis(n: int, dtype: torch.dtype, device="cpu") -> torch.Tensor:
    if n == 1:
        return torch.zeros(1, dtype=dtype, device=device)
    return torch.linspace(-1.0, 1.0, n, dtype=dtype, device=device)


def ref_grid(h: int, w: int, with_r: bool, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """(1, 2[+1], h, w): x varies along W, y along H, r = sqrt(x^2 + y^2)."""
    xs = ref_axis(w, dtype, device).reshape(1, w).repeat(h, 1)
    ys = ref_axis(h, dtype, device).reshape(h, 1).repeat(1, w)
    chans = [xs, ys]
    if with_r:
        chans.append(torch.sqrt(xs * xs + ys * ys))
    return torch.stack(chans).unsqueeze(0)


def ref_coordconv(x, weight, bias, stride, padding, dilation, with_r):
    n, _, h, w = x.shape
    grid = ref_grid(h, w, with_r, x.dtype, x.device).expand(n, -1, -1, -1)
    return F.conv2d(torch.cat([x, grid], 1), weight, bias, stride, padding, dilation)


def tol(dtype):
    if dtype == torch.float64:
        return {"rtol": 1e-12, "atol": 1e-12}
    return {"rtol": 1e-5, "atol": 1e-5}


# --------------------------------------------------------------------------- #
# AddCoords
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 3, 5), (1, 1, 4, 4), (3, 2, 7, 2), (1, 0, 2, 3)])
def test_addcoords_shape(shape, with_r):
    n, c, h, w = shape
    out = AddCoords(with_r)(torch.randn(shape))
    assert out.shape == (n, c + (3 if with_r else 2), h, w)
    assert AddCoords(with_r).extra_channels == (3 if with_r else 2)


@pytest.mark.parametrize("with_r", [False, True])
def test_addcoords_exact_values_non_square(with_r):
    x = torch.randn(2, 3, 3, 5)
    out = AddCoords(with_r)(x)
    # input channels unchanged, in front
    assert torch.equal(out[:, :3], x)
    xs = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    ys = torch.tensor([-1.0, 0.0, 1.0])
    for b in range(2):
        for i in range(3):
            assert torch.equal(out[b, 3, i], xs), "x channel must vary along W"
        for j in range(5):
            assert torch.equal(out[b, 4, :, j], ys), "y channel must vary along H"
    if with_r:
        r = out[:, 5]
        torch.testing.assert_close(r, torch.sqrt(out[:, 3] ** 2 + out[:, 4] ** 2), rtol=0, atol=0)
        assert r[0, 1, 2].item() == 0.0  # centre of an odd-sized image
        assert r[0, 0, 0].item() == pytest.approx(math.sqrt(2.0), abs=1e-7)
        assert r[0, 2, 4].item() == pytest.approx(math.sqrt(2.0), abs=1e-7)
        assert r[0, 1, 0].item() == 1.0 and r[0, 0, 2].item() == 1.0
        assert r[0, 1, 3].item() == 0.5


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("h,w", [(4, 7), (9, 2), (6, 6)])
def test_addcoords_matches_formula(h, w, with_r):
    """Each axis normalised by its own length: column j -> 2j/(W-1) - 1."""
    out = AddCoords(with_r)(torch.zeros(1, 1, h, w, dtype=torch.float64))
    j = torch.arange(w, dtype=torch.float64)
    i = torch.arange(h, dtype=torch.float64)
    X = (2 * j / (w - 1) - 1).expand(h, w)
    Y = (2 * i / (h - 1) - 1).unsqueeze(1).expand(h, w)
    torch.testing.assert_close(out[0, 1], X, rtol=0, atol=1e-14)
    torch.testing.assert_close(out[0, 2], Y, rtol=0, atol=1e-14)
    assert out[0, 1].min().item() == -1.0 and out[0, 1].max().item() == 1.0
    assert out[0, 2].min().item() == -1.0 and out[0, 2].max().item() == 1.0
    if with_r:
        torch.testing.assert_close(out[0, 3], torch.sqrt(X**2 + Y**2), rtol=0, atol=1e-14)


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("h,w", [(1, 1), (1, 5), (4, 1)])
def test_addcoords_size_one_axis_maps_to_zero(h, w, with_r):
    out = AddCoords(with_r)(torch.ones(2, 1, h, w))
    assert not torch.isnan(out).any()
    assert torch.isfinite(out).all()
    expected = torch.cat([torch.ones(2, 1, h, w), ref_grid(h, w, with_r).expand(2, -1, -1, -1)], 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    if w == 1:
        assert torch.equal(out[:, 1], torch.zeros(2, h, w))
    if h == 1:
        assert torch.equal(out[:, 2], torch.zeros(2, h, w))


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=["f16", "bf16", "f32", "f64"]
)
def test_addcoords_dtype_preserved(dtype, with_r):
    x = torch.randn(2, 2, 3, 5).to(dtype)
    out = AddCoords(with_r)(x)
    assert out.dtype == dtype
    assert torch.equal(out[:, :2], x)
    expected = ref_grid(3, 5, with_r, torch.float64).expand(2, -1, -1, -1)
    torch.testing.assert_close(out[:, 2:].double(), expected, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("device", DEVICES + ["meta"])
def test_addcoords_device_preserved(device, with_r):
    x = torch.zeros(2, 1, 3, 4, device=device)
    out = AddCoords(with_r)(x)
    assert out.device == x.device
    assert out.shape == (2, 1 + (3 if with_r else 2), 3, 4)


class RecordDevices(TorchFunctionMode):
    """Record the device of every tensor produced by a torch function."""

    def __init__(self):
        super().__init__()
        self.produced = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor):
                self.produced.append((getattr(func, "__name__", repr(func)), o.device.type))
        return out


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("make", ["addcoords", "coordconv", "concat"])
def test_no_hidden_host_tensors(make, with_r):
    """On a "meta" input no tensor may be built on the CPU (no grid built on the
    host and copied to the device each forward): catches what a GPU run would,
    without a GPU."""
    module = {
        "addcoords": lambda: AddCoords(with_r),
        "coordconv": lambda: CoordConv2d(2, 3, 3, stride=2, padding=1, with_r=with_r),
        "concat": lambda: ConcatCoordConv2d(2, 3, 3, stride=2, padding=1, with_r=with_r),
    }[make]().to("meta")
    x = torch.empty(4, 2, 9, 8, device="meta")
    with RecordDevices() as rec:
        out = module(x)
    assert out.device.type == "meta"
    assert rec.produced, "the recorder saw nothing"
    assert all(dev == "meta" for _, dev in rec.produced), rec.produced


def test_addcoords_passes_gradient_to_input():
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    g = torch.randn(2, 6, 4, 5)
    AddCoords(True)(x).backward(g)
    assert torch.equal(x.grad, g[:, :3])


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize(
    "bad,exc,msg",
    [
        (torch.zeros(3, 4, 5), ValueError, SHAPE_MSG),
        (torch.zeros(1, 2, 3, 4, 5), ValueError, SHAPE_MSG),
        (torch.zeros(2, 1, 4, 4, dtype=torch.int64), TypeError, "floating"),
        (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), TypeError, "floating"),
        ([[[[0.0]]]], TypeError, SHAPE_MSG),
    ],
    ids=["3d", "5d", "int64", "uint8", "list"],
)
def test_addcoords_errors(bad, exc, msg, with_r):
    with pytest.raises(exc, match=msg):
        AddCoords(with_r)(bad)


# --------------------------------------------------------------------------- #
# CoordConv2d against the reference
# --------------------------------------------------------------------------- #
# (n, in, out, h, w, kernel, stride, padding, dilation, bias, with_r)
CONFIGS = [
    (2, 1, 1, 8, 8, 1, 1, 0, 1, True, False),
    (2, 1, 2, 8, 8, 1, 1, 3, 1, True, True),
    (3, 2, 3, 7, 9, 3, 1, 1, 1, True, True),
    (2, 3, 4, 9, 6, 5, 2, 0, 1, False, False),
    (2, 4, 5, 10, 11, 7, 3, 3, 1, True, True),
    (2, 2, 2, 8, 7, (3, 2), (2, 1), (2, 1), 1, True, False),
    (1, 5, 3, 6, 10, (3, 2), 3, 1, 1, False, True),
    (2, 3, 2, 9, 9, 3, 1, "same", 2, True, True),
    (2, 2, 3, 8, 5, 5, 1, "same", 1, False, False),
    (2, 2, 3, 7, 6, (3, 2), 1, "same", 1, True, True),
    (2, 1, 2, 6, 7, 3, 1, "valid", 1, True, False),
    (2, 2, 3, 12, 10, 3, 2, 2, 2, False, True),
    (2, 4, 2, 11, 13, 5, (2, 1), (2, 1), 2, True, False),
    (2, 5, 3, 1, 8, 3, 1, 1, 1, True, True),
    (2, 3, 2, 6, 1, 3, 1, 1, 1, False, False),
    (3, 2, 1, 1, 1, 3, 1, 1, 1, True, True),
    (2, 1, 4, 1, 1, 1, 1, 0, 1, True, False),
    (2, 3, 8, 20, 24, 7, 2, 3, 1, False, False),  # ResNet-stem-like
    (2, 3, 8, 21, 17, 7, 2, 3, 1, True, True),  # ResNet-stem-like, odd, with r
]


def _cfg_id(c):
    n, i, o, h, w, k, s, p, d, b, r = c
    return f"n{n}-{i}to{o}-{h}x{w}-k{k}-s{s}-p{p}-d{d}-{'b' if b else 'nob'}-{'r' if r else 'nor'}".replace(" ", "")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[_cfg_id(c) for c in CONFIGS])
def test_coordconv_matches_reference_forward_and_backward(cfg, dtype):
    n, cin, cout, h, w, k, s, p, d, use_bias, with_r = cfg
    torch.manual_seed(0)
    layer = CoordConv2d(cin, cout, k, s, p, d, bias=use_bias, with_r=with_r).to(dtype)
    # Non-trivial weights for every parameter (the default bias init is small).
    with torch.no_grad():
        layer.weight.normal_()
        if layer.bias is not None:
            layer.bias.normal_()

    x = torch.randn(n, cin, h, w, dtype=dtype, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    w_ref = layer.weight.detach().clone().requires_grad_(True)
    b_ref = layer.bias.detach().clone().requires_grad_(True) if use_bias else None

    out = layer(x)
    ref = ref_coordconv(x_ref, w_ref, b_ref, s, p, d, with_r)
    assert out.shape == ref.shape
    assert out.dtype == dtype
    torch.testing.assert_close(out, ref, **tol(dtype))

    g = torch.randn_like(ref)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, **tol(dtype))
    # weight gradients sum over many positions: scale the absolute tolerance
    wt = tol(dtype)
    wt["atol"] *= 10
    torch.testing.assert_close(layer.weight.grad, w_ref.grad, **wt)
    if use_bias:
        torch.testing.assert_close(layer.bias.grad, b_ref.grad, **wt)
    else:
        assert layer.bias is None


@pytest.mark.parametrize("with_r", [False, True])
def test_coordconv_coordinate_weights_matter_at_borders(with_r):
    """Only the coordinate part of the weight is non-zero: the output must be the
    convolution of the zero-padded grid, which differs at the borders from a
    per-pixel term computed without padding."""
    layer = CoordConv2d(2, 1, 3, padding=1, with_r=with_r, bias=False).double()
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, 2:] = 1.0
    x = torch.randn(3, 2, 5, 6, dtype=torch.float64)
    out = layer(x)
    grid = ref_grid(5, 6, with_r, torch.float64)
    expected = F.conv2d(grid, torch.ones(1, grid.shape[1], 3, 3, dtype=torch.float64), padding=1)
    torch.testing.assert_close(out, expected.expand(3, -1, -1, -1), rtol=1e-12, atol=1e-12)
    # sanity of the expected value itself: corner = sum of the 4 in-image neighbours
    xs, ys = ref_axis(6, torch.float64), ref_axis(5, torch.float64)
    corner = 2 * (xs[0] + xs[1]) + 2 * (ys[0] + ys[1])
    if with_r:
        corner = corner + sum(math.hypot(xs[a], ys[b]) for a in (0, 1) for b in (0, 1))
    assert out[0, 0, 0, 0].item() == pytest.approx(float(corner), abs=1e-12)


@pytest.mark.parametrize("with_r", [False, True])
def test_coordconv_equals_conv_over_addcoords(with_r):
    """The literal contract: layer(x) == F.conv2d(AddCoords(with_r)(x), weight, bias, ...)."""
    layer = CoordConv2d(3, 4, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(2, 1), with_r=with_r).double()
    x = torch.randn(2, 3, 9, 14, dtype=torch.float64)
    expected = F.conv2d(AddCoords(with_r)(x), layer.weight, layer.bias, (1, 2), (1, 2), (2, 1))
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_coordconv_stem_float32_typical_init():
    """ResNet-stem-like config with the default initialisation, float32."""
    torch.manual_seed(1)
    layer = CoordConv2d(3, 8, 7, stride=2, padding=3)
    x = torch.randn(4, 3, 32, 40)
    ref = ref_coordconv(x, layer.weight, layer.bias, 2, 3, 1, False)
    out = layer(x)
    assert out.shape == (4, 8, 16, 20)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- #
# Parameters and state dicts
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("cls", [CoordConv2d, ConcatCoordConv2d])
def test_weight_shape_and_state_dict_keys(cls, bias, with_r):
    layer = cls(3, 5, (3, 2), bias=bias, with_r=with_r)
    assert layer.weight.shape == (5, 3 + (3 if with_r else 2), 3, 2)
    assert set(layer.state_dict()) == ({"weight", "bias"} if bias else {"weight"})
    assert {name for name, _ in layer.named_parameters()} == ({"weight", "bias"} if bias else {"weight"})
    if bias:
        assert layer.bias.shape == (5,)
    else:
        assert layer.bias is None
    assert layer.extra_channels == (3 if with_r else 2)


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_state_dict_from_conv2d_loads_and_gives_reference(bias, with_r):
    torch.manual_seed(0)
    extra = 3 if with_r else 2
    conv = nn.Conv2d(4 + extra, 6, 3, stride=2, padding=1, bias=bias).double()
    layer = CoordConv2d(4, 6, 3, stride=2, padding=1, bias=bias, with_r=with_r).double()
    layer.load_state_dict(conv.state_dict())  # strict
    x = torch.randn(2, 4, 9, 7, dtype=torch.float64)
    grid = ref_grid(9, 7, with_r, torch.float64).expand(2, -1, -1, -1)
    expected = conv(torch.cat([x, grid], 1))
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_state_dict_from_coordconv_loads_into_conv2d(bias, with_r):
    torch.manual_seed(0)
    extra = 3 if with_r else 2
    layer = CoordConv2d(2, 3, 5, padding=2, bias=bias, with_r=with_r).double()
    conv = nn.Conv2d(2 + extra, 3, 5, padding=2, bias=bias).double()
    conv.load_state_dict(layer.state_dict())  # strict
    x = torch.randn(3, 2, 6, 8, dtype=torch.float64)
    grid = ref_grid(6, 8, with_r, torch.float64).expand(3, -1, -1, -1)
    torch.testing.assert_close(conv(torch.cat([x, grid], 1)), layer(x), rtol=1e-12, atol=1e-12)


def test_state_dict_with_wrong_layout_is_rejected():
    layer = CoordConv2d(4, 6, 3)
    with pytest.raises(RuntimeError):
        layer.load_state_dict(nn.Conv2d(4, 6, 3).state_dict())  # missing coordinate channels


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_concat_and_coordconv_share_state_dicts_and_agree(bias, with_r):
    torch.manual_seed(0)
    a = CoordConv2d(3, 4, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2), bias=bias, with_r=with_r)
    b = ConcatCoordConv2d(3, 4, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2), bias=bias, with_r=with_r)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 10, 7)
    torch.testing.assert_close(a(x), b(x), rtol=1e-5, atol=1e-5)
    # and back
    c = CoordConv2d(3, 4, 3, stride=(2, 1), padding=(1, 2), dilation=(1, 2), bias=bias, with_r=with_r)
    c.load_state_dict(b.state_dict())
    assert torch.equal(c(x), a(x))
    # ConcatCoordConv2d is itself the reference formulation
    ref = ref_coordconv(x, b.weight, b.bias, (2, 1), (1, 2), (1, 2), with_r)
    torch.testing.assert_close(b(x), ref, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- #
# No concatenation onto the batch; coordinate term on a batch of one
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("with_r", [False, True])
def test_coordconv_never_concatenates(monkeypatch, with_r):
    layer = CoordConv2d(3, 4, 3, padding=1, with_r=with_r)
    x = torch.randn(5, 3, 6, 7, requires_grad=True)
    expected = ref_coordconv(x.detach(), layer.weight.detach(), layer.bias.detach(), 1, 1, 1, with_r)

    def boom(*args, **kwargs):
        raise AssertionError("CoordConv2d must not concatenate onto the batch")

    monkeypatch.setattr(coordlib.layers.coordconv.torch, "cat", boom)
    monkeypatch.setattr(coordlib.layers.coordconv.torch, "concat", boom, raising=False)
    monkeypatch.setattr(coordlib.layers.coordconv.torch, "concatenate", boom, raising=False)
    monkeypatch.setattr(coordlib.layers.coordconv.AddCoords, "forward", boom)
    out = layer(x)
    out.sum().backward()
    monkeypatch.undo()
    torch.testing.assert_close(out.detach(), expected, rtol=1e-5, atol=1e-5)
    # the patch was effective: the concatenating layer does hit it
    monkeypatch.setattr(coordlib.layers.coordconv.AddCoords, "forward", boom)
    with pytest.raises(AssertionError, match="must not concatenate"):
        ConcatCoordConv2d(3, 4, 3, padding=1, with_r=with_r)(x)


@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("n", [1, 4])
def test_coordinate_term_computed_on_batch_of_one(monkeypatch, n, with_r):
    layer = CoordConv2d(3, 4, (3, 5), stride=2, padding=(1, 2), with_r=with_r)
    extra = 3 if with_r else 2
    real_conv2d = coordlib.layers.coordconv.F.conv2d
    calls = []

    def recording_conv2d(inp, weight, *args, **kwargs):
        calls.append((tuple(inp.shape), tuple(weight.shape)))
        return real_conv2d(inp, weight, *args, **kwargs)

    monkeypatch.setattr(coordlib.layers.coordconv.F, "conv2d", recording_conv2d)
    x = torch.randn(n, 3, 9, 11)
    layer(x)
    assert sorted(calls) == sorted([((n, 3, 9, 11), (4, 3, 3, 5)), ((1, extra, 9, 11), (4, extra, 3, 5))])
    calls.clear()
    layer(x)
    assert len(calls) == 2, "exactly two convolutions per forward"


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("cls", [CoordConv2d, ConcatCoordConv2d])
def test_wrong_channel_count_message(cls):
    layer = cls(3, 2, 3)
    with pytest.raises(ValueError) as info:
        layer(torch.randn(2, 7, 6, 6))
    msg = str(info.value)
    assert re.search(r"\b3\b", msg), msg  # expected count
    assert re.search(r"\b7\b", msg), msg  # given count


@pytest.mark.parametrize("cls", [CoordConv2d, ConcatCoordConv2d])
@pytest.mark.parametrize(
    "bad,exc,msg",
    [
        (torch.zeros(3, 6, 6), ValueError, SHAPE_MSG),
        (torch.zeros(1, 3, 6, 6, 2), ValueError, SHAPE_MSG),
        (torch.zeros(1, 3, 6, 6, dtype=torch.int32), TypeError, "floating"),
        (torch.zeros(1, 3, 6, 6, dtype=torch.bool), TypeError, "floating"),
        ("not a tensor", TypeError, SHAPE_MSG),
    ],
    ids=["3d", "5d", "int32", "bool", "str"],
)
def test_coordconv_input_errors(cls, bad, exc, msg):
    with pytest.raises(exc, match=msg):
        cls(3, 2, 3)(bad)


@pytest.mark.parametrize("cls", [CoordConv2d, ConcatCoordConv2d])
@pytest.mark.parametrize(
    "kwargs", [{"in_channels": 0}, {"in_channels": -1}, {"out_channels": 0}, {"out_channels": -2}]
)
def test_invalid_channel_arguments(cls, kwargs):
    args = {"in_channels": 2, "out_channels": 3, "kernel_size": 3}
    args.update(kwargs)
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        cls(**args)


def test_same_padding_with_stride_is_rejected_like_conv2d():
    with pytest.raises(ValueError):
        nn.Conv2d(4, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError):
        CoordConv2d(2, 3, 3, stride=2, padding="same")


# --------------------------------------------------------------------------- #
# Device, dtype, memory format, modes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("cls", [CoordConv2d, ConcatCoordConv2d])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("device", DEVICES)
def test_output_dtype_and_device(cls, dtype, device):
    layer = cls(2, 3, 3, padding=1, with_r=True).to(device=device, dtype=dtype)
    x = torch.randn(2, 2, 5, 6, dtype=dtype, device=device)
    out = layer(x)
    assert out.dtype == dtype
    assert out.device == x.device
    ref = ref_coordconv(x, layer.weight, layer.bias, 1, 1, 1, True)
    torch.testing.assert_close(out, ref, **tol(dtype) if device == "cpu" else {"rtol": 1e-3, "atol": 1e-3})


@pytest.mark.parametrize("cls", [CoordConv2d, ConcatCoordConv2d])
def test_output_shape_on_meta_device(cls):
    layer = cls(2, 3, 3, stride=2, padding=1, with_r=True).to("meta")
    out = layer(torch.empty(4, 2, 9, 8, device="meta"))
    assert out.device.type == "meta"
    assert out.shape == (4, 3, 5, 4)


@pytest.mark.parametrize("with_r", [False, True])
def test_channels_last_matches_contiguous(with_r):
    torch.manual_seed(0)
    layer = CoordConv2d(4, 6, 3, stride=2, padding=1, with_r=with_r)
    x = torch.randn(3, 4, 10, 9)
    x_cl = x.clone().to(memory_format=torch.channels_last).requires_grad_(True)
    x_c = x.clone().requires_grad_(True)
    out_c = layer(x_c)
    g = torch.randn_like(out_c)
    out_c.backward(g)
    grad_w_c = layer.weight.grad.clone()
    layer.zero_grad()
    out_cl = layer(x_cl)
    out_cl.backward(g)
    torch.testing.assert_close(out_cl, out_c, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x_cl.grad, x_c.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.weight.grad, grad_w_c, rtol=1e-5, atol=1e-4)
    # also with the layer's weight in channels_last
    layer = layer.to(memory_format=torch.channels_last)
    torch.testing.assert_close(layer(x_cl), out_c, rtol=1e-5, atol=1e-5)


def test_works_in_no_grad_and_inference_mode():
    layer = CoordConv2d(2, 3, 3, padding=1, with_r=True).double()
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64)
    ref = ref_coordconv(x, layer.weight.detach(), layer.bias.detach(), 1, 1, 1, True)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref, rtol=1e-12, atol=1e-12)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), ref, rtol=1e-12, atol=1e-12)


def test_repeated_forward_is_deterministic_and_does_not_mutate_input():
    layer = CoordConv2d(2, 3, 3, padding=1)
    x = torch.randn(2, 2, 5, 5)
    x0 = x.clone()
    a = layer(x)
    b = layer(x)
    assert torch.equal(a, b)
    assert torch.equal(x, x0)


# --------------------------------------------------------------------------- #
# It can learn the thing it exists for
# --------------------------------------------------------------------------- #
def test_zero_init_1x1_coordconv_learns_x_channel():
    torch.manual_seed(0)
    layer = CoordConv2d(1, 1, 1)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
    x = torch.randn(8, 1, 6, 7)
    target = ref_grid(6, 7, False)[:, :1].expand(8, -1, -1, -1)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    first = F.mse_loss(layer(x), target).item()
    for _ in range(150):
        opt.zero_grad()
        loss = F.mse_loss(layer(x), target)
        loss.backward()
        opt.step()
    final = F.mse_loss(layer(x), target).item()
    assert first > 0.3
    assert final < 1e-4, final
    torch.testing.assert_close(layer.weight.detach().flatten(), torch.tensor([0.0, 1.0, 0.0]), rtol=0, atol=2e-2)


# =========================================================================== #
# The layer family: CoordConv1d, CoordConv2d, CoordConv3d, CoordConvTranspose2d
# =========================================================================== #
# The reference for the whole family, independent of coordlib: coordinates from
# the formula 2 i / (n - 1) - 1 (0 for n == 1), inserted after each group's
# channels, then torch's own nn.ConvNd / nn.ConvTranspose2d (with its own
# padding_mode handling) loaded with the layer's state dict.
from coordlib.layers import CoordConv1d, CoordConv3d, CoordConvTranspose2d, coordinate_grid, coordinates

FAMILY = {
    "1d": (CoordConv1d, nn.Conv1d, 1),
    "2d": (CoordConv2d, nn.Conv2d, 2),
    "3d": (CoordConv3d, nn.Conv3d, 3),
    "t2d": (CoordConvTranspose2d, nn.ConvTranspose2d, 2),
}


def ref_coords(size, with_r, dtype=torch.float64):
    """(1, d[+1], *size): channel k varies along spatial axis -(k+1); r = |x| (1-D) or the Euclidean norm."""
    axes = [torch.zeros(1, dtype=torch.float64) if n == 1 else 2 * torch.arange(n, dtype=torch.float64) / (n - 1) - 1
            for n in size]
    mesh = torch.meshgrid(*axes, indexing="ij")  # mesh[a] varies along spatial axis a
    chans = list(reversed(mesh))
    if with_r:
        chans.append(torch.sqrt(sum(c * c for c in chans)))
    return torch.stack(chans).unsqueeze(0).to(dtype)


def ref_input(x, with_r, groups=1):
    """The concatenated input: the coordinates after each group's channels."""
    grid = ref_coords(x.shape[2:], with_r, x.dtype).expand(x.shape[0], *([-1] * (x.dim() - 1)))
    parts = []
    for xg in x.chunk(groups, dim=1):
        parts += [xg, grid]
    return torch.cat(parts, dim=1)


def ref_module(layer):
    """torch's own convolution over the concatenated channels, holding the layer's parameters."""
    kind = {CoordConv1d: "1d", CoordConv2d: "2d", CoordConv3d: "3d", CoordConvTranspose2d: "t2d"}[type(layer)]
    _, torch_cls, _ = FAMILY[kind]
    total_in = layer.in_channels + layer.groups * layer.extra_channels
    common = {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation, "groups": layer.groups,
                  "bias": layer.bias is not None, "padding_mode": layer.padding_mode}
    if kind == "t2d":
        common["output_padding"] = layer.output_padding
    ref = torch_cls(total_in, layer.out_channels, layer.kernel_size, **common).to(layer.weight.dtype)
    ref.load_state_dict(layer.state_dict())  # strict: same names, same shapes
    return ref


def make_layer(kind, cin, cout, k, with_r, dtype=torch.float64, **kwargs):
    cls = FAMILY[kind][0]
    return cls(cin, cout, k, with_r=with_r, dtype=dtype, **kwargs)


def check_forward_backward(layer, x, forward_kwargs=None, ref_kwargs=None):
    """Output and gradients (input, weight, bias) equal those of torch's layer on the concatenated input."""
    ref = ref_module(layer)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    out = layer(x1, **(forward_kwargs or {}))
    expected = ref(ref_input(x2, layer.with_r, layer.groups), **(ref_kwargs or {}))
    assert out.shape == expected.shape and out.dtype == x.dtype
    t = tol(x.dtype)
    torch.testing.assert_close(out, expected, **t)
    g = torch.randn_like(out)
    out.backward(g)
    expected.backward(g)
    wt = dict(t, atol=t["atol"] * 10)  # weight gradients sum over many positions
    torch.testing.assert_close(x1.grad, x2.grad, **t)
    torch.testing.assert_close(layer.weight.grad, ref.weight.grad, **wt)
    if layer.bias is not None:
        torch.testing.assert_close(layer.bias.grad, ref.bias.grad, **wt)
    return out


def test_ref_coords_agrees_with_the_book_reference():
    """The family reference and the 2-D reference above describe the same grid."""
    for h, w in [(1, 1), (4, 7), (5, 1)]:
        for with_r in (False, True):
            torch.testing.assert_close(ref_coords((h, w), with_r), ref_grid(h, w, with_r, torch.float64),
                                       rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- #
# Existing callers: bit-identical behaviour
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_coordconv2d_positional_callers_are_bit_identical(bias, with_r):
    """(in, out, k, stride, padding, dilation, bias, with_r) callers: the same init (RNG stream)
    as nn.Conv2d over the concatenated channels, and the same two convolutions and in-place add
    as before (chapters' stored numbers depend on both)."""
    extra = 3 if with_r else 2
    torch.manual_seed(3)
    layer = CoordConv2d(3, 5, 3, 2, 1, 1, bias, with_r)
    after_layer = torch.randn(4)
    torch.manual_seed(3)
    conv = nn.Conv2d(3 + extra, 5, 3, 2, 1, 1, bias=bias)
    assert torch.equal(torch.randn(4), after_layer), "construction must draw exactly what nn.Conv2d draws"
    assert torch.equal(layer.weight, conv.weight)
    if bias:
        assert torch.equal(layer.bias, conv.bias)
    x = torch.randn(4, 3, 11, 9)
    grid = coordinate_grid(11, 9, with_r)
    expected = F.conv2d(x, layer.weight[:, :3], layer.bias, (2, 2), (1, 1), (1, 1)).add_(
        F.conv2d(grid, layer.weight[:, 3:], None, (2, 2), (1, 1), (1, 1))
    )
    assert torch.equal(layer(x), expected)


def test_coordinate_grid_is_coordinates_of_two_sizes():
    for with_r in (False, True):
        assert torch.equal(coordinate_grid(5, 3, with_r), coordinates((5, 3), with_r))
    assert coordinates((4,), True).shape == (1, 2, 4)
    assert coordinates((2, 3, 4), True).shape == (1, 4, 2, 3, 4)
    with pytest.raises(ValueError, match="1 to 3 spatial sizes, got 4"):
        coordinates((2, 2, 2, 2))


# --------------------------------------------------------------------------- #
# AddCoords in 1-D and 3-D
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("dims,size", [(1, (7,)), (1, (1,)), (3, (3, 4, 5)), (3, (1, 2, 1)), (2, (3, 1))])
def test_addcoords_dims_values(dims, size, with_r):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    out = AddCoords(with_r, dims=dims)(x)
    assert out.shape == (2, 3 + dims + with_r, *size)
    assert torch.equal(out[:, :3], x)
    torch.testing.assert_close(out[:, 3:], ref_coords(size, with_r).expand(2, *([-1] * (dims + 1))),
                               rtol=0, atol=1e-14)
    assert AddCoords(with_r, dims=dims).extra_channels == dims + with_r


def test_addcoords_1d_r_is_abs_x_and_3d_r_is_norm():
    out1 = AddCoords(True, dims=1)(torch.zeros(1, 0, 5))
    assert torch.equal(out1[0, 1], torch.tensor([1.0, 0.5, 0.0, 0.5, 1.0]))
    out3 = AddCoords(True, dims=3)(torch.zeros(1, 0, 3, 3, 3, dtype=torch.float64))
    x, y, z, r = out3[0]
    assert torch.equal(x[0, 0], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))  # along W
    assert torch.equal(y[0, :, 0], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))  # along H
    assert torch.equal(z[:, 0, 0], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))  # along D
    assert r[1, 1, 1].item() == 0.0 and r[0, 0, 0].item() == pytest.approx(math.sqrt(3.0), abs=1e-15)


@pytest.mark.parametrize(
    "dims,bad,layout", [(1, torch.zeros(2, 3), "(N, C, L)"), (3, torch.zeros(1, 2, 3, 4), "(N, C, D, H, W)")]
)
def test_addcoords_dims_shape_errors(dims, bad, layout):
    with pytest.raises(ValueError, match=re.escape(layout)):
        AddCoords(dims=dims)(bad)


@pytest.mark.parametrize("dims", [0, 4, "2"])
def test_addcoords_invalid_dims(dims):
    with pytest.raises(ValueError, match=r"dims to be 1, 2 or 3, got"):
        AddCoords(dims=dims)


# --------------------------------------------------------------------------- #
# Exactness of the family: outputs and gradients, float32 and float64
# --------------------------------------------------------------------------- #
# kind, in, out, kernel, size, kwargs
FAMILY_CONFIGS = [
    ("1d", 2, 3, 3, (9,), {"padding": 1}),
    ("1d", 3, 2, 4, (11,), {"stride": 2, "padding": 2, "dilation": 2, "bias": False}),
    ("1d", 1, 2, 3, (1,), {"padding": 1}),
    ("1d", 2, 2, 2, (6,), {"padding": "same"}),
    ("2d", 2, 3, (3, 2), (7, 5), {"stride": (2, 1), "padding": (1, 0)}),
    ("2d", 3, 4, 3, (1, 6), {"padding": 1, "dilation": (1, 2), "bias": False}),
    ("2d", 1, 2, 3, (5, 1), {"padding": (1, 1)}),
    ("2d", 2, 1, 2, (4, 5), {"padding": "valid"}),
    ("3d", 2, 3, 3, (3, 5, 4), {"padding": 1}),
    ("3d", 1, 2, (1, 3, 2), (1, 4, 5), {"stride": (1, 2, 1), "padding": (0, 1, 1), "bias": False}),
    ("3d", 2, 2, 3, (5, 3, 1), {"padding": (2, 1, 1), "dilation": (2, 1, 1)}),
    ("t2d", 2, 3, 3, (5, 4), {"stride": 2, "padding": 1, "output_padding": 1}),
    ("t2d", 3, 2, (2, 3), (1, 6), {"stride": (1, 2), "dilation": (2, 1), "bias": False}),
    ("t2d", 1, 2, 3, (3, 1), {"stride": 3, "padding": (1, 0), "output_padding": (2, 1), "dilation": 2}),
    ("t2d", 2, 2, 1, (4, 4), {}),
]


def _family_id(c):
    kind, cin, cout, k, size, kw = c
    extra = "-".join(f"{key}{val}" for key, val in kw.items())
    return f"{kind}-{cin}to{cout}-k{k}-{'x'.join(map(str, size))}-{extra}".replace(" ", "")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", FAMILY_CONFIGS, ids=[_family_id(c) for c in FAMILY_CONFIGS])
def test_family_matches_concatenate_then_convolve(cfg, dtype, with_r):
    torch.manual_seed(0)
    kind, cin, cout, k, size, kwargs = cfg
    layer = make_layer(kind, cin, cout, k, with_r, dtype=dtype, **kwargs)
    ndim = FAMILY[kind][2]
    assert layer.extra_channels == ndim + with_r
    x = torch.randn(3, cin, *size, dtype=dtype)
    check_forward_backward(layer, x)


@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
def test_family_literal_contract_with_addcoords(kind):
    """layer(x) == F.convNd(AddCoords(with_r, dims)(x), weight, bias, ...), with coordlib's own AddCoords."""
    _cls, _, ndim = FAMILY[kind]
    layer = make_layer(kind, 2, 3, 3, True, stride=2, padding=1)
    x = torch.randn(2, 2, *([5] * ndim), dtype=torch.float64)
    cat = AddCoords(True, dims=ndim)(x)
    if kind == "t2d":
        expected = F.conv_transpose2d(cat, layer.weight, layer.bias, 2, 1)
    else:
        expected = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[ndim](cat, layer.weight, layer.bias, 2, 1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- #
# padding_mode: the coordinates are padded like the input
# --------------------------------------------------------------------------- #
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "kind,k,size,kwargs",
    [
        ("1d", 3, (7,), {"padding": 2}),
        ("2d", 3, (5, 6), {"padding": (1, 2), "stride": (2, 1)}),
        ("2d", (2, 4), (5, 7), {"padding": "same"}),  # asymmetric: the extra pixel goes right/bottom
        ("2d", 3, (6, 5), {"padding": 2, "dilation": 2}),
        ("3d", 3, (3, 4, 5), {"padding": (1, 1, 2)}),
    ],
    ids=["1d", "2d", "2d-same-even", "2d-dilated", "3d"],
)
def test_padding_modes_match_concatenate_then_pad(kind, k, size, kwargs, mode):
    torch.manual_seed(0)
    layer = make_layer(kind, 2, 3, k, True, padding_mode=mode, **kwargs)
    assert layer.padding_mode == mode
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    check_forward_backward(layer, x)


def test_circular_padding_coordinate_term_wraps_around():
    """Only the x weight is non-zero, a 1x3 kernel of ones: at the left border the padded
    column is the *right* edge's x = +1 with circular padding (zeros: 0, replicate: -1)."""
    out = {}
    for mode in ("zeros", "replicate", "circular", "reflect"):
        layer = CoordConv2d(1, 1, (1, 3), padding=(0, 1), bias=False, padding_mode=mode).double()
        with torch.no_grad():
            layer.weight.zero_()
            layer.weight[0, 1] = 1.0  # the x channel
        out[mode] = layer(torch.zeros(1, 1, 2, 5, dtype=torch.float64))[0, 0, 0, 0].item()
    # x = [-1, -0.5, 0, 0.5, 1]: left column sees (pad, -1, -0.5)
    assert out == pytest.approx({"zeros": -1.5, "replicate": -2.5, "circular": -0.5, "reflect": -2.0})


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_concat_reference_layer_agrees(mode):
    torch.manual_seed(0)
    a = CoordConv2d(2, 3, 3, padding=(1, 2), with_r=True, padding_mode=mode).double()
    b = ConcatCoordConv2d(2, 3, 3, padding=(1, 2), with_r=True, padding_mode=mode).double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(b(x), ref_module(a)(ref_input(x, True)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a(x), b(x), rtol=1e-12, atol=1e-12)


def test_transposed_refuses_non_zero_padding_mode():
    with pytest.raises(ValueError, match=r"padding_mode to be one of \('zeros',\), got 'reflect'"):
        CoordConvTranspose2d(2, 3, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="zeros"):  # torch refuses it too
        nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect")(torch.zeros(1, 2, 4, 4))


# --------------------------------------------------------------------------- #
# groups: each group sees its own copy of the coordinates
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("with_r", [False, True])
@pytest.mark.parametrize(
    "kind,cin,cout,groups,kwargs",
    [
        ("2d", 4, 6, 2, {"padding": 1}),
        ("2d", 6, 6, 6, {"padding": 1, "stride": 2}),  # depthwise
        ("2d", 4, 8, 4, {"padding": 1, "padding_mode": "reflect"}),
        ("1d", 6, 3, 3, {"padding": 1}),
        ("3d", 4, 2, 2, {"padding": 1}),
        ("t2d", 4, 6, 2, {"stride": 2, "padding": 1, "output_padding": 1}),
        ("t2d", 3, 3, 3, {"stride": 2}),  # depthwise transposed
    ],
)
def test_groups_match_per_group_concatenation(kind, cin, cout, groups, kwargs, with_r):
    torch.manual_seed(0)
    layer = make_layer(kind, cin, cout, 3, with_r, groups=groups, **kwargs)
    extra = layer.extra_channels
    if kind == "t2d":
        assert layer.weight.shape[:2] == (cin + groups * extra, cout // groups)
    else:
        assert layer.weight.shape[:2] == (cout, cin // groups + extra)
    x = torch.randn(2, cin, *([5] * FAMILY[kind][2]), dtype=torch.float64)
    check_forward_backward(layer, x)


def test_groups_concat_reference_layer_agrees():
    torch.manual_seed(0)
    a = CoordConv2d(4, 6, 3, padding=1, with_r=True, groups=2).double()
    b = ConcatCoordConv2d(4, 6, 3, padding=1, with_r=True, groups=2).double()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    torch.testing.assert_close(a(x), b(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b(x), ref_module(a)(ref_input(x, True, 2)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
@pytest.mark.parametrize(
    "kwargs,msg",
    [
        ({"groups": 0}, "groups to be a positive int, got 0"),
        ({"groups": 1.5}, "groups to be a positive int, got 1.5"),
        ({"in_channels": 3, "groups": 2}, "in_channels divisible by groups=2, got in_channels=3"),
        ({"out_channels": 5, "groups": 2}, "out_channels divisible by groups=2, got out_channels=5"),
    ],
)
def test_groups_validation(kind, kwargs, msg):
    args = {"in_channels": 4, "out_channels": 4, "kernel_size": 3}
    args.update(kwargs)
    with pytest.raises(ValueError, match=re.escape(msg)):
        FAMILY[kind][0](**args)


# --------------------------------------------------------------------------- #
# ConvTranspose2d: output_size
# --------------------------------------------------------------------------- #
def test_transposed_output_size_matches_torch():
    torch.manual_seed(0)
    layer = make_layer("t2d", 2, 3, 3, True, stride=(2, 3), padding=1)
    x = torch.randn(2, 2, 4, 5, dtype=torch.float64)
    for size in [(7, 13), (8, 15), [2, 3, 8, 14]]:
        out = check_forward_backward(layer, x, {"output_size": size}, {"output_size": size})
        assert tuple(out.shape[2:]) == tuple(size)[-2:]
        layer.zero_grad()
    with pytest.raises(ValueError, match=r"requested output size \[9, 13\].*from \[7, 13\] to \[8, 15\]"):
        layer(x, output_size=(9, 13))
    with pytest.raises(ValueError, match="output_size of 2 or 4 ints, got 3"):
        layer(x, output_size=(1, 7, 13))


# --------------------------------------------------------------------------- #
# Argument validation, as nn.Conv2d's but stricter and with precise messages
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
@pytest.mark.parametrize(
    "name,value,exc,msg",
    [
        ("kernel_size", 0, ValueError, "kernel_size to be a positive int or a tuple of {d} positive ints, got 0"),
        ("kernel_size", -3, ValueError, "kernel_size to be a positive int or a tuple of {d} positive ints, got -3"),
        ("kernel_size", 2.5, TypeError, "kernel_size to be a positive int"),
        ("kernel_size", True, TypeError, "kernel_size to be a positive int"),
        ("kernel_size", (3,) * 4, ValueError, "got 4 values"),
        ("stride", 0, ValueError, "stride to be a positive int or a tuple of {d} positive ints, got 0"),
        ("stride", -1, ValueError, "stride to be a positive int"),
        ("padding", -1, ValueError, "padding to be a non-negative int or a tuple of {d} non-negative ints, got -1"),
        ("dilation", 0, ValueError, "dilation to be a positive int or a tuple of {d} positive ints, got 0"),
        ("padding_mode", "mirror", ValueError, "padding_mode to be one of"),
    ],
)
def test_geometry_validation(kind, name, value, exc, msg):
    cls, _, d = FAMILY[kind]
    with pytest.raises(exc, match=re.escape(msg.format(d=d))):
        cls(2, 3, **{"kernel_size": 3, name: value})


@pytest.mark.parametrize("kind", ["1d", "2d", "3d"])
def test_padding_strings_validation(kind):
    cls = FAMILY[kind][0]
    with pytest.raises(ValueError, match=r"padding 'same', 'valid' or non-negative ints, got 'full'"):
        cls(2, 3, 3, padding="full")
    with pytest.raises(ValueError, match=r"padding='same' is not supported for strided convolutions"):
        cls(2, 3, 3, stride=2, padding="same")
    assert cls(2, 3, 3, padding="valid").padding == "valid"


def test_transposed_validation():
    with pytest.raises(TypeError, match="padding to be a non-negative int"):
        CoordConvTranspose2d(2, 3, 3, padding="same")
    with pytest.raises(ValueError, match=r"output_padding smaller than stride or dilation.*\(2, 2\)"):
        CoordConvTranspose2d(2, 3, 3, stride=2, output_padding=2)
    CoordConvTranspose2d(2, 3, 3, stride=1, dilation=2, output_padding=1)  # smaller than dilation: allowed


def test_tuple_geometry_and_numpy_ints_are_accepted():
    np = pytest.importorskip("numpy")
    layer = CoordConv3d(2, 3, [np.int64(3), 1, 2], stride=(1, 2, 1), padding=np.int32(1))
    assert layer.kernel_size == (3, 1, 2) and layer.stride == (1, 2, 1) and layer.padding == (1, 1, 1)
    assert all(type(v) is int for v in layer.kernel_size + layer.padding)


# --------------------------------------------------------------------------- #
# Factory kwargs, parameters, state dicts, initialisation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
def test_factory_kwargs(kind):
    cls = FAMILY[kind][0]
    layer = cls(2, 3, 3, dtype=torch.float64)
    assert layer.weight.dtype == torch.float64 and layer.bias.dtype == torch.float64
    meta = cls(2, 3, 3, device="meta", with_r=True)
    assert meta.weight.device.type == "meta"
    x = torch.empty(4, 2, *([6] * FAMILY[kind][2]), device="meta")
    out = meta(x)
    assert out.device.type == "meta" and out.shape[:2] == (4, 3)


@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
@pytest.mark.parametrize("with_r", [False, True])
def test_family_init_and_state_dict_match_torch_layout(kind, with_r):
    """Same RNG draws, values and state dict as torch's layer over the concatenated channels."""
    cls, torch_cls, d = FAMILY[kind]
    torch.manual_seed(5)
    layer = cls(4, 6, 3, with_r=with_r, groups=2)
    torch.manual_seed(5)
    ref = torch_cls(4 + 2 * (d + with_r), 6, 3, groups=2)
    assert torch.equal(layer.weight, ref.weight) and torch.equal(layer.bias, ref.bias)
    assert list(layer.state_dict()) == list(ref.state_dict()) == ["weight", "bias"]
    layer.load_state_dict(ref.state_dict())
    torch.manual_seed(6)
    layer.reset_parameters()
    torch.manual_seed(6)
    ref.reset_parameters()
    assert torch.equal(layer.weight, ref.weight) and torch.equal(layer.bias, ref.bias)


def test_extra_repr_shows_non_default_options():
    text = repr(CoordConv2d(4, 4, 3, groups=2, padding_mode="circular", with_r=True))
    assert "groups=2" in text and "padding_mode='circular'" in text and "with_r=True" in text
    assert "groups" not in repr(CoordConv2d(4, 4, 3))
    assert "output_padding=(1, 1)" in repr(CoordConvTranspose2d(2, 2, 3, stride=2, output_padding=1))


@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
def test_family_input_errors(kind):
    cls, _, d = FAMILY[kind]
    layer = cls(3, 2, 3)
    layout = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[d]
    with pytest.raises(ValueError, match=re.escape(layout)):
        layer(torch.zeros(1, 3, *([4] * (d + 1))))
    with pytest.raises(ValueError, match=r"expected 3 input channels .* got 5 channels"):
        layer(torch.zeros(1, 5, *([4] * d)))
    with pytest.raises(TypeError, match="floating"):
        layer(torch.zeros(1, 3, *([4] * d), dtype=torch.int64))


# --------------------------------------------------------------------------- #
# No concatenation, the coordinate term on a batch of one
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
def test_family_never_concatenates(monkeypatch, kind):
    layer = make_layer(kind, 2, 4, 3, True, padding=1, groups=2)
    x = torch.randn(4, 2, *([5] * FAMILY[kind][2]), dtype=torch.float64)
    expected = ref_module(layer)(ref_input(x, True, 2))

    def boom(*args, **kwargs):
        raise AssertionError("must not concatenate onto the batch")

    for name in ("cat", "concat", "concatenate"):
        monkeypatch.setattr(coordlib.layers.coordconv.torch, name, boom)
    out = layer(x)
    out.sum().backward()
    monkeypatch.undo()
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["1d", "3d", "t2d"])
def test_family_coordinate_term_is_batch_of_one(kind):
    layer = make_layer(kind, 2, 3, 3, True, padding=1)
    d = FAMILY[kind][2]
    x = torch.randn(4, 2, *([5] * d), dtype=torch.float64)
    term = layer.coordinate_term(*([5] * d), dtype=torch.float64)
    assert term.shape == (1, *layer(x).shape[1:])
    zero_input = layer(torch.zeros_like(x))
    bias = layer.bias.view(1, -1, *([1] * d))
    torch.testing.assert_close(zero_input, (term + bias).expand_as(zero_input), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- #
# Half precision keeps its dtype (CPU: torch runs float16 and bfloat16 convs)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("kind", ["1d", "2d", "3d", "t2d"])
def test_half_precision_keeps_dtype(kind, dtype):
    torch.manual_seed(0)
    layer = make_layer(kind, 2, 3, 3, True, padding=1)
    x = torch.randn(2, 2, *([6] * FAMILY[kind][2]), dtype=torch.float64)
    expected = ref_module(layer)(ref_input(x, True))
    half = layer.to(dtype)
    xh = x.to(dtype).requires_grad_(True)
    out = half(xh)
    assert out.dtype == dtype
    out.float().sum().backward()
    assert xh.grad.dtype == dtype and half.weight.grad.dtype == dtype
    loose = {"rtol": 5e-2, "atol": 5e-2} if dtype == torch.bfloat16 else {"rtol": 1e-2, "atol": 1e-2}
    torch.testing.assert_close(out.double(), expected, **loose)
