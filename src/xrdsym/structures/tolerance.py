"""The spglib distance tolerance: its one default, its limit and its check. A light module
(no spglib), so that command-line options can state the default without loading spglib."""

from __future__ import annotations

import math

from xrdsym.errors import StructureError

#: Default spglib distance tolerance (Angstrom): tight enough not to promote slightly distorted
#: cells, loose enough for positions printed with 3-4 decimals.
DEFAULT_SYMPREC = 0.01

#: Largest spglib tolerance accepted (Angstrom): beyond it atoms of different sites merge and
#: every cell looks more symmetric than it is; spglib itself crashes on negative or NaN values.
MAX_SYMPREC = 1.0


def check_symprec(symprec: object) -> float:
    """``symprec`` as a float, checked to be finite and within (0, MAX_SYMPREC] Angstrom.

    Raises:
        StructureError: any other value (spglib would crash on a negative or NaN tolerance).
    """
    try:
        value = float(symprec)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(symprec, bool) or not (math.isfinite(value) and 0.0 < value <= MAX_SYMPREC):
        raise StructureError(
            f"symprec must be a number in (0, {MAX_SYMPREC:g}] Angstrom, got {symprec!r}"
        )
    return value
