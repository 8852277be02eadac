"""The Field-of-MNIST detector (plain and CoordConv), its box measures and its training helper."""

import math

import pytest
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN

from coordlib import CoordConv2d, datasets, metrics, training
from coordlib.models import detection as det

LOSSES = {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
COORD_PLACES = ["backbone.body.0", "rpn.head.conv.0.0", "rpn.head.bbox_pred"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def models():
    return {cc: det.make_detector(cc) for cc in (False, True)}


@pytest.fixture(scope="module")
def tiny():
    return datasets.field_of_mnist(8, seed=11)


def _params(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- structure


def test_parameter_counts(models):
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out
    backbone = conv(1, 32, 5) + conv(32, 64, 5) + conv(64, 32, 3)
    rpn = conv(32, 32, 3) + conv(32, 9, 1) + conv(32, 36, 1)  # 9 anchors: 3 sizes x 3 ratios
    box_head = (32 * 7 * 7 * 128 + 128) + (128 * 128 + 128)
    predictor = (128 * 2 + 2) + (128 * 2 * 4 + 2 * 4)
    plain = backbone + rpn + box_head + predictor
    assert _params(models[False]) == plain == 299_927
    # two coordinate channels in at each of the three places
    extra = 2 * 32 * 5 * 5 + 2 * 32 * 3 * 3 + 2 * 36 * 1 * 1
    assert _params(models[True]) == plain + extra == 302_175


def test_coordconv_exactly_at_the_three_places(models):
    plain = dict(models[False].named_modules())
    coord = dict(models[True].named_modules())
    assert [name for name, m in coord.items() if isinstance(m, CoordConv2d)] == COORD_PLACES
    assert not any(isinstance(m, CoordConv2d) for m in plain.values())
    assert list(plain) == list(coord)  # same modules, same names, same order
    for name, a in plain.items():
        b = coord[name]
        if name in COORD_PLACES:
            assert type(a) is nn.Conv2d
            assert (a.in_channels, a.out_channels, a.kernel_size, a.stride, a.padding) == (
                b.in_channels, b.out_channels, b.kernel_size, b.stride, b.padding
            )
            assert b.weight.shape[1] == a.weight.shape[1] + 2
        else:
            assert type(a) is type(b)


def test_detector_settings(models):
    model = models[True]
    assert isinstance(model, FasterRCNN)
    assert model.transform.min_size == (64,) and model.transform.max_size == 64
    assert model.transform.image_mean == [det.FIELD_MEAN] and model.transform.image_std == [det.FIELD_STD]
    gen = model.rpn.anchor_generator
    assert gen.sizes == ((15, 20, 25),) and gen.aspect_ratios == ((0.5, 1.0, 2.0),)
    assert model.roi_heads.box_roi_pool.featmap_names == ["0"]
    assert model.roi_heads.box_predictor.cls_score.out_features == 2  # background + "digit"
    assert det.make_detector(False, num_classes=11).roi_heads.box_predictor.cls_score.out_features == 11
    assert model.backbone(torch.zeros(2, 1, 64, 64)).shape == (2, 32, 16, 16)  # stride 4


def test_construction_is_seeded_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = det.make_detector(True, seed=1), det.make_detector(True, seed=1), det.make_detector(True, seed=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.backbone.body[0].weight, c.backbone.body[0].weight)


@pytest.mark.parametrize("coordconv", [False, True])
def test_train_forward_losses_and_eval_boxes(models, tiny, coordconv):
    model = models[coordconv]
    model.train()
    losses = model(list(tiny.images[:4]), tiny.targets()[:4])
    assert set(losses) == LOSSES
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    out = training.detection.predict(model, tiny.images[:4], batch_size=3)
    assert len(out) == 4 and not model.training
    for d in out:
        assert set(d) == {"boxes", "scores", "labels"} and d["boxes"].shape[1] == 4
        assert torch.all(d["boxes"] >= 0) and torch.all(d["boxes"] <= 64)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_classes >= 2"):
        det.make_detector(False, num_classes=1)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\), got \(64, 64\)"):
        training.detection.predict(det.make_detector(False), torch.zeros(64, 64))


# --------------------------------------------------------------------------- measures


def _pred(boxes, scores):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "scores": torch.tensor(scores)}


def _gt(boxes):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)}


BOX = [0.0, 0.0, 10.0, 10.0]


def test_identical_boxes_score_one():
    preds, gts = [_pred([BOX, [30, 30, 40, 44]], [0.9, 0.8])], [_gt([BOX, [30, 30, 40, 44]])]
    assert metrics.best_iou_per_gt(preds[0]["boxes"], gts[0]["boxes"]).tolist() == [1.0, 1.0]
    assert metrics.mean_best_iou(preds, gts) == 1.0
    assert metrics.average_precision(preds, gts) == 1.0
    assert metrics.average_precision_range(preds, gts) == 1.0


