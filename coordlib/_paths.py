"""Where the repository checkout is, found from this package's location, never from the current directory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["repository"]

_PACKAGE = Path(__file__).resolve().parent


def repository() -> Path | None:
    """The checkout coordlib is installed from (editable install or ``PYTHONPATH``), or ``None``.

    A checkout is the package's parent folder when it holds ``pyproject.toml`` and ``book/``; a wheel
    installed into ``site-packages`` has neither, so it has no repository.
    """
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "book").is_dir() else None
