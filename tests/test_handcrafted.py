"""Tests for coordlib.models.handcrafted: the critique's fixed-weight networks (Piekniewski, 2018).

Every check is exhaustive: all positions of each canvas, square and not. The
references are built here, independently of coordlib: the one-hot of position
``k`` is row ``k`` of an identity matrix reshaped to ``(H, W)``, whose single 1
sits at row ``k // W`` and column ``k % W``, and the expected coordinates come
from ``torch.meshgrid``.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from coordlib import models
from coordlib.models import CoordToOneHot, OneHotToCoord

# (height, width): square, the critique's 70 rows x 100 columns, a single row,
# a single column, a small non-square canvas and a single pixel.
SIZES = [(64, 64), (70, 100), (1, 9), (9, 1), (5, 3), (1, 1)]
SMALL = [(1, 9), (9, 1), (5, 3), (1, 1), (4, 7)]
CHUNK = 256


def ids(size):
    return f"{size[0]}x{size[1]}"


def ref_positions(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) int64 (x, y) in row-major order, from meshgrid."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def ref_onehots(h: int, w: int) -> torch.Tensor:
    """(h*w, 1, h, w) float32: image k is row k of the identity, reshaped."""
    return torch.eye(h * w).reshape(h * w, 1, h, w)


def chunked(net: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([net(part) for part in inputs.split(CHUNK)])


@pytest.fixture(scope="module", params=SIZES, ids=ids)
def case(request):
    """Everything computed once per canvas: inputs, references and both networks' outputs."""
    h, w = request.param
    positions, images = ref_positions(h, w), ref_onehots(h, w)
    to_coord, to_image = OneHotToCoord(h, w), CoordToOneHot(h, w)
    coords = chunked(to_coord, images)
    drawn = chunked(to_image, positions)
    return dict(h=h, w=w, positions=positions, images=images, to_coord=to_coord, to_image=to_image,
                coords=coords, drawn=drawn)


# --------------------------------------------------------------------------- #
# Exactness, every position
# --------------------------------------------------------------------------- #
def test_onehot_to_coord_is_exact_at_every_position(case):
    assert case["coords"].shape == (case["h"] * case["w"], 2)
    assert case["coords"].dtype == torch.float32
    assert torch.equal(case["coords"], case["positions"].float())


def test_coord_to_onehot_is_exact_at_every_position(case):
    assert case["drawn"].shape == (case["h"] * case["w"], 1, case["h"], case["w"])
    assert case["drawn"].dtype == torch.float32
    assert torch.equal(case["drawn"], case["images"])


def test_round_trip_image_coords_image(case):
    again = chunked(case["to_image"], case["coords"])  # float coordinates straight from the other net
    assert torch.equal(again, case["images"])


def test_round_trip_coords_image_coords(case):
    again = chunked(case["to_coord"], case["drawn"])
    assert torch.equal(again, case["positions"].float())


@pytest.mark.parametrize("size", SMALL, ids=ids)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.int16, torch.float32, torch.float64])
def test_coord_to_onehot_accepts_integer_and_integer_valued_float_dtypes(size, dtype):
    h, w = size
    out = CoordToOneHot(h, w)(ref_positions(h, w).to(dtype))
    assert out.dtype == torch.float32
    assert torch.equal(out, ref_onehots(h, w))


@pytest.mark.parametrize("size", SMALL, ids=ids)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_onehot_to_coord_accepts_other_floating_inputs(size, dtype):
    h, w = size
    out = OneHotToCoord(h, w)(ref_onehots(h, w).to(dtype))
    assert out.dtype == torch.float32  # the module's dtype
    assert torch.equal(out, ref_positions(h, w).float())


@pytest.mark.parametrize("size", SMALL, ids=ids)
def test_both_stay_exact_in_float64(size):
    h, w = size
    to_coord, to_image = OneHotToCoord(h, w).double(), CoordToOneHot(h, w).double()
    coords = to_coord(ref_onehots(h, w).double())
    assert coords.dtype == torch.float64 and torch.equal(coords, ref_positions(h, w).double())
    drawn = to_image(ref_positions(h, w))
    assert drawn.dtype == torch.float64 and torch.equal(drawn, ref_onehots(h, w).double())


