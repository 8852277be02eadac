"""coordlib: the small package behind the CoordConv book.

One module per concept: ``layers`` (AddCoords and the CoordConv layers), ``convert``
(coordinates in an existing model), ``data``
(Not-so-Clevr and its splits), ``profiles`` (smoke/book/paper), ``train`` (the
seeded, resumable loop), ``results`` (book/results/*.json and claim checks),
``stats`` (estimates across seeds, comparisons, equivalence), ``report`` (claims and
verdicts), ``release`` (the authors' release's
settings, each with its source file), ``init`` (the release's he_normal and
glorot_uniform initialisation) and ``optim`` (Adam with the release's L2 on kernels
only, and its step schedule).
"""

from .convert import add_coords
from .layers import (AddCoords, ConcatCoordConv2d, CoordConv1d, CoordConv2d, CoordConv3d, CoordConvTranspose2d,
                     coordinate_grid)

__version__ = "0.1.0"
__all__ = ["AddCoords", "CoordConv1d", "CoordConv2d", "CoordConv3d", "CoordConvTranspose2d", "ConcatCoordConv2d",
           "add_coords", "coordinate_grid", "__version__"]
