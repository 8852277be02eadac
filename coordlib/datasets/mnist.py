"""Real MNIST digits, shipped offline, and Field-of-MNIST (paper §5, the detection task).

MNIST: ``data/mnist_subset.npz`` holds the first 12,000 official training digits
and the first 2,000 official test digits (extracted by ``data/make_mnist_subset.py``;
provenance and the CC BY-SA 3.0 licence note are in ``data/README.md``). The file
is found through the ``COORDLIB_DATA`` environment variable (a folder) if it is
set, else in the repository's ``data/`` folder beside this package. Its sha256 is
checked before use. Without the file (e.g. coordlib pip-installed on Colab),
``load_mnist(download=True)`` or ``COORDLIB_ALLOW_DOWNLOAD=1`` falls back to
torchvision's MNIST download and keeps the same first digits, checked against
the same content hashes, so both paths give identical arrays.

Field-of-MNIST: each image pastes ``digits`` MNIST digits on a ``canvas x canvas``
black canvas, each resized to a height and a width drawn independently from the
integers ``min_size..max_size``, at a uniformly random position where it fits
whole; overlapping digits combine by maximum (ink stays ink). The centre
``crop x crop`` window is kept, so digits near the canvas border are cut off or
lost. Each kept digit's box is the tight box of *its own* ink (resized pixel
value > ``INK_THRESHOLD``) inside the crop, in torchvision's ``(x0, y0, x1, y1)``
convention with pixel *edges*: a digit whose ink covers columns ``c..d`` has
``x0 = c`` and ``x1 = d + 1`` (so a one-pixel object at column ``c`` has
``x1 - x0 = 1``). Digits with no ink inside the crop are dropped, so an image
has between 0 and ``digits`` boxes.
"""


from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from coordlib import _checks
from coordlib._paths import repository

__all__ = [
    "COUNTS", "DATA_ENV", "DOWNLOAD_ENV", "FILENAME", "INK_THRESHOLD", "PAPER", "SHA256", "SPLITS",
    "FieldOfMnist", "MnistChecksumError", "Placements", "field_of_mnist", "load_mnist", "resize_digits",
]

SPLITS = ("train", "test")
COUNTS = {"train": 12_000, "test": 2_000}  # first digits of the official orders
FILENAME = "mnist_subset.npz"
SHA256 = "57ced70ac5179c6a660e4bc2219eb57713d287bf1cc38c84b58f1343579da0f5"
# sha256 of each array's raw bytes (images uint8 (N, 28, 28), labels uint8 (N,)):
# identifies the digits whichever way they arrived (shipped file or download).
CONTENT_SHA256 = {
    "train_images": "f4a0e5dc2ae49490a67998ae36b95959935eacc6cb14eabc4cd73ed4ae0e493f",
    "train_labels": "b32a0d75cac32913fa2162f8bf68bb35cf5d9e37370a92bc5e9c7a96074c5eae",
    "test_images": "170ff6838184f9ec6aaa1bbb5932ed59b7463585418d2da081525165ef21edae",
    "test_labels": "949a3782a9c308bf8ca08ff720810fe1de358fe09887727264c684c785d1ec53",
}
DATA_ENV = "COORDLIB_DATA"
DOWNLOAD_ENV = "COORDLIB_ALLOW_DOWNLOAD"
_REPO_DATA = (repository() or Path(__file__).resolve().parents[2]) / "data"  # a checkout: <repo>/data

INK_THRESHOLD = 0.1  # a resized pixel above this counts as ink for the digit's box
# Paper §5 and the release's data/field_of_mnist/loader.py: 5 digits on 120x120, sides U(15, 25),
# centre 64x64 crop; 9,000 / 1,000 images.
PAPER = {"n_train": 9_000, "n_val": 1_000, "digits": 5, "canvas": 120, "crop": 64, "min_size": 15, "max_size": 25}


class MnistChecksumError(ValueError):
    """The MNIST file (or download) does not hold the digits this module expects."""


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; valid splits are {', '.join(map(repr, SPLITS))}")


def _data_dir() -> Path:
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else _REPO_DATA


