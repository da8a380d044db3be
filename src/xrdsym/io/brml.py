"""Bruker DIFFRAC.SUITE .brml: a zip archive of XML documents.

Layout used::

    Experiment0/RawData0.xml (RawData1.xml, ... one per scan)
      RawData
        ... WaveLengthAlpha1 Value="1.5406" Unit="A"     (anywhere: FixedInformation/Instrument)
        DataRoutes/DataRoute RouteFlag="Measured"
          Datum  "1,1,10.000,5.000,123"                  one comma-separated row per point
          DataViews/RawDataView                          what each column of a Datum holds:
            xsi:type="FixedRawDataView"    Start LogicName="MeasuredTime" / "AbsorptionFactor"
            xsi:type="VaryingRawDataView"  Start Length, Varying/FieldDefinitions AxisId=...
                                           (one column per axis, in order, from Start)
            xsi:type="RecordedRawDataView" Start Length="1"   the detector counts

Columns are located from ``DataViews`` (their position differs between files). The recorded
intensity is already corrected for the automatic absorber (Bruker stores the corrected value
and the factor beside it), so it is used as it is. The first RawData document that steps
2theta is read; ``metadata["scans"]`` gives how many the archive holds.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np

from xrdsym.errors import PatternFileError
from xrdsym.io.archive import XmlDocument, open_zip, parse_xml_rows, read_member
from xrdsym.io.numeric import float_table
from xrdsym.io.pattern import Pattern, scan_metadata, validated_pattern

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_RAW_DATA_RE = re.compile(r"(?:^|/)RawData(\d+)\.xml$", re.IGNORECASE)

#: Axis ids of the diffraction angle in BRML field definitions.
TWO_THETA_AXIS_IDS = frozenset({"twotheta", "2theta"})


def _local(tag: str) -> str:
    """Element tag without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def _view_type(view: ET.Element) -> str:
    """The ``xsi:type`` of a RawDataView, without prefix."""
    return (view.get(_XSI_TYPE) or view.get("type") or "").rpartition(":")[2]


def _route(root: ET.Element, source: str, member: str) -> tuple[int, ET.Element]:
    """The measured DataRoute (or the only one) and its place among the routes.

    Raises:
        PatternFileError: no route, or several without one marked Measured.
    """
    routes = [e for e in root.iter() if _local(e.tag) == "DataRoute"]
    measured = [r for r in routes if r.get("RouteFlag") == "Measured"]
    if len(measured) == 1:
        return routes.index(measured[0]), measured[0]
    if len(routes) == 1:
        return 0, routes[0]
    raise PatternFileError(
        f"{source}: {member} holds {len(routes)} data routes and not exactly one marked Measured"
    )


def _columns(route: ET.Element, source: str, member: str) -> tuple[int | None, int]:
    """Datum column indices (2theta or None, intensity) from the route's DataViews.

    Raises:
        PatternFileError: no recorded intensity column, or a multi-channel detector frame.
    """
    two_theta: int | None = None
    intensity: int | None = None
    for view in (e for e in route.iter() if _local(e.tag) == "RawDataView"):
        start = int(view.get("Start", "0"))
        kind = _view_type(view)
        if kind == "VaryingRawDataView":
            fields = [f for f in view.iter() if _local(f.tag) == "FieldDefinitions"]
            for offset, definition in enumerate(fields):
                axis = (definition.get("AxisId") or definition.get("FieldName") or "").lower()
                if axis in TWO_THETA_AXIS_IDS and two_theta is None:
                    two_theta = start + offset
        elif kind == "RecordedRawDataView" and intensity is None:
            if int(view.get("Length", "1")) != 1:
                raise PatternFileError(
                    f"{source}: {member} records a detector frame per point "
                    "(position-sensitive detector); export the integrated 1D scan"
                )
            intensity = start
    if intensity is None:
        raise PatternFileError(f"{source}: {member} declares no recorded intensity column")
    return two_theta, intensity


def _wavelength(root: ET.Element) -> float | None:
    """K-alpha1 wavelength in Angstrom (``WaveLengthAlpha1``, else ``WaveLength``), or None."""
    for name in ("WaveLengthAlpha1", "WaveLength"):
        for element in root.iter():
            if _local(element.tag) == name and element.get("Value"):
                value = float(element.get("Value", "nan"))
                return value * 10.0 if (element.get("Unit") or "").lower() == "nm" else value
    return None


def _members(archive: zipfile.ZipFile) -> list[str]:
    """RawData<N>.xml members in scan order."""
    found = [
        (int(m.group(1)), name) for name in archive.namelist() if (m := _RAW_DATA_RE.search(name))
    ]
    return [name for _, name in sorted(found)]


def _read_member(
    document: XmlDocument, source: str, member: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """(2theta, intensity) of one RawData document, or None when it does not step 2theta.

    The ``Datum`` rows were streamed out of the tree (:func:`parse_xml_rows`); those of the
    measured route are parsed here by numpy as comma-separated rows.
    """
    index, route = _route(document.root, source, member)
    two_theta_col, intensity_col = _columns(route, source, member)
    if two_theta_col is None:
        return None
    rows = document.rows[index].text() if index < len(document.rows) else ""
    if not rows.strip():
        raise PatternFileError(f"{source}: {member} holds no <Datum> rows")
    table = float_table(
        rows, source, f"the <Datum> rows of {member}", ",", (two_theta_col, intensity_col)
    )
    return table[:, 0], table[:, 1]


def read_brml(path: Path, data: bytes) -> Pattern:
    """Read the first 2theta scan of a Bruker .brml archive.

    Raises:
        PatternFileError: not a zip, no RawData document, no 2theta scan, or invalid values.
    """
    source = str(path)
    with open_zip(data, source) as archive:
        members = _members(archive)
        if not members:
            raise PatternFileError(f"{source}: zip archive without RawData*.xml (not a .brml)")
        for index, member in enumerate(members, start=1):
            document = parse_xml_rows(
                read_member(archive, member, source), source, member, "Datum", "DataRoute"
            )
            root = document.root
            columns = _read_member(document, source, member)
            if columns is None:
                continue
            metadata = {**scan_metadata("brml", len(members), index), "member": member}
            for element in root.iter():
                anode = (element.text or element.get("Value") or "").strip()
                if _local(element.tag) == "TubeMaterial" and anode:
                    metadata["anode"] = anode
                    break
            return validated_pattern(
                columns[0], columns[1], source, wavelength=_wavelength(root), metadata=metadata
            )
    raise PatternFileError(f"{source}: no scan in the archive steps 2theta")
