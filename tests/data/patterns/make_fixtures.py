"""Write the pattern-file fixtures of this folder.

Run: ``python tests/data/patterns/make_fixtures.py``.

Every fixture holds the same measurement: a simulated silicon powder pattern (Fd-3m,
a = 5.4309 A, Cu K-alpha1) from 20 to 80 degrees 2theta in 0.1 degree steps (601 points),
Gaussian peaks on a sloping background with Poisson noise from a fixed seed. The reference copy
is ``si_reference.xy``; each other file stores the same counts in one vendor layout, written
from the published format descriptions (no vendor file was copied):

* ``.xrdml``: PANalytical XRDML schema 1.5 (``intensities``, start/end positions) and 2.1
  (raw ``counts`` with ``beamAttenuationFactors``, ``listPositions``);
* ``.ras``: Rigaku RAS with an attenuator coefficient column;
* ``.brml``: Bruker DIFFRAC.SUITE zip (``Experiment0/RawData0.xml`` with ``DataViews``);
* ``.raw``: Bruker RAW version 4 (``RAW4.00`` segment chain, 8-byte records) and version 1
  (``RAW ``, two ranges);
* ``.gsa``/``.fxye``: GSAS STD, ESD and FXYE banks (2theta in centidegrees).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

START, STEP, N_POINTS = 20.0, 0.1, 601
CU_KA1, CU_KA2, CU_KB = 1.540598, 1.544426, 1.392250
SILICON_A = 5.4309
#: (hkl, relative intensity) of the silicon reflections in 20-80 degrees with Cu K-alpha1.
SILICON_REFLECTIONS = (
    ((1, 1, 1), 100.0),
    ((2, 2, 0), 55.0),
    ((3, 1, 1), 30.0),
    ((4, 0, 0), 6.0),
    ((3, 3, 1), 11.0),
)
PEAK_HEIGHT, FWHM = 2400.0, 0.18
#: Points whose counts exceed this were measured through an attenuator in the vendor files.
ATTENUATED_ABOVE = 1500.0
ATTENUATION = 8.0


def silicon_counts() -> tuple[np.ndarray, np.ndarray]:
    """(2theta degrees, integer counts) of the reference measurement."""
    two_theta = START + STEP * np.arange(N_POINTS)
    expected = 60.0 + 40.0 * np.exp(-(two_theta - START) / 25.0)
    sigma = FWHM / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    for hkl, relative in SILICON_REFLECTIONS:
        d = SILICON_A / np.sqrt(sum(i * i for i in hkl))
        centre = 2.0 * np.degrees(np.arcsin(CU_KA1 / (2.0 * d)))
        expected += (
            PEAK_HEIGHT * relative / 100.0 * np.exp(-0.5 * ((two_theta - centre) / sigma) ** 2)
        )
    counts = np.random.default_rng(20170601).poisson(expected).astype(np.float64)
    return np.round(two_theta, 4), counts


def write_reference(x: np.ndarray, y: np.ndarray) -> None:
    lines = [
        "# simulated Si powder pattern, Cu K-alpha1",
        "# wavelength = 1.540598 A",
        "# 2theta(deg) counts",
    ]
    lines += [f"{a:.4f} {b:.0f}" for a, b in zip(x, y, strict=True)]
    (HERE / "si_reference.xy").write_text("\n".join(lines) + "\n")


def write_text_variants(x: np.ndarray, y: np.ndarray) -> None:
    esd = np.sqrt(np.maximum(y, 1.0))
    xye = ["2theta\tintensity\tesd"] + [
        f"{a:.4f}\t{b:.0f}\t{e:.3f}" for a, b, e in zip(x, y, esd, strict=True)
    ]
    (HERE / "si_tabs.xye").write_text("\r\n".join(xye) + "\r\n")
    csv = ["two_theta,intensity"] + [f"{a:.4f}, {b:.1f}" for a, b in zip(x, y, strict=True)]
    (HERE / "si_comma.csv").write_text("\n".join(csv) + "\n")
    semicolon = ["Winkel;Intensitaet"] + [
        f"{a:.4f};{b:.0f}".replace(".", ",") for a, b in zip(x, y, strict=True)
    ]
    (HERE / "si_semicolon.txt").write_text("\n".join(semicolon) + "\n")
    descending = [f"{a:10.4f}{b:10.0f}" for a, b in zip(x[::-1], y[::-1], strict=True)]
    (HERE / "si_descending.dat").write_text("\n".join(descending) + "\n")


def _attenuated(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stored counts, attenuation factor) with the strongest points behind an attenuator."""
    factors = np.where(y > ATTENUATED_ABOVE, ATTENUATION, 1.0)
    return y / factors, factors


