"""Atomic file writes: a reader never sees a half-written checkpoint or result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it over ``path``.

    The rename is atomic on POSIX and Windows, so ``path`` holds either the old
    content or the complete new one. On any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def store_record(path: str | os.PathLike, key: str, record) -> dict:
    """Add ``record`` under ``key`` to the JSON object at ``path`` (created if absent), atomically.

    The file is read again before the update, so records other runs wrote meanwhile are kept;
    it is written sorted by key, one space of indent. Returns the whole object.
    """
    path = Path(path)
    done = json.loads(path.read_text()) if path.exists() else {}
    done[key] = record
    text = json.dumps(done, indent=1, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))
    return done