def test_half_width_shift_gives_one_third():
    # overlap 5 x 10 = 50, union 100 + 100 - 50 = 150
    iou = metrics.best_iou_per_gt(torch.tensor([[5.0, 0.0, 15.0, 10.0]]), torch.tensor([BOX]))
    assert iou.shape == (1,) and iou.item() == pytest.approx(1 / 3, abs=1e-7)
    assert metrics.mean_best_iou([_pred([[5, 0, 15, 10]], [0.9])], [_gt([BOX])]) == pytest.approx(1 / 3, abs=1e-7)
    assert metrics.average_precision([_pred([[5, 0, 15, 10]], [0.9])], [_gt([BOX])]) == 0.0  # below 0.5


def test_no_predictions_score_zero():
    preds, gts = [_pred([], []), _pred([], [])], [_gt([BOX]), _gt([BOX, [20, 20, 30, 30]])]
    assert metrics.best_iou_per_gt(preds[1]["boxes"], gts[1]["boxes"]).tolist() == [0.0, 0.0]
    assert metrics.mean_best_iou(preds, gts) == 0.0
    assert metrics.average_precision(preds, gts) == 0.0


def test_best_prediction_counts_and_score_threshold_filters():
    gts = [_gt([BOX]), _gt([BOX])]
    preds = [_pred([[5, 0, 15, 10], BOX], [0.9, 0.6]), _pred([BOX], [0.3])]
    # image 0: best of 1/3 and 1 -> 1; image 1: its only box is below the threshold -> 0
    assert metrics.mean_best_iou(preds, gts, score_threshold=0.5) == pytest.approx(0.5)
    assert metrics.mean_best_iou(preds, gts, score_threshold=0.0) == pytest.approx(1.0)


def test_false_positive_ranked_first_halves_ap():
    # scores: FP 0.9, TP 0.8 -> precision 1/2 at recall 1
    preds, gts = [_pred([[40, 40, 50, 50], BOX], [0.9, 0.8])], [_gt([BOX])]
    assert metrics.average_precision(preds, gts) == pytest.approx(0.5, abs=1e-12)


def test_ap_all_point_interpolation_and_greedy_duplicates():
    # 3 ground truths in two images. Ranked: TP (0.9), a duplicate of the same GT
    # (0.8, a FP under greedy matching), TP (0.7), TP (0.6). Precision 1, 1/2, 2/3, 3/4
    # at recall 1/3, 1/3, 2/3, 1. Interpolated (best precision at any recall >= r):
    # 1, 3/4, 3/4 on the three recall steps -> AP = (1 + 3/4 + 3/4) / 3 = 5/6
    # (without interpolation it would be (1 + 2/3 + 3/4) / 3 = 29/36).
    gts = [_gt([BOX, [40, 40, 50, 50]]), _gt([[20, 20, 30, 30]])]
    preds = [_pred([BOX, [0, 0, 10, 9], [40, 40, 50, 50]], [0.9, 0.8, 0.6]), _pred([[20, 20, 30, 30]], [0.7])]
    assert metrics.average_precision(preds, gts) == pytest.approx(5 / 6, abs=1e-12)


def test_ap_range_averages_ten_thresholds():
    # IOU 0.72 passes the thresholds 0.50..0.70 (5 of 10)
    preds, gts = [_pred([[0, 0, 10, 7.2]], [0.9])], [_gt([BOX])]
    assert metrics.average_precision_range(preds, gts) == pytest.approx(0.5, abs=1e-12)
    assert metrics.average_precision_range(preds, gts, thresholds=[0.5, 0.8]) == pytest.approx(0.5, abs=1e-12)


def _coco_ap(preds, gts, iou_threshold):
    """AP of ``preds`` by pycocotools' COCOeval: one category, one IOU threshold, all areas, 100 detections."""
    import contextlib
    import io

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
    images, annotations, detections = [], [], []
    for i, (p, t) in enumerate(zip(preds, gts)):
        images.append({"id": i, "width": 64, "height": 64})
        for b in t["boxes"].tolist():
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": 1, "bbox": xywh(b),
                                "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": 0})
        detections += [{"image_id": i, "category_id": 1, "bbox": xywh(b), "score": s}
                       for b, s in zip(p["boxes"].tolist(), p["scores"].tolist())]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "digit"}]}
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(detections), "bbox")
        ev.params.iouThrs = np.array([iou_threshold])
        ev.params.maxDets = [100]
        ev.params.areaRng, ev.params.areaRngLbl = [[0.0, 1e10]], ["all"]
        ev.evaluate()
        ev.accumulate()
    return float(ev.eval["precision"][0, :, 0, 0, 0].mean())  # (T, R, K, A, M): the 101 recall levels