def write_xrdml(x: np.ndarray, y: np.ndarray) -> None:
    def document(version: str, data_points: str) -> str:
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/{version}" status="Completed">
  <comment><entry>simulated Si standard</entry></comment>
  <sample type="To be analyzed"><id>Si-640</id><name>silicon</name></sample>
  <xrdMeasurement measurementType="Scan" status="Completed" sampleMode="Reflection">
    <usedWavelength intended="K-Alpha 1">
      <kAlpha1 unit="Angstrom">{CU_KA1:.7f}</kAlpha1>
      <kAlpha2 unit="Angstrom">{CU_KA2:.7f}</kAlpha2>
      <kBeta unit="Angstrom">{CU_KB:.7f}</kBeta>
      <ratioKAlpha2KAlpha1 unit="None">0.5000</ratioKAlpha2KAlpha1>
    </usedWavelength>
    <incidentBeamPath>
      <radius unit="mm">240.00</radius>
      <xRayTube name="Empyrean Cu LFF">
        <tension unit="kV">45</tension><current unit="mA">40</current>
        <anodeMaterial>Cu</anodeMaterial>
      </xRayTube>
    </incidentBeamPath>
    <scan appendNumber="0" mode="Continuous" scanAxis="Gonio" status="Completed">
      <header>
        <startTimeStamp>2017-06-01T10:00:00+02:00</startTimeStamp>
        <endTimeStamp>2017-06-01T10:30:00+02:00</endTimeStamp>
      </header>
      <dataPoints>
{data_points}
      </dataPoints>
    </scan>
  </xrdMeasurement>
</xrdMeasurements>
"""

    omega = f"""        <positions axis="Omega" unit="deg">
          <startPosition>{x[0] / 2:.4f}</startPosition><endPosition>{x[-1] / 2:.4f}</endPosition>
        </positions>"""
    corrected = f"""        <positions axis="2Theta" unit="deg">
          <startPosition>{x[0]:.4f}</startPosition>
          <endPosition>{x[-1]:.4f}</endPosition>
        </positions>
{omega}
        <commonCountingTime unit="seconds">1.00</commonCountingTime>
        <intensities unit="counts">{" ".join(f"{v:.0f}" for v in y)}</intensities>"""
    (HERE / "si_v15.xrdml").write_text(document("1.5", corrected))
    stored, factors = _attenuated(y)
    raw = f"""        <positions axis="2Theta" unit="deg">
          <listPositions>{" ".join(f"{v:.4f}" for v in x)}</listPositions>
        </positions>
{omega}
        <commonCountingTime unit="seconds">1.00</commonCountingTime>
        <beamAttenuationFactors>{" ".join(f"{v:g}" for v in factors)}</beamAttenuationFactors>
        <counts unit="counts">{" ".join(f"{v:g}" for v in stored)}</counts>"""
    (HERE / "si_v21_counts.xrdml").write_text(document("2.1", raw))


def write_ras(x: np.ndarray, y: np.ndarray) -> None:
    stored, factors = _attenuated(y)
    header = {
        "FILE_COMMENT": "simulated Si standard",
        "FILE_SAMPLE": "Si-640",
        "HW_XG_TARGET_NAME": "Cu",
        "HW_XG_WAVE_LENGTH_ALPHA1": f"{CU_KA1:.6f}",
        "HW_XG_WAVE_LENGTH_ALPHA2": f"{CU_KA2:.6f}",
        "HW_XG_WAVE_LENGTH_BETA": f"{CU_KB:.6f}",
        "MEAS_SCAN_AXIS_X": "TwoThetaTheta",
        "MEAS_SCAN_MODE": "CONTINUOUS",
        "MEAS_SCAN_START": f"{x[0]:.4f}",
        "MEAS_SCAN_STEP": f"{STEP:.4f}",
        "MEAS_SCAN_STOP": f"{x[-1]:.4f}",
        "MEAS_SCAN_UNIT_X": "deg",
        "MEAS_SCAN_UNIT_Y": "counts",
        "MEAS_DATA_COUNT": str(x.size),
    }
    lines = ["*RAS_DATA_START", "*RAS_HEADER_START"]
    lines += [f'*{key} "{value}"' for key, value in header.items()]
    lines += ["*RAS_HEADER_END", "*RAS_INT_START"]
    lines += [f"{a:.4f} {b:g} {f:.4f}" for a, b, f in zip(x, stored, factors, strict=True)]
    lines += ["*RAS_INT_END", "*RAS_DATA_END"]
    (HERE / "si.ras").write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))


def write_brml(x: np.ndarray, y: np.ndarray) -> None:
    datums = "\n".join(
        f"      <Datum>1,1,{a:.4f},{a / 2:.4f},{b:.0f}</Datum>" for a, b in zip(x, y, strict=True)
    )
    raw_data = f"""<?xml version="1.0" encoding="utf-8"?>
