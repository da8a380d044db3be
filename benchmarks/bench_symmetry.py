"""Start-up cost of the space-group table that the classifier imports.

Times, in fresh Python processes, building ``xrdsym.spacegroups.space_groups()`` (all 230 groups
with their extinction groups, from spglib's database) beside the baseline of importing numpy
and spglib alone, which every process that classifies pays anyway.

    python benchmarks/bench_symmetry.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

BASELINE = (
    "import time; t = time.perf_counter(); import numpy, spglib; print(time.perf_counter() - t)"
)
TABLE = (
    "import time; t = time.perf_counter(); "
    "from xrdsym.spacegroups import space_groups; space_groups(); "
    "print(time.perf_counter() - t)"
)


def fresh_process_seconds(code: str, repeat: int) -> float:
    """Best wall time (s) printed by ``code`` over ``repeat`` fresh interpreter processes."""
    times = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        times.append(float(out.stdout.strip()))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline = fresh_process_seconds(BASELINE, args.repeat)
    table = fresh_process_seconds(TABLE, args.repeat)
    print(f"import numpy + spglib (baseline): {baseline * 1e3:.0f} ms")
    print(f"space-group table from nothing:  {table * 1e3:.0f} ms ({table / baseline:.1f}x)")


if __name__ == "__main__":
    main()