def test_batch_order_and_repeats_are_respected():
    h, w = 5, 3
    xy = torch.tensor([[2, 4], [0, 0], [2, 4], [1, 3]])
    images = CoordToOneHot(h, w)(xy)
    for n, (x, y) in enumerate(xy.tolist()):
        assert images[n, 0, y, x] == 1 and images[n].sum() == 1
    assert torch.equal(OneHotToCoord(h, w)(images), xy.float())


def test_empty_batch():
    assert OneHotToCoord(5, 3)(torch.zeros(0, 1, 5, 3)).shape == (0, 2)
    assert CoordToOneHot(5, 3)(torch.zeros(0, 2, dtype=torch.long)).shape == (0, 1, 5, 3)


# --------------------------------------------------------------------------- #
# The construction itself: fixed weights, named layers, nothing to train
# --------------------------------------------------------------------------- #
def leaves(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if not list(m.children())]


def test_onehot_to_coord_is_one_conv_and_one_relu_with_the_critiques_weights():
    h, w = 70, 100
    net = OneHotToCoord(h, w)
    kinds = [type(m) for m in leaves(net)]
    assert kinds.count(nn.Conv2d) == 1 and kinds.count(nn.ReLU) == 1 and len(kinds) == 2
    assert net.conv.kernel_size == (1, 1) and net.conv.bias is None
    expected = torch.tensor([[w, -1, 0], [h, 0, -1]], dtype=torch.float32).view(2, 3, 1, 1)
    assert torch.equal(net.conv.weight, expected)
    assert torch.equal(net.offset, torch.tensor([float(w), float(h)]))


def test_coord_to_onehot_is_three_1x1_convs_each_followed_by_a_relu():
    net = CoordToOneHot(5, 3)
    kinds = [type(m) for m in leaves(net)]
    assert kinds == [nn.Conv2d, nn.ReLU] * 3
    convs = [m for m in leaves(net) if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(4, 4), (4, 2), (2, 1)]
    assert all(c.kernel_size == (1, 1) for c in convs)


@pytest.mark.parametrize("cls, n_params", [(OneHotToCoord, 6), (CoordToOneHot, 29)])
def test_nothing_to_train(cls, n_params):
    net = cls(70, 100)
    params = list(net.parameters())
    assert sum(p.numel() for p in params) == n_params
    assert all(not p.requires_grad for p in params)
    assert sum(p.numel() for p in params if p.requires_grad) == 0
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD([p for p in params if p.requires_grad], lr=0.1)


@pytest.mark.parametrize("cls", [OneHotToCoord, CoordToOneHot])
def test_coordinate_maps_are_integer_indices_and_not_saved(cls):
    net = cls(5, 3)
    assert torch.equal(net.X[0, 0], torch.arange(3.0).expand(5, 3))
    assert torch.equal(net.Y[0, 0], torch.arange(5.0).view(5, 1).expand(5, 3))
    assert "X" not in net.state_dict() and "Y" not in net.state_dict()
    fresh = cls(5, 3)
    fresh.load_state_dict(net.state_dict())  # round-trips without the maps


def test_output_does_not_track_gradients_to_the_weights():
    net = OneHotToCoord(5, 3)
    image = ref_onehots(5, 3)[:4].requires_grad_(True)
    net(image).sum().backward()  # gradients flow to the input only
    assert image.grad is not None and all(p.grad is None for p in net.parameters())


# --------------------------------------------------------------------------- #
# The tests can fail: a wrong weight is caught by the exhaustive checks
# --------------------------------------------------------------------------- #
def test_a_coefficient_smaller_than_the_width_loses_the_last_column():
    h, w = 5, 3
    net = OneHotToCoord(h, w)
    with torch.no_grad():  # c*A - X and the constant c with c = W - 2: ReLU(c - x) is 0 for x = W - 1
        net.conv.weight[0, 0] = w - 2
        net.offset[0] = w - 2
    wrong = (net(ref_onehots(h, w)) != ref_positions(h, w).float()).any(dim=1)
    assert wrong.sum() == h  # exactly the h positions of the last column
    assert torch.equal(ref_positions(h, w)[wrong, 0], torch.full((h,), w - 1))


def test_a_loose_match_threshold_lights_up_neighbours():
    net = CoordToOneHot(5, 3)
    with torch.no_grad():
        net.layers.match.bias.fill_(2.0)  # ReLU(2 - |d|) is also positive at distance 1
    drawn = net(ref_positions(5, 3))
    assert not torch.equal(drawn, ref_onehots(5, 3))


