"""Exceptions for expected failures: the CLI prints their message without a traceback."""

from __future__ import annotations


class XrdsymError(Exception):
    """Base class of every expected error; the message names the file and the problem."""


class StructureError(XrdsymError):
    """A crystal structure could not be read or labelled (malformed CIF, no atoms, ...)."""


class PatternFileError(XrdsymError):
    """A measured pattern file could not be read or is unusable (binary, NaN, too short, ...)."""


class ModelFileError(XrdsymError):
    """A model weights or config file is missing or inconsistent."""


class DatasetError(XrdsymError):
    """A dataset folder is missing, incomplete or inconsistent."""
