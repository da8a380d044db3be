"""Progress bars of the long commands: tqdm on standard error, with the total and an ETA."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def progress_bar(total: int | None, unit: str, disabled: bool = False) -> Any:
    """A tqdm bar of ``total`` items of ``unit``, shown on terminals only (never when
    ``disabled``)."""
    return tqdm(total=total, unit=unit, disable=True if disabled else None, file=sys.stderr)
