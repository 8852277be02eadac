"""Shipped MNIST (checksums, official order, where it is looked for) and Field-of-MNIST."""

import inspect
import shutil
from typing import ClassVar

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from coordlib import datasets

SHIPPED = datasets.mnist._REPO_DATA / datasets.mnist.FILENAME
OFFICIAL_FIRST = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty folder as COORDLIB_DATA, downloads not allowed by the environment."""
    monkeypatch.setenv(datasets.mnist.DATA_ENV, str(tmp_path))
    monkeypatch.delenv(datasets.mnist.DOWNLOAD_ENV, raising=False)
    datasets.mnist._download.cache_clear()
    yield tmp_path
    datasets.mnist._download.cache_clear()


# --------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("split", ["train", "test"])
def test_shapes_dtypes_counts_and_official_first_labels(split):
    images, labels = datasets.load_mnist(split)
    n = datasets.mnist.COUNTS[split]
    assert n == {"train": 12_000, "test": 2_000}[split]
    assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert labels[:10].tolist() == OFFICIAL_FIRST[split]
    assert set(labels.unique().tolist()) == set(range(10))
    assert int(images.max()) == 255 and int(images.min()) == 0


def test_loading_is_cached():
    assert datasets.load_mnist("train")[0] is datasets.load_mnist("train")[0]


def test_copy_elsewhere_loads_and_corrupted_copy_fails_checksum(data_dir):
    copy = data_dir / datasets.mnist.FILENAME
    shutil.copyfile(SHIPPED, copy)
    images, _labels = datasets.load_mnist("test")
    assert torch.equal(images, datasets.mnist._read_shipped(str(SHIPPED), *_stat(SHIPPED))["test"][0])
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(datasets.MnistChecksumError, match=r"sha256 [0-9a-f]{64}, expected " + datasets.mnist.SHA256):
        datasets.load_mnist("test")


def _stat(path):
    s = path.stat()
    return s.st_mtime_ns, s.st_size


def test_missing_file_explains_where_it_looked_and_how_to_fix(data_dir):
    with pytest.raises(FileNotFoundError) as err:
        datasets.load_mnist("train")
    msg = str(err.value)
    assert str(data_dir / datasets.mnist.FILENAME) in msg
    assert "COORDLIB_DATA" in msg and "clone the repository" in msg and "download=True" in msg


def test_unknown_split_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown MNIST split 'validation'; valid splits are 'train', 'test'"):
        datasets.load_mnist("validation")


class _FakeMNIST:
    """Stands in for torchvision.datasets.MNIST: the shipped digits followed by blanks."""

    shipped: ClassVar[dict] = {}
    calls: ClassVar[list] = []
    tamper = False

    def __init__(self, root, train, download):
        self.calls.append((root, train, download))
        images, labels = self.shipped["train" if train else "test"]
        self.data = torch.cat([images, torch.zeros(5, 28, 28, dtype=torch.uint8)])
        self.targets = torch.cat([labels, torch.zeros(5, dtype=torch.int64)])
        if self.tamper:
            self.data[0, 0, 0] = 1


def test_download_fallback_keeps_the_same_first_digits(data_dir, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(_FakeMNIST, "shipped", {s: datasets.mnist._read_shipped(str(SHIPPED), *_stat(SHIPPED))[s] for s in datasets.mnist.SPLITS})
    monkeypatch.setattr(_FakeMNIST, "calls", [])
    monkeypatch.setattr(torchvision.datasets, "MNIST", _FakeMNIST)
    images, labels = datasets.load_mnist("test", download=True)
    assert torch.equal(images, _FakeMNIST.shipped["test"][0]) and torch.equal(labels, _FakeMNIST.shipped["test"][1])
    cache = str(data_dir / "cache")  # COORDLIB_DATA exists, so the download goes to its cache/
    assert _FakeMNIST.calls == [(cache, True, True), (cache, False, True)]

    datasets.mnist._download.cache_clear()
    monkeypatch.setenv(datasets.mnist.DOWNLOAD_ENV, "1")  # the environment variable allows it too
    monkeypatch.setattr(_FakeMNIST, "tamper", True)
    with pytest.raises(datasets.MnistChecksumError, match="train_images has content sha256"):
        datasets.load_mnist("train")


# --------------------------------------------------------------------------- Field-of-MNIST


@pytest.fixture(scope="module")
def field():
    return datasets.field_of_mnist(120, seed=3)


def test_defaults_are_the_papers_settings():
    params = inspect.signature(datasets.field_of_mnist).parameters
    for name in ("digits", "canvas", "crop", "min_size", "max_size"):
        assert params[name].default == datasets.mnist.PAPER[name]
    assert (datasets.mnist.PAPER["n_train"], datasets.mnist.PAPER["n_val"]) == (9_000, 1_000)


def test_shapes_dtypes_and_box_lists(field):
    n = len(field)
    assert n == 120
    assert field.images.shape == (n, 1, 64, 64) and field.images.dtype == torch.float32
    assert 0.0 <= float(field.images.min()) and float(field.images.max()) <= 1.0
    assert len(field.boxes) == len(field.labels) == n
    counts = field.placements.visible.sum(dim=1)
    for i in range(n):
        assert field.boxes[i].shape == (int(counts[i]), 4) and field.boxes[i].dtype == torch.float32
        assert field.labels[i].shape == (int(counts[i]),) and field.labels[i].dtype == torch.int64
    assert int(counts.max()) <= 5
    assert 0 < int(counts.sum()) < 5 * n  # some digits are cut away, many remain
    p = field.placements
    assert p.source.shape == (n, 5)
    assert int(p.height.min()) >= 15 and int(p.height.max()) <= 25
    assert int(p.width.min()) >= 15 and int(p.width.max()) <= 25
    assert torch.all(p.top + p.height <= 120) and torch.all(p.left + p.width <= 120)


def test_boxes_inside_crop_with_positive_area(field):
    boxes = torch.cat(field.boxes)
    assert torch.all(boxes[:, :2] >= 0) and torch.all(boxes[:, 2:] <= 64)
    assert torch.all(boxes[:, 2] > boxes[:, 0]) and torch.all(boxes[:, 3] > boxes[:, 1])
    assert torch.equal(boxes, boxes.round())  # pixel edges


def test_deterministic_per_seed():
    a, b = datasets.field_of_mnist(20, seed=5), datasets.field_of_mnist(20, seed=5)
    assert torch.equal(a.images, b.images)
    assert all(torch.equal(x, y) for x, y in zip(a.boxes, b.boxes))
    c = datasets.field_of_mnist(20, seed=6)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.placements.source, c.placements.source)


def test_binary_images_are_the_releases_summed_and_clipped_pixels():
    gray = datasets.field_of_mnist(20, seed=5)
    binary = datasets.field_of_mnist(20, seed=5, binary=True)
    assert binary.binary and not gray.binary
    assert set(binary.images.unique().tolist()) == {0.0, 1.0}
    # the release adds 8-bit digits and clips to 1: a pixel is 1 where any digit has a nonzero 8-bit value
    assert torch.equal(binary.images, ((gray.images * 255).round() >= 1).float())
    assert all(torch.equal(x, y) for x, y in zip(gray.boxes, binary.boxes))
    assert float(binary.images.mean()) > float(gray.images.mean())
    with pytest.raises(TypeError, match="binary"):
        datasets.field_of_mnist(2, binary=1)


def _render_alone(digit_uint8, height, width, top, left, canvas=120, crop=64):
    """One digit pasted on its own full canvas, then the centre crop: an independent re-render."""
    glyph = F.interpolate(
        digit_uint8.float()[None, None] / 255.0, size=(height, width), mode="bilinear", antialias=True
    )[0, 0].clamp(0, 1)
    full = torch.zeros(canvas, canvas)
    full[top : top + height, left : left + width] = glyph
    off = (canvas - crop) // 2
    return full[off : off + crop, off : off + crop]


def test_every_box_is_the_tight_ink_box_of_its_own_digit(field):
    pool, pool_labels = datasets.load_mnist("train")
    p = field.placements
    dropped_outside = 0
    for i in range(60):
        alone = [
            _render_alone(pool[p.source[i, s]], *(int(t[i, s]) for t in (p.height, p.width, p.top, p.left)))
            for s in range(5)
        ]
        # the image is the maximum of the digits rendered alone (ink stays ink)
        assert torch.allclose(field.images[i, 0], torch.stack(alone).amax(0), atol=1e-6)
        expected_boxes, expected_labels = [], []
        for s, img in enumerate(alone):
            rows, cols = np.nonzero((img > datasets.mnist.INK_THRESHOLD).numpy())
            if len(rows) == 0:
                assert not p.visible[i, s]
                top, left, h, w = (int(t[i, s]) for t in (p.top, p.left, p.height, p.width))
                dropped_outside += top + h <= 28 or top >= 92 or left + w <= 28 or left >= 92
                continue
            assert p.visible[i, s]
            # torchvision convention: x1, y1 are one past the last inked column / row
            expected_boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
            expected_labels.append(int(pool_labels[p.source[i, s]]))
        assert field.boxes[i].tolist() == [[float(v) for v in b] for b in expected_boxes]
        assert field.labels[i].tolist() == expected_labels
    assert dropped_outside > 0  # the check above met digits placed wholly outside the crop


def test_digit_wholly_outside_the_crop_is_dropped(field):
    p = field.placements
    outside = (p.top + p.height <= 28) | (p.top >= 92) | (p.left + p.width <= 28) | (p.left >= 92)
    assert int(outside.sum()) > 0
    assert not torch.any(p.visible[outside])
    cut = torch.cat(field.boxes)  # and digits straddling the border are clipped to it
    assert bool(((cut[:, 0] == 0) | (cut[:, 1] == 0) | (cut[:, 2] == 64) | (cut[:, 3] == 64)).any())


def test_targets_are_torchvision_dicts(field):
    agnostic, classes = field.targets(), field.targets(class_agnostic=False)
    for t, c, b, lab in zip(agnostic, classes, field.boxes, field.labels):
        assert set(t) == {"boxes", "labels"} and t["boxes"] is b
        assert torch.equal(t["labels"], torch.ones_like(lab)) and t["labels"].dtype == torch.int64
        assert torch.equal(c["labels"], lab + 1)


def test_other_sizes_and_split():
    small = datasets.field_of_mnist(4, seed=0, split="test", digits=2, canvas=40, crop=32, min_size=10, max_size=12)
    assert small.images.shape == (4, 1, 32, 32) and small.split == "test" and small.offset == 4
    assert small.placements.source.shape == (4, 2) and int(small.placements.source.max()) < 2_000


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n": 0}, ValueError, "n as an int >= 1, got 0"),
        ({"n": 2.5}, TypeError, "n as an int >= 1, got float"),
        ({"n": True}, TypeError, "n as an int >= 1, got bool"),
        ({"n": 2, "split": "val"}, ValueError, "valid splits are 'train', 'test'"),
        ({"n": 2, "digits": 0}, ValueError, "digits as an int >= 1"),
        ({"n": 2, "canvas": 60}, ValueError, r"canvas as an int >= 64, got 60"),
        ({"n": 2, "min_size": 26}, ValueError, r"max_size as an int >= 26, got 25"),
        ({"n": 2, "max_size": 130}, ValueError, r"max_size <= canvas \(120\)"),
        ({"n": 2, "seed": -1}, ValueError, "seed as an int >= 0"),
    ],
)
def test_arguments_are_validated(kwargs, error, message):
    with pytest.raises(error, match=message):
        datasets.field_of_mnist(**kwargs)
