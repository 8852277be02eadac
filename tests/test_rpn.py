"""The released region proposal network (coordlib.models.rpn): anchors, network, sampler, losses, NMS, metric."""

import pytest
import torch
from torchvision.ops import box_iou

from coordlib import datasets, metrics, models, training

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tiny():
    return datasets.field_of_mnist(6, seed=3, binary=True)


# --------------------------------------------------------------------------- anchors


def test_feature_sizes_and_centres_follow_the_receptive_field():
    assert models.feature_size("valid") == 13 and models.feature_size("same") == 16
    valid = models.anchors("valid", "intended").view(13, 13, 9, 4)
    same = models.anchors("same", "intended").view(16, 16, 9, 4)
    assert valid[:, 0, 0, 0].tolist() == [8.0 + 4 * i for i in range(13)]  # rows: 8 .. 56
    assert valid[0, :, 0, 1].tolist() == [8.0 + 4 * j for j in range(13)]  # columns
    assert same[:, 0, 0, 0].tolist() == [2.0 + 4 * i for i in range(16)]  # 2 .. 62
    assert valid[4, 7, :, 2:].tolist() == [list(map(float, s)) for s in models.rpn.ANCHOR_SHAPES]


def test_release_layout_reads_a_coordinate_major_array_anchor_major():
    side, k = 13, 9
    centres = [8.0 + 4 * i for i in range(side)]
    release = models.anchors("valid", "release").view(side, side, k, 4)
    for i, j in [(0, 0), (2, 5), (12, 3)]:
        # channel c of location (i, j) holds plane c // 9 (cy, cx, h, w) of template c % 9 ...
        planes = [[centres[i]] * k, [centres[j]] * k, [float(h) for h, _ in models.rpn.ANCHOR_SHAPES],
                  [float(w) for _, w in models.rpn.ANCHOR_SHAPES]]
        channels = [planes[c // k][c % k] for c in range(4 * k)]
        # ... and the network reads channels 4n .. 4n + 3 as anchor n
        assert release[i, j].flatten().tolist() == channels
    assert release[2, 5, 0].tolist() == [16.0, 16.0, 16.0, 16.0]
    assert release[2, 5, 2].tolist() == [16.0, 28.0, 28.0, 28.0]
    # anchors 5 to 8 are the same box at every location
    assert torch.equal(release[:, :, 5:], release[0, 0, 5:].expand(side, side, 4, 4))
    assert release[0, 0, 5:].tolist() == [[25, 15, 20, 20], [25, 15, 25, 15], [20, 25, 20, 25], [15, 20, 25, 15]]


def test_box_conversions_and_deltas_invert_each_other():
    a = torch.tensor([[10.0, 20.0, 8.0, 4.0], [30.0, 30.0, 20.0, 25.0]])
    assert models.to_xyxy(a).tolist() == [[18.0, 6.0, 22.0, 14.0], [17.5, 20.0, 42.5, 40.0]]
    assert torch.allclose(models.from_xyxy(models.to_xyxy(a)), a)
    t = torch.tensor([[12.0, 18.0, 16.0, 2.0], [31.0, 29.0, 10.0, 50.0]])
    d = models.target_deltas(a, t)
    assert torch.allclose(d[0], torch.tensor([0.25, -0.5, 0.6931472, -0.6931472]))
    assert torch.allclose(models.apply_deltas(a, d), t)
    assert torch.equal(models.apply_deltas(a, torch.zeros_like(a)), a)


# --------------------------------------------------------------------------- network


def test_shapes_coordinates_at_three_places_and_zero_box_output():
    plain, cc = models.rpn.RPN(False), models.rpn.RPN(True)
    x = torch.rand(2, 1, 64, 64)
    for m in (plain, cc):
        deltas, logits = m(x)
        assert deltas.shape == (2, 13 * 13 * 9, 4) and logits.shape == (2, 13 * 13 * 9, 2)
        assert torch.count_nonzero(deltas) == 0  # zero-initialised box regression: boxes start as anchors
    conv_in = lambda m: [c.in_channels for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert conv_in(plain) == [1, 32, 64, 32, 32, 32]
    assert conv_in(cc) == [3, 32, 66, 32, 34, 32]  # input, RPN 3x3 conv, box-regression 1x1 conv
    params = lambda m: sum(p.numel() for p in m.parameters())
    assert params(cc) - params(plain) == 2 * (32 * 25 + 32 * 9 + 36)
    same = models.rpn.RPN(False, padding="same")
    assert same(x)[0].shape == (2, 16 * 16 * 9, 4)


def test_release_coordinates_are_zero_to_one_columns_then_rows():
    g = models.release_coordinates(3, 5)
    assert g.shape == (1, 2, 3, 5)
    assert g[0, 0, 1].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and g[0, 1, :, 2].tolist() == [0.0, 0.5, 1.0]


def test_init_is_seeded_he_normal_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = models.rpn.RPN(True, seed=1), models.rpn.RPN(True, seed=1), models.rpn.RPN(True, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.backbone[1].weight, c.backbone[1].weight)
    w = models.rpn.RPN(False, seed=0).rpn_conv[0].weight.detach()  # fan_in 64 * 9
    assert abs(float(w.std()) - (2 / 576) ** 0.5) < 0.003 and float(w.abs().max()) <= 2 * (2 / 576) ** 0.5 / 0.8796 + 1e-6
    assert all(torch.count_nonzero(m.bias) == 0 for m in a.modules() if isinstance(m, torch.nn.Conv2d))


def test_bad_arguments():
    with pytest.raises(ValueError, match="padding"):
        models.rpn.RPN(padding="full")
    with pytest.raises(ValueError, match="layout"):
        models.anchors(layout="shuffled")
    with pytest.raises(ValueError, match="64x64"):
        models.rpn.RPN()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="steps"):
        training.train_rpn(models.rpn.RPN(), datasets.field_of_mnist(1), steps=-1)
    with pytest.raises(TypeError, match="FieldOfMnist"):
        training.train_rpn(models.rpn.RPN(), torch.zeros(1, 1, 64, 64), steps=1)
    with pytest.raises(ValueError, match="one proposal set per image"):
        metrics.mean_argmax_nms_iou([], [])


# --------------------------------------------------------------------------- sampler and losses


def _xyxy(*boxes):
    return torch.tensor(boxes, dtype=torch.float32)


def test_sampler_positives_negatives_and_bounds():
    gt = _xyxy([10, 10, 30, 30])
    boxes = _xyxy(
        [10, 10, 30, 30],  # 0: IOU 1 -> positive (and the closest)
        [11, 10, 31, 30],  # 1: IOU 0.905 -> positive
        [-5, 10, 15, 30],  # 2: overlaps 0.143 but leaves the image
        *[[40 + i, 40, 50 + i, 50] for i in range(8)],  # 3..10: IOU 0, inside -> negative candidates
        [55, 55, 70, 70],  # 11: IOU 0 but outside (x1 > 63): neither
    )
    pairs, neg = training.rpn.sample(boxes, gt, generator=torch.Generator().manual_seed(0))
    assert sorted(pairs[:, 0].tolist()) == [0, 1] and pairs[:, 1].tolist() == [0, 0]
    assert len(neg) == 6 and set(neg.tolist()) <= set(range(3, 11))
    # fewer than 7 negative candidates: the release draws none
    pairs, neg = training.rpn.sample(boxes[:8], gt)
    assert len(neg) == 0
    # a ground truth no box overlaps still gets its closest box (the first of equal ones) as a positive
    far = _xyxy([0, 0, 4, 4])
    pairs, _ = training.rpn.sample(boxes[3:11], far)
    assert pairs.tolist() == [[0, 0]]


def test_sampler_caps_positives_at_six():
    gt = _xyxy([10, 10, 30, 30])
    boxes = torch.stack([_xyxy([10 + d / 10, 10, 30 + d / 10, 30])[0] for d in range(20)])
    pairs, _ = training.rpn.sample(boxes, gt, generator=torch.Generator().manual_seed(1))
    assert len(pairs) == 6 and len(set(pairs[:, 0].tolist())) == 6


def test_losses_are_the_releases():
    anchor = torch.tensor([[20.0, 20.0, 20.0, 20.0]] + [[50.0, 50.0, 10.0, 10.0]] * 7)
    gt = _xyxy([12, 8, 32, 28])  # centre (18, 22), 20 x 20: deltas (-0.1, 0.1, 0, 0)
    deltas = torch.zeros(8, 4, requires_grad=True)
    logits = torch.zeros(8, 2, requires_grad=True)
    out = training.rpn.losses(deltas, logits, anchor, gt)
    assert out["box_loss"].item() == pytest.approx(0.01 + 0.01)  # x^2 below 1
    assert out["score_loss"].item() == pytest.approx(0.6931472)  # log 2 for every sample
    out["loss"].backward()
    assert deltas.grad[0].tolist() == pytest.approx([0.2, -0.2, 0.0, 0.0]) and deltas.grad[1:].abs().sum() == 0
    big = torch.tensor([[3.0, -0.5, 0.0, 0.0]])
    assert training.rpn._smooth_l1(big).item() == pytest.approx(3.0 + 0.25)
    empty = training.rpn.losses(deltas, logits, anchor, torch.zeros(0, 4))  # no ground truth: negatives only
    assert empty["box_loss"].item() == 0.0


# --------------------------------------------------------------------------- proposals and metric


def test_nms_keeps_ten_best_non_overlapping():
    anchor = torch.tensor([[10.0 + 3 * i, 10.0, 10.0, 10.0] for i in range(15)] + [[10.0, 10.2, 10.0, 10.0]])
    logits = torch.stack([torch.linspace(0, 1, 16), torch.zeros(16)], 1)
    boxes, scores = training.rpn.propose(torch.zeros(16, 4), logits, anchor)
    assert len(boxes) == 10 and torch.all(scores[:-1] >= scores[1:])
    assert box_iou(boxes, boxes).fill_diagonal_(0).max() <= models.rpn.NMS_IOU


def test_metric_is_mean_over_proposals_of_their_best_iou():
    gt = [_xyxy([0, 0, 10, 10], [20, 20, 30, 30]), torch.zeros(0, 4)]
    proposals = [_xyxy([0, 0, 10, 10], [5, 0, 15, 10], [40, 40, 50, 50]), _xyxy([0, 0, 5, 5])]
    assert metrics.argmax_iou(proposals[0], gt[0]).tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert metrics.mean_argmax_nms_iou(proposals, gt) == pytest.approx((4 / 3 / 3 + 0.0) / 2)


def test_training_is_seeded_and_learns(tiny):
    def run(seed):
        m = models.rpn.RPN(True, seed=seed)
        return m, training.train_rpn(m, tiny, steps=12, seed=seed, log_every=6,
                                callback=lambda step, model: {"iou": training.rpn.evaluate(model, tiny)})
    (m1, h1), (m2, h2) = run(0), run(0)
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2] and [r["step"] for r in h1] == [6, 12]
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert h1[-1]["epochs"] == 2.0 and h1[-1]["iou"] == training.rpn.evaluate(m1, tiny)
    assert torch.count_nonzero(m1.box_regression[-1].weight) > 0  # the zero-initialised layer learns
    assert not m1.training


def test_batched_prediction_equals_one_image_at_a_time(tiny):
    m = models.rpn.RPN(True, seed=0)
    training.train_rpn(m, tiny, steps=6)
    whole = training.rpn.predict(m, tiny.images)
    single = [training.rpn.predict(m, tiny.images[i : i + 1])[0] for i in range(len(tiny))]
    for (b, s), (b1, s1) in zip(whole, single):
        assert torch.allclose(b, b1, atol=1e-5) and torch.allclose(s, s1, atol=1e-6)
