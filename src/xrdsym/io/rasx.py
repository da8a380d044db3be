"""Rigaku SmartLab Studio .rasx: a zip archive of a text profile and XML conditions.

Layout used::

    Data0/Profile0.txt                 2theta <tab> counts <tab> attenuator factor, one row
                                       per point (UTF-8 with BOM, CRLF)
    Data0/MesurementConditions0.xml    (sic) XrayGenerator/WavelengthKalpha1 (Angstrom),
                                       TargetName (anode), ScanInformation/AxisName, Unit
    Data1/...                          further scans

The intensity is counts x attenuator factor, as in .ras files. The first scan whose axis steps
2theta (``TwoTheta``, ``TwoThetaOmega``, ``TwoThetaTheta``, ``2Theta/Omega``) is read;
``metadata["scans"]`` gives how many the archive holds and ``metadata["scan"]`` which was used.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.archive import open_zip, parse_xml, read_member
from xrdsym.io.numeric import float_table
from xrdsym.io.pattern import Pattern, scan_metadata, validated_pattern

_PROFILE_RE = re.compile(r"^(?:(.*)/)?Profile(\d+)\.txt$", re.IGNORECASE)


def _local(tag: str) -> str:
    """Element tag without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def _text(root: object, name: str) -> str | None:
    """Text of the first descendant called ``name``, stripped, or None."""
    for element in root.iter():  # type: ignore[attr-defined]
        if _local(element.tag) == name and element.text and element.text.strip():
            return str(element.text.strip())
    return None


def _profiles(names: list[str]) -> list[tuple[str, str]]:
    """(profile member, its conditions member) in scan order."""
    found = []
    for name in names:
        match = _PROFILE_RE.match(name)
        if match:
            folder, number = match.group(1) or "", match.group(2)
            prefix = f"{folder}/" if folder else ""
            found.append((int(number), folder, name, f"{prefix}MesurementConditions{number}.xml"))
    return [(name, cond) for _, _, name, cond in sorted(found, key=lambda f: (f[1], f[0]))]


def steps_two_theta(axis: str | None) -> bool:
    """Whether a scan axis name moves 2theta."""
    key = (axis or "TwoTheta").lower().replace("/", "").replace("-", "")
    return key.startswith("twotheta") or key.startswith("2theta")


def _columns(data: bytes, source: str, member: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(2theta, intensity x attenuator, whether any factor differed from 1) of a profile.

    The profile is parsed by numpy from its bytes (:func:`xrdsym.io.numeric.float_table`);
    a third column, when every row has one, is the attenuator factor.
    """
    text = data.removeprefix(b"\xef\xbb\xbf")
    try:
        table = float_table(text, source, member, usecols=(0, 1, 2))
    except PatternFileError:
        table = float_table(text, source, member, usecols=(0, 1))
    if table.shape[0] == 0:
        raise PatternFileError(f"{source}: {member} holds no data rows")
    factor = table[:, 2] if table.shape[1] >= 3 else np.ones(table.shape[0])
    return table[:, 0], table[:, 1] * factor, bool(np.any(factor != 1.0))


def read_rasx(path: Path, data: bytes) -> Pattern:
    """Read the first 2theta scan of a Rigaku .rasx archive.

    Raises:
        PatternFileError: not a zip, no profile, no 2theta scan, or invalid values.
    """
    source = str(path)
    with open_zip(data, source) as archive:
        names = archive.namelist()
        profiles = _profiles(names)
        if not profiles:
            raise PatternFileError(
                f"{source}: zip archive without Data*/Profile*.txt (not a .rasx)"
            )
        for index, (member, conditions) in enumerate(profiles, start=1):
            root = None
            if conditions in names:
                root = parse_xml(read_member(archive, conditions, source), source, conditions)
            axis = None if root is None else _text(root, "AxisName")
            if not steps_two_theta(axis):
                continue
            profile = read_member(archive, member, source)
            two_theta, intensity, attenuated = _columns(profile, source, member)
            metadata = scan_metadata("rasx", len(profiles), index)
            metadata["axis"] = axis or "TwoTheta"
            if attenuated:
                metadata["attenuation_corrected"] = "true"
            wavelength = None
            if root is not None:
                anode = _text(root, "TargetName")
                if anode:
                    metadata["anode"] = anode
                unit = _text(root, "Unit")
                if unit:
                    metadata["intensity_unit"] = unit
                value = _text(root, "WavelengthKalpha1")
                wavelength = float(value) if value else None
            return validated_pattern(two_theta, intensity, source, wavelength, metadata)
    raise PatternFileError(f"{source}: no scan in the archive steps 2theta")