<RawData xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <FixedInformation>
    <Instrument>
      <PrimaryTracks><TrackInfoData><MountedOptics>
        <InfoData xsi:type="Tube">
          <TubeMaterial>Cu</TubeMaterial>
          <WaveLengthAlpha1 Value="1.5406" Unit="\u00c5" />
          <WaveLengthAlpha2 Value="1.54439" Unit="\u00c5" />
          <WaveLengthRatio Value="0.5" />
        </InfoData>
      </MountedOptics></TrackInfoData></PrimaryTracks>
    </Instrument>
  </FixedInformation>
  <DataRoutes>
    <DataRoute RouteFlag="Measured">
      <ScanInformation ScanName="Coupled TwoTheta/Theta">
        <ScanAxes>
          <ScanAxisInfo AxisId="TwoTheta" AxisName="TwoTheta" Unit="\u00b0">
            <Start>{x[0]:.4f}</Start><Stop>{x[-1]:.4f}</Stop><Increment>{STEP}</Increment>
          </ScanAxisInfo>
        </ScanAxes>
        <MeasurementPoints>{x.size}</MeasurementPoints>
      </ScanInformation>
{datums}
      <DataViews>
        <RawDataView xsi:type="FixedRawDataView" Start="0" Length="1" LogicName="MeasuredTime" />
        <RawDataView xsi:type="FixedRawDataView" Start="1" Length="1"
                     LogicName="AbsorptionFactor" />
        <RawDataView xsi:type="VaryingRawDataView" Start="2" Length="2">
          <Varying>
            <FieldDefinitions FieldName="TwoTheta" AxisId="TwoTheta" />
            <FieldDefinitions FieldName="Theta" AxisId="Theta" />
          </Varying>
        </RawDataView>
        <RawDataView xsi:type="RecordedRawDataView" Start="4" Length="1">
          <Recording LogicName="ScanCounter"><Unit Base="Counts" /></Recording>
        </RawDataView>
      </DataViews>
    </DataRoute>
  </DataRoutes>
</RawData>
"""
    container = """<?xml version="1.0" encoding="utf-8"?>