def test_images_that_are_not_one_hot_give_the_documented_values():
    h, w = 5, 3
    net = OneHotToCoord(h, w)
    assert torch.equal(net(torch.zeros(1, 1, h, w)), torch.tensor([[float(w), float(h)]]))
    two = torch.zeros(1, 1, h, w)
    two[0, 0, 1, 0] = two[0, 0, 4, 2] = 1  # (x, y) = (0, 1) and (2, 4)
    assert torch.equal(net(two), torch.tensor([[0.0 + 2 - w, 1.0 + 4 - h]]))


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("size", SMALL + [(70, 100)], ids=ids)
def test_helpers_match_the_references(size):
    h, w = size
    assert torch.equal(models.all_positions(h, w), ref_positions(h, w))
    assert torch.equal(models.onehot_images(ref_positions(h, w), h, w), ref_onehots(h, w))
    grid = models.index_grid(h, w)
    assert grid.shape == (1, 2, h, w)
    assert torch.equal(grid[0, :, ref_positions(h, w)[:, 1], ref_positions(h, w)[:, 0]].T,
                       ref_positions(h, w).float())


# --------------------------------------------------------------------------- #
# Errors: what was expected and what was given
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 2, 5, 3), (2, 1, 3, 5), (2, 1, 5, 4), (1, 1, 1, 5, 3)])
def test_onehot_to_coord_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=re.escape(f"expected a one-hot image batch of shape (N, 1, 5, 3), "
                                                   f"got shape {shape}")):
        OneHotToCoord(5, 3)(torch.zeros(shape))


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_onehot_to_coord_rejects_non_floating_input(dtype):
    with pytest.raises(TypeError, match=f"floating-point input.*got dtype {re.escape(str(dtype))}"):
        OneHotToCoord(5, 3)(torch.zeros(1, 1, 5, 3, dtype=dtype))


def test_onehot_to_coord_rejects_non_tensors():
    with pytest.raises(TypeError, match=r"torch.Tensor of shape \(N, 1, 5, 3\), got list"):
        OneHotToCoord(5, 3)([[0.0]])


@pytest.mark.parametrize("shape", [(4,), (4, 3), (4, 1), (4, 2, 1), (2, 4)])
def test_coord_to_onehot_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match=re.escape(f"expected coordinates of shape (N, 2) holding (x, y), "
                                                   f"got shape {shape}")):
        CoordToOneHot(5, 3)(torch.ones(shape, dtype=torch.long))


@pytest.mark.parametrize("bad", [[1.5, 2.0], [1.0, float("nan")], [float("inf"), 0.0]])
def test_coord_to_onehot_rejects_non_integer_values(bad):
    coords = torch.tensor([[0.0, 0.0], bad])
    with pytest.raises(ValueError, match=r"integer-valued coordinates.*in row 1"):
        CoordToOneHot(5, 3)(coords)


@pytest.mark.parametrize("bad", [[3, 0], [-1, 0], [0, 5], [0, -1]])
def test_coord_to_onehot_rejects_coordinates_outside_the_canvas(bad):
    coords = torch.tensor([[0, 0], [2, 4], bad])
    msg = re.escape(f"inside the 5 x 3 canvas (0 <= x < 3, 0 <= y < 5), got (x, y) = {tuple(bad)} in row 2")
    with pytest.raises(ValueError, match=msg):
        CoordToOneHot(5, 3)(coords)


def test_coord_to_onehot_rejects_bool_and_non_tensors():
    with pytest.raises(TypeError, match="integer or floating coordinates, got dtype torch.bool"):
        CoordToOneHot(5, 3)(torch.zeros(1, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"torch.Tensor of shape \(N, 2\).*got tuple"):
        CoordToOneHot(5, 3)((1, 2))


@pytest.mark.parametrize("cls", [OneHotToCoord, CoordToOneHot])
@pytest.mark.parametrize("h, w, name, error", [(0, 3, "height", ValueError), (5, -1, "width", ValueError),
                                               (5.0, 3, "height", TypeError), (5, True, "width", TypeError)])
def test_constructors_reject_bad_sizes(cls, h, w, name, error):
    with pytest.raises(error, match=f"{cls.__name__} expected {name} as an int >= 1, got"):
        cls(h, w)
