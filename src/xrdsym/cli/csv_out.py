"""A CSV output of the batch commands: opened on the first row, ``-`` for standard output."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from xrdsym.errors import XrdsymError


class CsvOut:
    """Rows with the columns ``fields`` written to ``target`` (None: nowhere)."""

    def __init__(self, target: str | None, fields: Sequence[str]) -> None:
        self.target = target
        self.fields = list(fields)
        self.handle: TextIO | None = None
        self.writer: Any = None

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append rows, opening the file (and writing the header) on the first call."""
        if self.target is None:
            return
        if self.writer is None:
            if self.target == "-":
                self.handle = sys.stdout
            else:
                try:
                    self.handle = Path(self.target).open("w", newline="")  # noqa: SIM115
                except OSError as exc:
                    raise XrdsymError(f"{self.target}: cannot write ({exc.strerror})") from None
            self.writer = csv.DictWriter(self.handle, fieldnames=self.fields)
            self.writer.writeheader()
        self.writer.writerows(rows)

    def close(self) -> None:
        """Close the file (never standard output)."""
        if self.handle is not None and self.handle is not sys.stdout:
            self.handle.close()
