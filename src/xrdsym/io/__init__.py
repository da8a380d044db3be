"""Measured powder patterns: one reader per file format behind :func:`read_pattern`.

Supported: two-column text (.xy, .xye, .dat, .txt, .csv), PANalytical .xrdml, Rigaku .ras,
Bruker .brml and binary .raw (versions 1-4), GSAS .gsa/.fxye. Every reader returns a
:class:`Pattern`; every problem with a file raises :class:`~xrdsym.errors.PatternFileError`.
"""

from __future__ import annotations

from xrdsym.errors import PatternFileError
from xrdsym.io.formats import FORMATS, PatternFormat, detect_format, list_formats, read_pattern
from xrdsym.io.numeric import MAX_POINTS
from xrdsym.io.pattern import MIN_POINTS, NEGATIVE_TOLERANCE, Pattern, validated_pattern

__all__ = [
    "FORMATS",
    "MAX_POINTS",
    "MIN_POINTS",
    "NEGATIVE_TOLERANCE",
    "Pattern",
    "PatternFileError",
    "PatternFormat",
    "detect_format",
    "list_formats",
    "read_pattern",
    "validated_pattern",
]