def _cache_dir() -> Path:
    """Where a fallback download goes: ``<data dir>/cache`` if the data dir exists, else the user cache."""
    folder = _data_dir()
    if folder.is_dir():
        return folder / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "coordlib"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _as_tensors(arrays: dict[str, np.ndarray], source: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Check content hashes and shapes; -> split -> (images uint8 (N, 28, 28), labels int64 (N,))."""
    out = {}
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        for name, array in ((f"{split}_images", images), (f"{split}_labels", labels)):
            digest = _sha256(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
            if digest != CONTENT_SHA256[name]:
                raise MnistChecksumError(f"{source}: {name} has content sha256 {digest}, expected {CONTENT_SHA256[name]}")
        out[split] = (torch.from_numpy(images.astype(np.uint8)), torch.from_numpy(labels.astype(np.int64)))
    return out


@functools.lru_cache(maxsize=4)
def _read_shipped(path: str, mtime_ns: int, size: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    # Keyed on (path, mtime, size) so a replaced file is read (and checked) again.
    raw = Path(path).read_bytes()
    digest = _sha256(raw)
    if digest != SHA256:
        raise MnistChecksumError(
            f"{path} has sha256 {digest}, expected {SHA256}: the file is corrupt or not the shipped MNIST subset. "
            f"Restore it from the repository (git checkout -- data/{FILENAME}) or rebuild it with "
            f"data/make_mnist_subset.py."
        )
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return _as_tensors(arrays, path)


@functools.lru_cache(maxsize=1)
def _download(root: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from torchvision.datasets import MNIST

    arrays = {}
    for split in SPLITS:
        ds = MNIST(root, train=split == "train", download=True)
        n = COUNTS[split]
        arrays[f"{split}_images"] = ds.data[:n].numpy()
        arrays[f"{split}_labels"] = ds.targets[:n].numpy().astype(np.uint8)
    return _as_tensors(arrays, f"torchvision MNIST download in {root}")


def load_mnist(split: str = "train", download: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped MNIST digits of ``split`` (``"train"``: 12,000, ``"test"``: 2,000).

    Returns ``(images, labels)``: ``(N, 28, 28)`` uint8 and ``(N,)`` int64, the
    first ``N`` digits of the official order. The tensors are cached and shared
    by every caller: clone before modifying them in place.

    ``download``: if the file is missing, fetch MNIST with torchvision instead
    (default: only when the environment sets ``COORDLIB_ALLOW_DOWNLOAD=1``).
    """
    _check_split(split)
    path = _data_dir() / FILENAME
    if path.is_file():
        stat = path.stat()
        return _read_shipped(str(path), stat.st_mtime_ns, stat.st_size)[split]
    if download is None:
        download = os.environ.get(DOWNLOAD_ENV, "") == "1"
    if not download:
        where = f"${DATA_ENV}={os.environ[DATA_ENV]!r}" if os.environ.get(DATA_ENV) else "the repository's data/ folder"
        raise FileNotFoundError(
            f"MNIST subset not found: looked for {path} ({where}). Fix: set {DATA_ENV} to a folder holding "
            f"{FILENAME}, or clone the repository and install coordlib from it (pip install -e .), or pass "
            f"download=True (or set {DOWNLOAD_ENV}=1) to download MNIST with torchvision."
        )
    return _download(str(_cache_dir()))[split]


# --------------------------------------------------------------------------- Field-of-MNIST


@dataclass(frozen=True)
class Placements:
    """Where every digit of a :class:`FieldOfMnist` went; each field is ``(n, digits)``.

    ``source`` (int64) indexes :func:`load_mnist` of the dataset's split; ``height``
    and ``width`` (int64) are the resized digit's size; ``top`` and ``left`` (int64)
    its upper-left pixel on the *canvas* (the crop starts at ``offset``);
    ``visible`` (bool) says whether any of its ink lies in the crop, i.e. whether
    it has a box. Image ``i``'s boxes follow its visible slots in order.
    """

    source: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    visible: torch.Tensor


@dataclass(frozen=True)
class FieldOfMnist:
    """A Field-of-MNIST dataset (see the module docstring for the rules).

    Attributes:
        images: ``(n, 1, crop, crop)`` float32 in [0, 1].
        boxes: ``n`` float32 tensors ``(k_i, 4)``, ``(x0, y0, x1, y1)`` in crop pixels, edges (x1, y1 exclusive).
        labels: ``n`` int64 tensors ``(k_i,)``, the digit classes 0..9.
        placements: the :class:`Placements` that generated the images.
        split, canvas, crop, ink_threshold, binary: the generation settings.
    """

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    placements: Placements
    split: str
    canvas: int
    crop: int
    ink_threshold: float
    binary: bool = False

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def offset(self) -> int:
        """Canvas row (and column) of the crop's first pixel."""
        return (self.canvas - self.crop) // 2

    def targets(self, class_agnostic: bool = True) -> list[dict[str, torch.Tensor]]:
        """torchvision detection targets: ``[{"boxes": (k_i, 4) float32, "labels": (k_i,) int64}]``.

        ``class_agnostic``: every label is 1 ("digit"; 0 is torchvision's
        background). Otherwise the label is the digit class + 1 (1..10).
        """
        return [
            {"boxes": b, "labels": torch.ones_like(lab) if class_agnostic else lab + 1}
            for b, lab in zip(self.boxes, self.labels)
        ]


def resize_digits(digits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(K, 28, 28)`` uint8 digits -> ``(K, height, width)`` float32 in [0, 1].

    Bilinear with antialiasing (every Field-of-MNIST size shrinks the digit, and
    without the antialias filter thin strokes would break up).
    """
    x = digits.to(torch.float32).div_(255.0).unsqueeze(1)
    out = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return out.squeeze(1).clamp_(0.0, 1.0)


def _first_true(mask: torch.Tensor) -> torch.Tensor:
    """Index of the first True along the last dim of a bool ``(K, L)`` tensor (0 if none)."""
    return mask.to(torch.uint8).argmax(dim=1)


def field_of_mnist(
    n: int,
    seed: int = 0,
    split: str = "train",
    digits: int = 5,
    canvas: int = 120,
    crop: int = 64,
    min_size: int = 15,
    max_size: int = 25,
    binary: bool = False,
) -> FieldOfMnist:
    """Generate ``n`` Field-of-MNIST images from the digits of ``load_mnist(split)``.

    Defaults are the paper's (:data:`PAPER`): 5 digits on a 120x120 canvas, heights
    and widths independently uniform on the integers 15..25, centre 64x64 crop.
    Deterministic per ``seed`` (``numpy.random.default_rng``).

    ``binary``: the release's pixels (``data/field_of_mnist/loader.py``): it adds
    the resized digits as 8-bit values (0..255) and clips the sum to 1, so every
    pixel that any digit touches with a nonzero 8-bit value is 1 and the rest 0.
    Here: 1 where the brightest digit's value, rounded to 8 bits, is at least 1.
    Boxes and placements are the same either way.
    """
    _checks.integer("field_of_mnist", "n", n, 1)
    _checks.integer("field_of_mnist", "seed", seed, 0)
    _check_split(split)
    _checks.integer("field_of_mnist", "digits", digits, 1)
    _checks.integer("field_of_mnist", "crop", crop, 1)
    _checks.integer("field_of_mnist", "canvas", canvas, crop)
    _checks.integer("field_of_mnist", "min_size", min_size, 1)
    _checks.integer("field_of_mnist", "max_size", max_size, min_size)
    if not isinstance(binary, bool):
        raise TypeError(f"field_of_mnist expected a bool for binary, got {type(binary).__name__} {binary!r}")
    if max_size > canvas:
        raise ValueError(f"field_of_mnist expected max_size <= canvas ({canvas}) so every digit fits, got {max_size}")

    pool, pool_labels = load_mnist(split)
    rng = np.random.default_rng(seed)
    shape = (n, digits)
    source = rng.integers(0, len(pool), size=shape)
    height = rng.integers(min_size, max_size + 1, size=shape)
    width = rng.integers(min_size, max_size + 1, size=shape)
    top = rng.integers(0, canvas - height + 1)  # the whole digit fits on the canvas
    left = rng.integers(0, canvas - width + 1)
    offset = (canvas - crop) // 2

    # Paint only the crop: the rest of the canvas is never seen. Digits are
    # resized in batches of equal size, then max-scattered into a flat image buffer.
    flat = torch.zeros(n * crop * crop, dtype=torch.float32)
    boxes = torch.zeros(n, digits, 4, dtype=torch.float32)
    visible = torch.zeros(n, digits, dtype=torch.bool)
    for h, w in sorted(set(zip(height.ravel().tolist(), width.ravel().tolist()))):
        img, slot = np.nonzero((height == h) & (width == w))
        glyphs = resize_digits(pool[torch.from_numpy(source[img, slot])], h, w)  # (K, h, w)
        rows = torch.from_numpy(top[img, slot] - offset)[:, None] + torch.arange(h)  # (K, h) crop rows
        cols = torch.from_numpy(left[img, slot] - offset)[:, None] + torch.arange(w)  # (K, w) crop columns
        row_in = (rows >= 0) & (rows < crop)
        col_in = (cols >= 0) & (cols < crop)
        inside = row_in[:, :, None] & col_in[:, None, :]
        index = (
            torch.from_numpy(img)[:, None, None] * (crop * crop)
            + rows.clamp(0, crop - 1)[:, :, None] * crop
            + cols.clamp(0, crop - 1)[:, None, :]
        )
        flat.scatter_reduce_(0, index[inside], glyphs[inside], reduce="amax")

        ink = (glyphs > INK_THRESHOLD) & inside
        ink_rows, ink_cols = ink.any(dim=2), ink.any(dim=1)  # (K, h), (K, w)
        seen = ink_rows.any(dim=1)
        y0 = _first_true(ink_rows)
        y1 = h - _first_true(ink_rows.flip(1))  # one past the last inked row
        x0 = _first_true(ink_cols)
        x1 = w - _first_true(ink_cols.flip(1))
        box = torch.stack([cols[:, 0] + x0, rows[:, 0] + y0, cols[:, 0] + x1, rows[:, 0] + y1], dim=1)
        boxes[img, slot] = box.to(torch.float32)
        visible[img, slot] = seen

    if binary:
        flat = ((flat * 255.0).round() >= 1.0).to(torch.float32)
    counts = visible.sum(dim=1).tolist()
    digit_labels = pool_labels[torch.from_numpy(source)]
    return FieldOfMnist(
        images=flat.view(n, 1, crop, crop),
        boxes=list(torch.split(boxes[visible], counts)),
        labels=list(torch.split(digit_labels[visible], counts)),
        placements=Placements(
            source=torch.from_numpy(source),
            height=torch.from_numpy(height),
            width=torch.from_numpy(width),
            top=torch.from_numpy(top),
            left=torch.from_numpy(left),
            visible=visible,
        ),
        split=split,
        canvas=canvas,
        crop=crop,
        ink_threshold=INK_THRESHOLD,
        binary=binary,
    )
