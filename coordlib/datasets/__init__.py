"""The paper's datasets: Not-so-Clevr, Sort-of-CLEVR, Field of MNIST, the what-where task, ImageNet.
"""

from . import imagenet, mnist, notsoclevr, sortofclevr, whatwhere
from .imagenet import DataDirError, build_loaders, check_data_dir
from .mnist import FieldOfMnist, MnistChecksumError, Placements, field_of_mnist, load_mnist, resize_digits
from .notsoclevr import NotSoClevr, not_so_clevr
from .sortofclevr import SortOfClevr, object_mask, object_radius, sort_of_clevr
from .whatwhere import WhatWhere, what_where

__all__ = [
    "imagenet", "mnist", "notsoclevr", "sortofclevr", "whatwhere", "DataDirError", "FieldOfMnist",
    "MnistChecksumError", "NotSoClevr", "Placements", "SortOfClevr", "WhatWhere", "build_loaders",
    "check_data_dir", "field_of_mnist", "load_mnist", "not_so_clevr", "object_mask", "object_radius",
    "resize_digits", "sort_of_clevr", "what_where",
]
