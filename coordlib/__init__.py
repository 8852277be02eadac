"""coordlib: the small package behind the CoordConv book.

One module per concept: ``layers`` (AddCoords, CoordConv2d), ``data``
(Not-so-Clevr and its splits), ``profiles`` (smoke/book/paper), ``train`` (the
seeded, resumable loop), ``results`` (book/results/*.json and claim checks),
``stats`` (confidence intervals across seeds), ``release`` (the authors' release's
settings, each with its source file), ``init`` (the release's he_normal and
glorot_uniform initialisation) and ``optim`` (Adam with the release's L2 on kernels
only, and its step schedule).
"""

from .layers import AddCoords, ConcatCoordConv2d, CoordConv2d, coordinate_grid

__version__ = "0.1.0"
__all__ = ["AddCoords", "CoordConv2d", "ConcatCoordConv2d", "coordinate_grid", "__version__"]