def _random_detections(seed, images=12):
    """Jittered copies of the ground truth plus random boxes, distinct scores: a realistic PR curve."""
    g = torch.Generator().manual_seed(seed)
    preds, gts = [], []
    for _ in range(images):
        k = int(torch.randint(0, 5, (1,), generator=g))
        xy = torch.rand(k, 2, generator=g) * 40
        gt = torch.cat([xy, xy + 10 + torch.rand(k, 2, generator=g) * 14], 1)
        hits = gt[torch.rand(k, generator=g) < 0.8]
        hits = hits + torch.randn(hits.shape, generator=g) * 1.2
        xy = torch.rand(3, 2, generator=g) * 44
        noise = torch.cat([xy, xy + 6 + torch.rand(3, 2, generator=g) * 14], 1)
        boxes = torch.cat([hits, noise])
        preds.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=g, dtype=torch.float64).float()})
        gts.append({"boxes": gt})
    return preds, gts


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_threshold", [0.5, 0.75])
def test_ap_agrees_with_pycocotools(seed, iou_threshold):
    pytest.importorskip("pycocotools")
    preds, gts = _random_detections(seed)
    coco = _coco_ap(preds, gts, iou_threshold)
    ours_101 = metrics.average_precision(preds, gts, iou_threshold, recall_points=101)
    ours_all = metrics.average_precision(preds, gts, iou_threshold)
    assert 0.05 < coco < 0.95  # a curve with both hits and misses
    assert ours_101 == pytest.approx(coco, abs=1e-9)  # same matching, same 101-point interpolation
    assert abs(ours_all - coco) <= 0.011  # all-point vs 101-point: within about one recall step


def test_ap_101_point_versus_all_point_documented_case():
    pytest.importorskip("pycocotools")
    # one true positive of three ground truths: recall 1/3 at precision 1
    gts = [_gt([BOX, [20, 20, 30, 30], [40, 40, 50, 50]])]
    preds = [_pred([BOX], [0.9])]
    assert metrics.average_precision(preds, gts) == pytest.approx(1 / 3, abs=1e-12)
    assert metrics.average_precision(preds, gts, recall_points=101) == pytest.approx(34 / 101, abs=1e-12)
    assert _coco_ap(preds, gts, 0.5) == pytest.approx(34 / 101, abs=1e-12)
    with pytest.raises(ValueError, match="recall_points"):
        metrics.average_precision(preds, gts, recall_points=1)


def test_measures_reject_bad_input():
    with pytest.raises(ValueError, match=r"shape \(K, 4\).*got shape \(4,\)"):
        metrics.best_iou_per_gt(torch.tensor(BOX), torch.tensor([BOX]))
    with pytest.raises(ValueError, match="one prediction per target, got 1 and 2"):
        metrics.mean_best_iou([_pred([BOX], [1.0])], [_gt([BOX]), _gt([BOX])])
    with pytest.raises(ValueError, match="at least one ground-truth box"):
        metrics.average_precision([_pred([BOX], [1.0])], [_gt([])])
    with pytest.raises(ValueError, match="0 < iou_threshold <= 1"):
        metrics.average_precision([_pred([BOX], [1.0])], [_gt([BOX])], iou_threshold=0.0)


# --------------------------------------------------------------------------- training


def test_training_reduces_loss_and_is_seeded(tiny, tmp_path):
    state = torch.get_rng_state()
    model = det.make_detector(True, seed=0)
    snapshots = {}

    def snapshot(epoch, m):
        snapshots[epoch] = {k: v.clone() for k, v in m.state_dict().items()}

    settings = {"batch_size": 2, "lr": 2e-3, "seed": 0, "progress": False}
    history = training.train_detector(model, tiny, epochs=4, callback=snapshot, **settings)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left as it was
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert LOSSES <= set(history[0])
    assert history[0]["loss"] == pytest.approx(sum(history[0][k] for k in LOSSES))
    assert all(math.isfinite(h["loss"]) for h in history)
    # The RPN's objectness loss is the clean signal: the classifier's loss first
    # rises as better proposals bring it harder positives.
    assert history[-1]["loss_objectness"] < 0.5 * history[0]["loss_objectness"]
    assert history[-1]["loss"] < history[0]["loss"]

    # stopped after epoch 1 and resumed from its checkpoint == trained 2 epochs straight
    ckpt = tmp_path / "det.pt"
    training.train_detector(det.make_detector(True, seed=0), tiny, epochs=1, checkpoint=ckpt, **settings)
    resumed = det.make_detector(True, seed=0)
    history2 = training.train_detector(resumed, tiny, epochs=2, checkpoint=ckpt, **settings)
    assert [h["loss"] for h in history2] == [h["loss"] for h in history[:2]]
    assert all(torch.equal(resumed.state_dict()[k], v) for k, v in snapshots[2].items())


def test_training_callback_and_type_check(tiny):
    model = det.make_detector(False, seed=0)
    seen = []

    def callback(epoch, m):
        seen.append((epoch, m.training, torch.is_grad_enabled()))
        return {"n_pred": len(training.detection.predict(m, tiny.images[:2])), "stop": True}

    history = training.train_detector(model, tiny, epochs=3, batch_size=8, seed=0, progress=False, callback=callback)
    assert seen == [(1, False, False)] and len(history) == 1 and history[0]["n_pred"] == 2
    with pytest.raises(TypeError, match="expected a FieldOfMnist dataset, got Tensor"):
        training.train_detector(model, tiny.images, epochs=1)
