"""The book variant of the detection experiment: a small Faster R-CNN, with and without CoordConv.

The paper's detection result (§5) comes from the release's region proposal
network alone (:mod:`coordlib.models.rpn`, the chapter's main comparison). This module
is the book's extension: a full two-stage detector on the same data.

Built from ``torchvision.models.detection`` parts; only the backbone is new:

* :class:`Backbone`: the release's small network (5x5 conv 32, 2x2 max-pool,
  5x5 conv 64, 2x2 max-pool, 3x3 conv 32, ReLU after each conv); stride 4, 32
  output channels. With ``coordconv=True`` its first conv is a
  :class:`~coordlib.CoordConv2d`.
* :func:`make_detector`: torchvision's ``FasterRCNN`` on that backbone. The
  CoordConv variant adds coordinates where the paper did: at the input (the
  backbone's first conv), before the RPN's 3x3 conv and before the RPN's final
  box-regression layer (both replaced by :class:`~coordlib.CoordConv2d` of the
  same shape). Everything else is identical between the two variants.

Measures (class-agnostic, boxes ``(x0, y0, x1, y1)`` as in torchvision):

* :func:`coordlib.metrics.boxes.mean_best_iou`: the mean, over every ground-truth box, of its IOU with
  the best predicted box (0 if nothing was predicted); not the release's
  measure, which is :func:`coordlib.metrics.boxes.mean_argmax_nms_iou`;
* :func:`coordlib.metrics.boxes.average_precision`: greedy matching by descending score (COCO's rule:
  a prediction takes the still-unmatched ground truth it overlaps most, if that
  IOU >= the threshold), and the area under the precision-recall curve with
  all-point interpolation (precision made monotone, summed over every recall
  step: PASCAL VOC 2010+) or, with ``recall_points=101``, COCO's 101-point
  interpolation (checked against ``pycocotools`` in the tests);
* :func:`coordlib.metrics.boxes.average_precision_range`: the mean AP over IOU thresholds 0.50:0.05:0.95
  (COCO's AP@[.5:.95], with the interpolation above).

Training: :func:`coordlib.training.detection.train_detector` (Adam, seeded, resumable checkpoints
written with :mod:`coordlib.training.checkpoint`) and :func:`coordlib.training.detection.predict`.
"""


from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from coordlib.layers.coordconv import CoordConv2d

__all__ = ["ANCHOR_SIZES", "ASPECT_RATIOS", "FIELD_MEAN", "FIELD_STD", "Backbone", "make_detector"]

ANCHOR_SIZES = (15, 20, 25)  # the release's anchors, pixels
ASPECT_RATIOS = (0.5, 1.0, 2.0)  # height / width; ink boxes of thin digits ("1") are tall and narrow
# Pixel mean and std of Field-of-MNIST images at the paper's settings (measured on
# 9,000 training images, seed 0: 0.0257 and 0.1334); the images are mostly black.
FIELD_MEAN = 0.026
FIELD_STD = 0.133
_FASTER_RCNN_DEFAULTS = {
    # Far fewer proposals and sampled RoIs than torchvision's defaults for 800 px
    # photos: a 64x64 image has 16 * 16 * 9 = 2,304 anchors and at most 5 digits.
    # On a CPU, RoIAlign's backward and NMS dominate a step; these settings cut
    # the CPU time of a step about 5x (batch 16: 1.3 s -> 0.25 s on one thread).
    "rpn_pre_nms_top_n_train": 600,
    "rpn_pre_nms_top_n_test": 300,
    "rpn_post_nms_top_n_train": 300,
    "rpn_post_nms_top_n_test": 100,
    "box_batch_size_per_image": 64,
}


