"""Peak memory and time of the pattern readers on generated hostile files (docs/safety.md).

Each file is written into a temporary folder and read by ``xrdsym.io.read_pattern`` in a
child process under an address-space limit (``tests/hostile.py``); the table gives the
outcome, the child's peak resident memory (interpreter and numpy included, ~35 MiB) and the
wall time. Sizes are the ones the hostile-input report quoted (a 32 MiB .rasx member, a
500 MB .xy with one ``#`` line) plus the largest files the limits let through.

    python benchmarks/bench_hostile.py [--limit-mb 1500] [--skip-500mb]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile import (  # noqa: E402
    MIB,
    rasx_profile_bomb,
    read_pattern_limited,
    write_brml,
    write_rasx,
    write_text_bomb,
)

from xrdsym.io.numeric import MAX_POINTS  # noqa: E402


def _ramp_xy(path: Path, points: int, comment: bool) -> Path:
    """A text pattern of ``points`` increasing rows, with a ``#`` line when ``comment``."""
    step = 170.0 / points
    with open(path, "wb") as handle:
        if comment:
            handle.write(b"# a comment line: the line-by-line parser\n")
        for start in range(0, points, 100_000):
            stop = min(points, start + 100_000)
            rows = "".join(f"{(i + 1) * step:.9f} {i % 9973 + 1}.000\n" for i in range(start, stop))
            handle.write(rows.encode())
    return path


def cases(folder: Path, skip_500mb: bool) -> list[tuple[str, Callable[[], Path]]]:
    """(description, writer) of each measured file."""
    rasx = [
        (
            f".rasx, one stored 32 MiB member ({kind})",
            lambda kind=kind: write_rasx(
                folder / f"{kind}.rasx", rasx_profile_bomb(32 * MIB, kind)
            ),
        )
        for kind in ("short_rows", "one_line", "wide_rows", "tokens")
    ]
    rasx.append(
        (
            ".rasx, deflated, 32 MiB member (ratio < 200)",
            lambda: write_rasx(
                folder / "deflated.rasx",
                rasx_profile_bomb(32 * MIB, "wide_rows"),
                zipfile.ZIP_DEFLATED,
            ),
        )
    )
    text = [
        (
            f".xy, {MAX_POINTS:,} points and one # line (largest accepted)",
            lambda: _ramp_xy(folder / "limit.xy", MAX_POINTS, comment=True),
        ),
        (
            f".xy, {MAX_POINTS:,} points, no comment (numpy path)",
            lambda: _ramp_xy(folder / "fast.xy", MAX_POINTS, comment=False),
        ),
        (
            ".brml, 2,000,000 Datum rows",
            lambda: write_brml(folder / "rows.brml", MAX_POINTS),
        ),
    ]
    if not skip_500mb:
        text.append(
            (
                ".xy, 500 MB, one # line",
                lambda: write_text_bomb(folder / "500mb.xy", 500_000_000 // 7, b"10.0 1\n"),
            )
        )
    return rasx + text


def main() -> None:
    """Print one row per case: size, outcome, peak memory, time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=int, default=1500, help="child address-space limit")
    parser.add_argument("--skip-500mb", action="store_true", help="leave out the 500 MB file")
    args = parser.parse_args()
    print(f"| file | size | outcome | peak RSS | time | (limit {args.limit_mb} MiB)")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for description, write in cases(Path(tmp), args.skip_500mb):
            path = write()
            size = path.stat().st_size
            run = read_pattern_limited(path, args.limit_mb)
            outcome = run.outcome if run.outcome != "PatternFileError" else "refused"
            message = run.message.rpartition(": ")[2][:70] if outcome == "refused" else ""
            print(
                f"| {description} | {size / MIB:.1f} MiB | {outcome} {message} | "
                f"{run.peak_mb:.0f} MiB | {run.seconds:.1f} s |",
                flush=True,
            )
            path.unlink()


if __name__ == "__main__":
    main()
