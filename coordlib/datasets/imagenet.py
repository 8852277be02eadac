"""ImageNet as torchvision ``ImageFolder`` trees: checks of the directory and the loaders
of the recipe in :mod:`coordlib.programs.imagenet`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler
from torchvision import datasets, transforms
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet RGB statistics

__all__ = ["DataDirError", "check_data_dir", "build_loaders"]


class DataDirError(ValueError):
    """The ``--data`` directory is not two matching ImageFolder trees ``train/`` and ``val/``."""


# ---------------------------------------------------------------------------
# data


def _names(names: Sequence[str], limit: int = 10) -> str:
    names = sorted(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"


def _has_image(directory: str) -> bool:
    """True if ``directory`` (or a subfolder) holds a file ImageFolder would load; stops at the first."""
    subdirs = []
    with os.scandir(directory) as entries:
        for e in entries:
            if e.is_dir():
                subdirs.append(e.path)
            elif has_file_allowed_extension(e.name, IMG_EXTENSIONS):
                return True
    return any(_has_image(d) for d in subdirs)


def _split_classes(root: Path, split: str) -> list[str]:
    folder = root / split
    if not folder.is_dir():
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
        raise DataDirError(
            f"expected {folder}/ (an ImageFolder: one subfolder of images per class); "
            f"{root} holds {_names(found) if found else 'nothing'}"
        )
    # The same rule as torchvision's ImageFolder: every subdirectory is a class.
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    if not classes:
        files = [e.name for e in os.scandir(folder)]
        raise DataDirError(
            f"expected class subfolders in {folder}/ (one per class, holding its images); "
            f"found no subfolder{', only files ' + _names(files) if files else ' and no files'}"
        )
    empty = [c for c in classes if not _has_image(os.path.join(folder, c))]
    if empty:
        exts = ", ".join(IMG_EXTENSIONS)
        raise DataDirError(
            f"{len(empty)} of {len(classes)} class folders in {folder}/ hold no image "
            f"(expected at least one file ending in {exts}): {_names(empty)}"
        )
    return classes


def check_data_dir(root: str | os.PathLike) -> list[str]:
    """Check that ``root/train`` and ``root/val`` are ImageFolders with the same classes.

    Returns the sorted class names (ImageFolder's label order). Raises
    :class:`DataDirError` naming what was expected and what was found if
    ``root`` is missing, either split is missing, a split has no class folder
    or an empty one, or the two splits' classes differ. Only the first image
    of each class is looked for, so the check is cheap on the full ImageNet.
    """
    root = Path(root)
    if not root.exists():
        raise DataDirError(
            f"data directory {root} does not exist; expected a directory holding train/ and val/ "
            f"ImageFolder trees (one subfolder of images per class)"
        )
    if not root.is_dir():
        raise DataDirError(f"data directory {root} is a file; expected a directory holding train/ and val/")
    train, val = _split_classes(root, "train"), _split_classes(root, "val")
    if train != val:
        missing, extra = sorted(set(train) - set(val)), sorted(set(val) - set(train))
        raise DataDirError(
            f"val classes differ from train classes: expected the same class folders in {root / 'train'}/ "
            f"({len(train)}) and {root / 'val'}/ ({len(val)}); "
            f"missing from val: {_names(missing)}, only in val: {_names(extra)}"
        )
    return train


def build_loaders(
    data_dir: str | os.PathLike,
    image_size: int,
    batch_size: int,
    workers: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    pin_memory: bool = False,
) -> tuple[DataLoader, DataLoader, list[str]]:
    """Train and val loaders of ``data_dir`` for process ``rank`` of ``world_size``.

    ``batch_size`` is per process. Batches are ``(x, y)`` with ``x`` float32
    ``(B, 3, image_size, image_size)`` normalised with ImageNet's mean/std and
    ``y`` int64 ``(B,)`` class indices (the order of :func:`check_data_dir`).

    Train: a :class:`DistributedSampler` (also with one process) shuffles with
    ``seed`` and the epoch set by ``loader.sampler.set_epoch(epoch)``; each
    rank sees ``1 / world_size`` of the images; the last incomplete batch is
    dropped (BatchNorm needs more than one value per channel). Val: rank ``r``
    takes images ``r, r + world_size, ...`` with no padding, so the counts
    summed over ranks are exact.
    """
    classes = check_data_dir(data_dir)
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"expected image_size as an int >= 8, got {image_size!r}")
    normalize = transforms.Normalize(MEAN, STD)
    train_tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(image_size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            normalize,
        ]
    )
    val_tf = transforms.Compose(
        [
            transforms.Resize(round(image_size * 256 / 224)),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            normalize,
        ]
    )
    root = Path(data_dir)
    train_set = datasets.ImageFolder(str(root / "train"), train_tf)
    val_set = datasets.ImageFolder(str(root / "val"), val_tf)
    per_rank = math.ceil(len(train_set) / world_size)
    if per_rank < batch_size:
        raise ValueError(
            f"{root / 'train'} has {len(train_set)} images, {per_rank} per process of {world_size}: "
            f"fewer than one batch of {batch_size}; expected at least {batch_size * world_size} images "
            f"or a smaller --batch-size"
        )
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    train_loader = DataLoader(
        train_set, batch_size, sampler=sampler, num_workers=workers, pin_memory=pin_memory, drop_last=True
    )
    val_shard = Subset(val_set, range(rank, len(val_set), world_size))
    val_loader = DataLoader(val_shard, batch_size, shuffle=False, num_workers=workers, pin_memory=pin_memory)
    return train_loader, val_loader, classes
