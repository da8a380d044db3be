"""PANalytical / Malvern Panalytical XRDML (XML), schema versions 1.0 to 2.x.

Layout used (element names are matched without their namespace)::

    xrdMeasurements/xrdMeasurement
        usedWavelength/kAlpha1            K-alpha1 wavelength, Angstrom
        incidentBeamPath/xRayTube/anodeMaterial
        scan (one or more) /dataPoints
            positions axis="2Theta"       startPosition + endPosition (evenly spaced over the
                                          points) or listPositions (one value per point)
            intensities                   already corrected for beam attenuation, or
            counts                        raw counts (schema 2.x): multiplied here by
                                          beamAttenuationFactors / commonBeamAttenuationFactor

The first scan that steps 2theta is read; ``metadata["scans"]`` gives how many the file holds.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.archive import parse_xml
from xrdsym.io.numeric import float_values
from xrdsym.io.pattern import Pattern, scan_metadata, validated_pattern

#: Axis names XRDML uses for the diffraction angle.
TWO_THETA_AXES = ("2theta", "2theta-omega", "gonio")


def _local(tag: str) -> str:
    """Element tag without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    """Direct children with local tag ``name``."""
    return [child for child in element if _local(child.tag) == name]


def _descendant(element: ET.Element, name: str) -> ET.Element | None:
    """First descendant (depth first) with local tag ``name``, or None."""
    for child in element.iter():
        if _local(child.tag) == name:
            return child
    return None


def _floats(element: ET.Element | None, source: str) -> np.ndarray:
    """Whitespace-separated numbers of an element's text (empty array without text)."""
    if element is None or element.text is None:
        return np.zeros(0)
    return float_values(element.text, source, f"<{_local(element.tag)}>")


def _two_theta_positions(data_points: ET.Element, n_points: int, source: str) -> np.ndarray:
    """2theta of each point from the ``positions`` element of the 2theta axis.

    Raises:
        PatternFileError: no 2theta positions, or a list of the wrong length.
    """
    for positions in _children(data_points, "positions"):
        if (positions.get("axis") or "").lower() not in TWO_THETA_AXES:
            continue
        listed = _floats(_descendant(positions, "listPositions"), source)
        if listed.size:
            if listed.size != n_points:
                raise PatternFileError(
                    f"{source}: {listed.size} 2theta positions listed for {n_points} intensities"
                )
            return listed
        start = _descendant(positions, "startPosition")
        end = _descendant(positions, "endPosition")
        if start is not None and end is not None and start.text and end.text:
            return np.linspace(float(start.text), float(end.text), n_points)
    raise PatternFileError(f"{source}: the scan has no 2theta positions")


def _scan_intensity(data_points: ET.Element, source: str) -> tuple[np.ndarray, str]:
    """Intensities of one scan, corrected for beam attenuation, and their unit.

    Raises:
        PatternFileError: neither ``intensities`` nor ``counts``.
    """
    corrected = _descendant(data_points, "intensities")
    if corrected is not None:
        return _floats(corrected, source), corrected.get("unit", "counts")
    raw = _descendant(data_points, "counts")
    if raw is None:
        raise PatternFileError(f"{source}: the scan has neither <intensities> nor <counts>")
    counts = _floats(raw, source)
    factors = _floats(_descendant(data_points, "beamAttenuationFactors"), source)
    common = _floats(_descendant(data_points, "commonBeamAttenuationFactor"), source)
    if factors.size == counts.size:
        counts = counts * factors
    elif common.size == 1:
        counts = counts * common[0]
    return counts, raw.get("unit", "counts")


def _wavelength(measurement: ET.Element) -> float | None:
    """K-alpha1 wavelength in Angstrom from ``usedWavelength``, or None."""
    used = _descendant(measurement, "usedWavelength")
    if used is None:
        return None
    k_alpha1 = _descendant(used, "kAlpha1")
    if k_alpha1 is None or not k_alpha1.text:
        return None
    value = float(k_alpha1.text)
    return value * 10.0 if (k_alpha1.get("unit") or "").lower() == "nm" else value


def read_xrdml(path: Path, data: bytes) -> Pattern:
    """Read the first 2theta scan of a PANalytical .xrdml file.

    Raises:
        PatternFileError: malformed XML, no scan, no 2theta axis, or invalid values.
    """
    source = str(path)
    root = parse_xml(data, source, "the XRDML document")
    measurement = _descendant(root, "xrdMeasurement")
    if measurement is None:
        raise PatternFileError(f"{source}: no <xrdMeasurement> element")
    scans = [s for s in measurement.iter() if _local(s.tag) == "scan"]
    if not scans:
        raise PatternFileError(f"{source}: the measurement holds no <scan>")
    last_error: PatternFileError | None = None
    for index, scan in enumerate(scans, start=1):
        data_points = _descendant(scan, "dataPoints")
        if data_points is None:
            continue
        intensity, unit = _scan_intensity(data_points, source)
        try:
            two_theta = _two_theta_positions(data_points, intensity.size, source)
        except PatternFileError as exc:
            last_error = exc
            continue
        metadata = {**scan_metadata("xrdml", len(scans), index), "intensity_unit": unit}
        anode = _descendant(measurement, "anodeMaterial")
        if anode is not None and anode.text:
            metadata["anode"] = anode.text.strip()
        sample = _descendant(root, "sample")
        sample_id = None if sample is None else _descendant(sample, "id")
        if sample_id is not None and sample_id.text:
            metadata["sample"] = sample_id.text.strip()
        return validated_pattern(
            two_theta, intensity, source, wavelength=_wavelength(measurement), metadata=metadata
        )
    raise last_error or PatternFileError(f"{source}: no scan with data points")
