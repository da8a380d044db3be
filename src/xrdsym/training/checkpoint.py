"""Training checkpoints: written atomically, read without executing code.

A checkpoint holds only tensors and plain containers (model, optimizer and schedule state,
counters, RNG state), so it loads with ``torch.load(..., weights_only=True)``, which refuses any
pickle that would construct arbitrary objects.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from xrdsym.atomic import atomic_path
from xrdsym.errors import ModelFileError

CHECKPOINT_NAME = "checkpoint.pt"

#: The object torch names when it refuses a pickle: ``Unsupported global: GLOBAL print`` or
#: ``Trying to load unsupported GLOBAL posix.system whose module posix is blocked``.
_REFUSED_GLOBAL = re.compile(r"unsupported (?:global: )?GLOBAL ([\w.]+)", re.IGNORECASE)


def refusal_reason(exc: BaseException) -> str:
    """Why a checkpoint was not loaded, without torch's advice on how to load it anyway.

    torch's message of a refused pickle suggests ``weights_only=False`` or allow-listing the
    offending global; both would run what the file asks for, so only the object's name is
    kept.
    """
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text:
        found = _REFUSED_GLOBAL.search(text)
        what = f" ({found.group(1)})" if found else ""
        return (
            f"it holds objects other than tensors and plain containers{what}; refused unread, "
            "since loading it could run code: retrain or use a checkpoint you made"
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"unreadable ({first_line})"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    return target


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` onto the CPU.

    Raises:
        ModelFileError: the file is missing, truncated, or contains objects other than tensors
            and plain containers (a possibly malicious pickle is refused, never executed).
    """
    source = Path(path)
    if not source.is_file():
        raise ModelFileError(f"{source}: checkpoint not found")
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise ModelFileError(f"{source}: checkpoint {refusal_reason(exc)}") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{source}: a checkpoint must hold a dict, found {type(state)}")
    return state
