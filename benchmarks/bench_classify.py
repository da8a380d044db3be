"""End-to-end classification speed and memory, ONNX Runtime path beside the torch path.

Each figure is measured in a fresh process running the ``xrdsym classify`` command (imports
included), for both backends side by side:

* one file: the bundled example scan;
* 200 two-column files (the measured autoxrd scans of ``../shared``, repeated to 200);
* peak resident memory (ru_maxrss) of the one-file run;
* the text reader: numpy fast path against the line-by-line parser on the example scan.

    python benchmarks/bench_classify.py [--repeat 3] [--files 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "xrdsym" / "examples" / "PbSO4_CuKa.csv"
SHARED = ROOT.parent / "shared" / "data" / "experimental"


def run_command(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one fresh ``xrdsym`` process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "xrdsym.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"xrdsym {' '.join(args[:3])} failed")
    return wall, usage.ru_maxrss / 1024.0


def best(args: list[str], repeat: int) -> tuple[float, float]:
    """Best wall time and the largest peak memory over ``repeat`` runs."""
    runs = [run_command(args) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def batch_folder(n: int) -> Path:
    """A temporary folder of n two-column files copied from the autoxrd scans."""
    sources = sorted((SHARED / "autoxrd").glob("*.xy"))
    folder = Path(tempfile.mkdtemp(prefix="xrdsym-bench-"))
    for i in range(n):
        shutil.copyfile(sources[i % len(sources)], folder / f"scan{i:04d}.xy")
    return folder


def text_reader_ms(repeat: int) -> tuple[float, float]:
    """Best milliseconds per read of the example: (fast path, line-by-line parser)."""
    from xrdsym.io.text import decode_text, read_text, read_text_lines

    data = EXAMPLE.read_bytes()

    def timed(fn: object) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return 1000.0 * min(times)

    fast = timed(lambda: read_text(EXAMPLE, data))
    slow = timed(lambda: read_text_lines(decode_text(data), str(EXAMPLE)))
    return fast, slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    folder = batch_folder(args.files)
    files = [str(p) for p in sorted(folder.glob("*.xy"))]
    print(f"{'backend':8s} {'one file (s)':>13s} {'peak MiB':>9s} {f'{len(files)} files (s)':>15s}")
    try:
        for backend in ("onnx", "torch"):
            common = ["--wavelength", "CuKa1", "--backend", backend, "--no-progress"]
            one, memory = best(["classify", str(EXAMPLE), *common], args.repeat)
            many, _ = best(["classify", *files, *common, "--json"], args.repeat)
            print(f"{backend:8s} {one:13.2f} {memory:9.0f} {many:15.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    fast, slow = text_reader_ms(20)
    print(
        f"text reader, {EXAMPLE.name}: fast path {fast:.1f} ms, line parser {slow:.1f} ms "
        f"({slow / fast:.1f}x)"
    )


if __name__ == "__main__":
    main()
