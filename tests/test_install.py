"""coordlib on its own: the wheel holds the package only, and its layer tests pass without the book.

The wheel is built once per module, from a copy of the sources, offline (no build isolation: setuptools
comes from the test environment), and unpacked into a folder outside the
repository; a fresh interpreter with only that folder in front of its path
then runs ``tests/test_layers.py`` from a folder that holds nothing else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import coordlib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # built from a copy, so that the build leaves nothing in the repository
    src, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "coordlib", src / "coordlib", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out)],
        check=True, cwd=out,
    )
    (path,) = out.glob("coordlib-*.whl")
    return path


def test_version_is_the_installed_distributions():
    assert coordlib.__version__ == metadata.version("coordlib")


def test_the_wheel_holds_the_package_and_no_book_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    version = coordlib.__version__
    outside = [n for n in names if not (n.startswith("coordlib/") or n.startswith(f"coordlib-{version}.dist-info/"))]
    assert outside == []
    assert "coordlib/layers/coordconv.py" in names and "coordlib/rl/__init__.py" in names
    assert not [n for n in names if n.endswith((".ipynb", ".md", ".json", ".bib"))]


def test_the_layer_tests_pass_against_the_unpacked_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("test_layers.py", "conftest.py"):
        shutil.copy(ROOT / "tests" / name, work / name)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import coordlib; print(coordlib.__file__)"],
        check=True, cwd=work, env=env, capture_output=True, text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), f"imported {where}, not the unpacked wheel"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(work), str(work)],
        cwd=work, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
