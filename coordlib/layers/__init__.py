"""The CoordConv layers, coordinates added to an existing model, and the release's initialisation.
"""

from . import convert, coordconv, init
from .convert import add_coords, convertible, coordconv_like
from .coordconv import (
    AddCoords,
    ConcatCoordConv2d,
    CoordConv1d,
    CoordConv2d,
    CoordConv3d,
    CoordConvTranspose2d,
    coordinate_grid,
    coordinates,
)
from .init import fans, glorot_uniform_, he_normal_, release_init_

__all__ = [
    "convert", "coordconv", "init", "AddCoords", "ConcatCoordConv2d", "CoordConv1d", "CoordConv2d",
    "CoordConv3d", "CoordConvTranspose2d", "add_coords", "convertible", "coordconv_like", "coordinate_grid",
    "coordinates", "fans", "glorot_uniform_", "he_normal_", "release_init_",
]
