"""Measures: mask IOU, Sort-of-CLEVR scene parsing and validity, box IOUs and average precision.
"""

from . import boxes, masks, scenes
from .boxes import (
    argmax_iou,
    average_precision,
    average_precision_range,
    best_iou_per_gt,
    mean_argmax_nms_iou,
    mean_best_iou,
)
from .masks import iou
from .scenes import (
    SceneObject,
    canvas_coverage,
    centre_distance,
    interpolation_steps,
    is_valid_scene,
    object_centres,
    parse_scene,
    parse_scenes,
    scene_faults,
    scene_validity,
)

__all__ = [
    "boxes", "masks", "scenes", "SceneObject", "argmax_iou", "average_precision", "average_precision_range",
    "best_iou_per_gt", "canvas_coverage", "centre_distance", "interpolation_steps", "iou", "is_valid_scene",
    "mean_argmax_nms_iou", "mean_best_iou", "object_centres", "parse_scene", "parse_scenes", "scene_faults",
    "scene_validity",
]