<DataContainer><RawDataReferenceList><string>Experiment0/RawData0.xml</string>
</RawDataReferenceList></DataContainer>
"""
    with zipfile.ZipFile(HERE / "si.brml", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Experiment0/DataContainer.xml", container)
        archive.writestr("Experiment0/RawData0.xml", raw_data)
        archive.writestr("experimentCollection.xml", "<ExperimentCollection />")


def _field(text: str, length: int) -> bytes:
    return text.encode("latin-1")[:length].ljust(length, b"\0")


def write_raw_v4(x: np.ndarray, y: np.ndarray) -> None:
    preamble = bytearray(61)
    preamble[0:7] = b"RAW4.00"
    preamble[12:22] = _field("06/01/2017", 10)
    preamble[24:32] = _field("10:00:00", 8)
    keyvalue = bytearray(72)
    struct.pack_into("<II", keyvalue, 0, 10, len(keyvalue))
    keyvalue[12:36] = _field("SampleID", 24)
    keyvalue[36:72] = _field("Si-640", 36)
    tube = bytearray(128)
    struct.pack_into("<II", tube, 0, 30, len(tube))
    struct.pack_into("<5d", tube, 72, 1.5418, CU_KA1, CU_KA2, CU_KB, 0.5)
    tube[116:120] = _field("Cu", 4)
    drives = bytearray()
    for name, position, flag in (("2Theta", x[0], 1), ("Theta", x[0] / 2, 0)):
        drive = bytearray(64)
        struct.pack_into("<III", drive, 0, 50, len(drive), flag)
        drive[12:36] = _field(name, 24)
        struct.pack_into("<d", drive, 56, position)
        drives += drive
    header = bytearray(160)
    struct.pack_into("<I", header, 0, 160)
    header[32:56] = _field("Locked Coupled", 24)
    struct.pack_into("<ddI", header, 72, x[0], STEP, x.size)
    struct.pack_into("<f", header, 92, 1000.0)
    struct.pack_into("<ff", header, 100, 40.0, 40.0)
    struct.pack_into("<d", header, 112, CU_KA1)
    struct.pack_into("<II", header, 136, 8, len(drives))
    records = b"".join(struct.pack("<fi", v, 1) for v in y)
    content = bytes(preamble + keyvalue + tube + header + drives) + records
    (HERE / "si_v4.raw").write_bytes(content)


def write_raw_v1(x: np.ndarray, y: np.ndarray) -> None:
    half = x.size // 2
    content = bytearray(b"RAW ")
    for i, (part_x, part_y) in enumerate(((x[:half], y[:half]), (x[half:], y[half:]))):
        header = bytearray(152)
        struct.pack_into("<IffI", header, 0, part_y.size, 1.0, STEP, 2)
        struct.pack_into("<ffff", header, 20, part_x[0], part_x[0] / 2, -1e6, -1e6)
        header[36:68] = _field("Si-640", 32)
        struct.pack_into("<ff", header, 68, 1.540562, 1.544390)
        struct.pack_into("<I", header, 148, 1 if i == 0 else 0)
        content += header + struct.pack(f"<{part_y.size}f", *part_y)
    (HERE / "si_v1.raw").write_bytes(bytes(content))


def write_gsas(x: np.ndarray, y: np.ndarray) -> None:
    start, step = x[0] * 100.0, STEP * 100.0
    title = "Simulated Si standard, Cu K-alpha1".ljust(80)
    std = [f"  {v:6.0f}" for v in y]
    std_lines = ["".join(std[i : i + 10]).ljust(80) for i in range(0, len(std), 10)]
    bank = f"BANK 1 {y.size} {len(std_lines)} CONST {start:.2f} {step:.2f} 0 0 STD"
    (HERE / "si_std.gsa").write_text("\n".join([title, bank.ljust(80), *std_lines]) + "\n")
    esd = [f"{v:8.0f}{np.sqrt(max(v, 1.0)):8.2f}" for v in y]
    esd_lines = ["".join(esd[i : i + 5]).ljust(80) for i in range(0, len(esd), 5)]
    bank = f"BANK 1 {y.size} {len(esd_lines)} CONST {start:.2f} {step:.2f} 0 0 ESD"
    (HERE / "si_esd.gsa").write_text("\n".join([title, bank.ljust(80), *esd_lines]) + "\n")
    fxye = [
        f"{a * 100:15.4f}{b:15.4f}{np.sqrt(max(b, 1.0)):15.4f}" for a, b in zip(x, y, strict=True)
    ]
    bank = f"BANK 1 {y.size} {y.size} CONS {start:.2f} {step:.2f} 0 0 FXYE"
    lines = [title, "Instrument parameter file: si.prm", "# lambda 1.540598", bank, *fxye]
    (HERE / "si.fxye").write_text("\n".join(lines) + "\n")


def main() -> None:
    x, y = silicon_counts()
    write_reference(x, y)
    write_text_variants(x, y)
    write_xrdml(x, y)
    write_ras(x, y)
    write_brml(x, y)
    write_raw_v4(x, y)
    write_raw_v1(x, y)
    write_gsas(x, y)


if __name__ == "__main__":
    main()