class Backbone(nn.Module):
    """The release's small detection backbone: ``(N, C, H, W)`` -> ``(N, 32, H // 4, W // 4)``.

    5x5 conv 32 -> ReLU -> max-pool 2 -> 5x5 conv 64 -> ReLU -> max-pool 2 -> 3x3
    conv 32 -> ReLU, convolutions padded to keep the size ("same"). With
    ``coordconv`` the first conv is a :class:`CoordConv2d` (coordinates at the input).
    """

    out_channels = 32  # read by torchvision's FasterRCNN
    stride = 4

    def __init__(self, coordconv: bool = False, in_channels: int = 1) -> None:
        super().__init__()
        conv = CoordConv2d if coordconv else nn.Conv2d
        self.coordconv = bool(coordconv)
        self.body = nn.Sequential(
            conv(in_channels, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, self.out_channels, 3, padding=1), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _coordconv_like(conv: nn.Conv2d) -> CoordConv2d:
    """A :class:`CoordConv2d` with ``conv``'s shape, initialised as torchvision's RPNHead initialises its convs."""
    layer = CoordConv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
        bias=conv.bias is not None,
    )
    nn.init.normal_(layer.weight, std=0.01)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _add_coords_to_rpn(head: RPNHead) -> None:
    """Replace the RPN head's 3x3 conv and its box-regression 1x1 conv by CoordConv2d, in place."""
    # torchvision >= 0.13 keeps the 3x3 conv inside head.conv (a Sequential of
    # Conv2dNormActivation blocks); find it by type rather than by a fixed path.
    names = [name for name, m in head.conv.named_modules() if type(m) is nn.Conv2d]
    if len(names) != 1:
        raise RuntimeError(f"expected one Conv2d in torchvision's RPNHead.conv, found {len(names)}: {names}")
    parent_name, _, attr = names[0].rpartition(".")
    parent = head.conv.get_submodule(parent_name) if parent_name else head.conv
    setattr(parent, attr, _coordconv_like(getattr(parent, attr)))
    head.bbox_pred = _coordconv_like(head.bbox_pred)


def make_detector(
    coordconv: bool,
    num_classes: int = 2,
    image_size: int = 64,
    anchor_sizes: Sequence[int] = ANCHOR_SIZES,
    aspect_ratios: Sequence[float] = ASPECT_RATIOS,
    representation_size: int = 128,
    seed: int = 0,
    **faster_rcnn_kwargs,
) -> FasterRCNN:
    """torchvision's Faster R-CNN on :class:`Backbone`, sized for ``image_size`` x ``image_size`` grayscale images.

    * anchors: one feature map (stride 4), sizes ``anchor_sizes`` x ratios ``aspect_ratios`` (9 per location);
    * RoI pooling: ``MultiScaleRoIAlign(["0"], 7, 2)``; box head: ``TwoMLPHead`` of ``representation_size``;
    * transform: ``min_size = max_size = image_size`` (torchvision would otherwise
      rescale a 64 px image to 800 px) and the grayscale :data:`FIELD_MEAN` / :data:`FIELD_STD`;
    * ``num_classes`` counts the background: 2 = class-agnostic ("digit"), 11 = digit classes.

    Weights are initialised from ``seed`` without touching the global RNG.
    ``faster_rcnn_kwargs`` override the other ``FasterRCNN`` arguments.
    Input: a list of ``(1, H, W)`` float tensors in [0, 1]; output as torchvision's.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"make_detector expected num_classes >= 2 (background + objects), got {num_classes!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"make_detector expected an int image_size >= 8, got {image_size!r}")
    options = {**_FASTER_RCNN_DEFAULTS, **faster_rcnn_kwargs}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = Backbone(coordconv)
        anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
        head = RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0])
        if coordconv:
            _add_coords_to_rpn(head)
        roi_pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        box_head = TwoMLPHead(backbone.out_channels * 7 * 7, representation_size)
        predictor = FastRCNNPredictor(representation_size, num_classes)
        return FasterRCNN(
            backbone,
            num_classes=None,
            min_size=image_size,
            max_size=image_size,
            image_mean=[FIELD_MEAN],
            image_std=[FIELD_STD],
            rpn_anchor_generator=anchors,
            rpn_head=head,
            box_roi_pool=roi_pool,
            box_head=box_head,
            box_predictor=predictor,
            **options,
        )
