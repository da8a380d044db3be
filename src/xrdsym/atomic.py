"""Atomic file writes: the one place where a file is written to a temporary name beside its
target and then renamed onto it (``os.replace``, atomic on POSIX), so that a reader never sees
a partial file and a crash leaves the previous version (or nothing) in place.

Temporary names are hidden (``.<name>.tmp-<pid>``) and end in neither ``.npz`` nor ``.json``,
so no pattern a reader uses for finished files matches them. A leaf module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

#: Marks the name of a temporary file (``.<name>.tmp-<pid>``).
TEMP_MARK = ".tmp-"


def temporary_path(path: Path) -> Path:
    """Hidden temporary name of ``path`` in its folder: ``.<name>.tmp-<pid>``."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` through (for writers that take a path, such as
    ``torch.save``): moved onto ``path`` when the block ends, removed when it raises."""
    target = Path(path)
    tmp = temporary_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Run ``write`` on a binary handle of a temporary file, flush it to disk (fsync), then
    move it onto ``path``."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path``, atomically."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, atomically."""
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any, *, sort_keys: bool = False) -> None:
    """Write ``obj`` as JSON indented by 2 with a final newline, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")
