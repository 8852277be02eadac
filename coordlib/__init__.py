"""coordlib: CoordConv layers for PyTorch, and the datasets, models and training behind the CoordConv book.

The library, by kind (each subpackage depends only on those above it):

- ``coordlib.layers``: ``AddCoords``, the CoordConv layers, ``add_coords`` (coordinates in an existing
  model) and the release's initialisation;
- ``coordlib.datasets``: Not-so-Clevr, Sort-of-CLEVR, Field of MNIST, what-where, ImageNet folders;
- ``coordlib.models``: the paper's networks;
- ``coordlib.metrics``: mask IOU, Sort-of-CLEVR scene parsing, box measures;
- ``coordlib.training``: the seeded, resumable loop, devices, checkpoints, the release's optimiser,
  ensembles, and the GAN, RPN and detector loops;
- ``coordlib.rl``: MinAtar agents (the optional extra ``coordlib[rl]``).

On top of them: ``coordlib.programs`` (``python -m coordlib.programs.imagenet``) and ``coordlib.book``, the
book's support (profiles, results, statistics, verdicts, plots), which is not part of the library's API.
"""

from .layers.convert import add_coords
from .layers.coordconv import (
                               AddCoords,
                               ConcatCoordConv2d,
                               CoordConv1d,
                               CoordConv2d,
                               CoordConv3d,
                               CoordConvTranspose2d,
                               coordinate_grid,
)

__version__ = "0.1.0"
__all__ = ["AddCoords", "CoordConv1d", "CoordConv2d", "CoordConv3d", "CoordConvTranspose2d", "ConcatCoordConv2d",
           "add_coords", "coordinate_grid", "__version__"]
