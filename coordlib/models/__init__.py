"""The paper's networks: Not-so-Clevr models, the handcrafted solution, GANs, RPN, detector, ResNets.
"""

from . import detection, generative, handcrafted, notsoclevr, resnet, rpn
from .detection import Backbone, make_detector
from .generative import CoordConvGenerator, DeconvGenerator, Discriminator, latents, make_generator, vae_loss
from .handcrafted import CoordToOneHot, OneHotToCoord, all_positions, index_grid, onehot_images
from .notsoclevr import (
    ConvRegressor,
    ConvRegressorGAP,
    ConvRegressorQuadrant,
    CoordConvClassifier,
    CoordConvRegressor,
    CoordConvRenderer,
    DeconvNet,
    count_parameters,
    scale_coords,
)
from .resnet import SmallResNet, coord_resnet50, coord_stem, resnet50_baseline
from .rpn import (
    ReleaseAddCoords,
    anchors,
    apply_deltas,
    feature_size,
    from_xyxy,
    release_coordinates,
    target_deltas,
    to_xyxy,
)

__all__ = [
    "detection", "generative", "handcrafted", "notsoclevr", "resnet", "rpn", "Backbone", "ConvRegressor",
    "ConvRegressorGAP", "ConvRegressorQuadrant", "CoordConvClassifier", "CoordConvGenerator",
    "CoordConvRegressor", "CoordConvRenderer", "CoordToOneHot", "DeconvGenerator", "DeconvNet", "Discriminator",
    "OneHotToCoord", "ReleaseAddCoords", "SmallResNet", "all_positions", "anchors", "apply_deltas",
    "coord_resnet50", "coord_stem", "count_parameters", "feature_size", "from_xyxy", "index_grid", "latents",
    "make_detector", "make_generator", "onehot_images", "release_coordinates", "resnet50_baseline",
    "scale_coords", "target_deltas", "to_xyxy", "vae_loss",
]
