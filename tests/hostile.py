"""Generated hostile inputs and a runner that measures a call under a memory limit.

Used by ``tests/test_hostile.py`` (small sizes, seconds each) and by
``benchmarks/bench_hostile.py`` (the sizes quoted in ``docs/safety.md``). Nothing here is a
stored bomb: every file is written on demand into a folder the caller gives.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

MIB = 2**20

#: What the child prints: the outcome of the call and its peak resident memory.
_CHILD = """
import json, resource, sys, time
start = time.perf_counter()
try:
    {setup}
    result = {call}
    outcome, message = "ok", repr(result)[:200]
except MemoryError:
    outcome, message = "MemoryError", ""
except Exception as exc:
    outcome, message = type(exc).__name__, str(exc)[:400]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"outcome": outcome, "message": message, "peak": peak,
                   "seconds": time.perf_counter() - start}}))
"""


@dataclass(frozen=True)
class Run:
    """What a call in a limited child process did.

    Attributes:
        outcome: ``ok``, the exception's class name, or ``killed`` (signal / no report).
        message: the result's repr or the exception's message.
        peak_mb: peak resident memory of the child, MiB (interpreter and imports included).
        seconds: wall time of the call.
    """

    outcome: str
    message: str
    peak_mb: float
    seconds: float


def run_limited(setup: str, call: str, limit_mb: int, timeout_s: float = 120.0) -> Run:
    """Evaluate ``call`` after ``setup`` in a fresh interpreter with RLIMIT_AS = ``limit_mb``.

    The child's source directory is this checkout's ``src`` (first on ``PYTHONPATH``).
    """
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    limit = limit_mb * MIB

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code = _CHILD.format(setup=setup.replace("\n", "\n    "), call=call)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
        preexec_fn=limit_memory,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout)[-400:]
        return Run("killed", f"exit {done.returncode}: {tail}", 0.0, time.perf_counter() - start)
    report = json.loads(lines[-1])
    return Run(report["outcome"], report["message"], report["peak"] / MIB, report["seconds"])


def read_pattern_limited(path: Path, limit_mb: int) -> Run:
    """``xrdsym.io.read_pattern(path)`` in a child limited to ``limit_mb`` of address space."""
    return run_limited(
        "from xrdsym.io import read_pattern", f"read_pattern({str(path)!r})", limit_mb
    )


def write_rasx(path: Path, profile: bytes, compression: int = zipfile.ZIP_STORED) -> Path:
    """A .rasx archive whose only scan profile is ``profile`` (2theta axis by default)."""
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("Data0/Profile0.txt", profile)
    return path


def rasx_profile_bomb(size: int, kind: str) -> bytes:
    """``size`` bytes of profile text shaped to cost the most per byte.

    Kinds: ``short_rows`` (``0 0 0`` rows: most rows per byte), ``one_line`` (one row of
    ``size / 2`` fields), ``wide_rows`` (rows of 200 fields), ``tokens`` (``size / 2``
    one-character lines).
    """
    unit = {
        "short_rows": b"0 0 0\n",
        "one_line": b"0 ",
        "wide_rows": b"0 " * 199 + b"0\n",
        "tokens": b"0\n",
    }[kind]
    return unit * (size // len(unit))


def write_text_bomb(path: Path, lines: int, row: bytes = b"10.0 1\n") -> Path:
    """A text pattern of ``lines`` copies of ``row`` after one ``#`` comment line.

    The comment sends the reader to its line-by-line path (the costly one).
    """
    with open(path, "wb") as handle:
        handle.write(b"# wavelength 1.5406\n")
        chunk = row * 65536
        written = 0
        while written + 65536 <= lines:
            handle.write(chunk)
            written += 65536
        handle.write(row * (lines - written))
    return path


def write_brml(path: Path, rows: int, extra_elements: int = 0) -> Path:
    """A .brml whose measured route holds ``rows`` Datum rows and ``extra_elements`` empty
    elements (2theta in column 2, counts in column 4)."""
    head = (
        '<?xml version="1.0"?><RawData><DataRoutes><DataRoute RouteFlag="Measured">'
        '<DataViews><RawDataView xsi:type="VaryingRawDataView" Start="2" Length="1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<Varying><FieldDefinitions AxisId="TwoTheta"/></Varying></RawDataView>'
        '<RawDataView xsi:type="RecordedRawDataView" Start="4" Length="1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></DataViews>'
    )
    body = "".join(f"<Datum>1,1,{10 + 0.01 * i:.3f},5,{100 + i % 7}</Datum>" for i in range(rows))
    text = head + body + "<e/>" * extra_elements + "</DataRoute></DataRoutes></RawData>"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Experiment0/RawData0.xml", text)
    return path
