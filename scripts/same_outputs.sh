#!/bin/bash
# Outputs that a refactoring must leave byte for byte unchanged, written by the xrdsym of the
# source tree SRC into OUT: `xrdsym simulate` (clean with its peak table, random with a seed,
# Mo K-alpha1, a numeric wavelength), seeded renderings of the paper and lab renderers, and
# `xrdsym classify --json --no-index` on five shared measured scans (wavelength given as a
# number and as the line name CuKa1), plus the text answer of the demo file. The network's
# answer alone: the indexing part of classify states its run time and stops on a time budget,
# so it is not reproducible byte for byte.
# Usage: scripts/same_outputs.sh SRC OUT [SHARED]; then compare two OUT folders with cmp.
set -euo pipefail
SRC=$(cd "$1" && pwd); OUT=$2; SHARED=${3:-../shared}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
X=$(cd "$SHARED/data/experimental/xred" && pwd)
EXAMPLE=$(cd "$(dirname "$0")/.." && pwd)/src/xrdsym/examples/PbSO4_CuKa.csv
PY=${PYTHON:-python}
xrdsym() { PYTHONPATH=$SRC "$PY" -c "from xrdsym.cli import main; raise SystemExit(main())" "$@"; }
cd "$OUT"
xrdsym simulate "$X/PbSO4.cif" -o sim_clean.xy --peaks sim_peaks.csv
xrdsym simulate "$X/RuO2.cif" -o sim_random.xy --random --seed 7
xrdsym simulate "$X/RuO2.cif" -o sim_mo1.xy --wavelength MoKa1
xrdsym simulate "$X/RuO2.cif" -o sim_num.xy --wavelength 1.540562
PYTHONPATH=$SRC "$PY" - "$X/PbSO4.cif" <<'PY'
import sys

import numpy as np

from xrdsym.patterns.renderers import make_renderer
from xrdsym.simulate import simulate

sim = simulate(sys.argv[1], wavelength=1.540562)
for name in ("paper", "lab"):
    counts = make_renderer(name)(
        sim.peaks.two_theta, sim.peaks.intensity, sim.grid, np.random.default_rng(123)
    )
    np.save(f"render_{name}.npy", counts)
PY
for f in PbSO4 RuO2 Sn WO3 MnS; do
    xrdsym classify "$X/$f.csv" --json --wavelength 1.540562 --no-progress --no-index \
        > "cls_num_$f.json"
    xrdsym classify "$X/$f.csv" --json --wavelength CuKa1 --no-progress --no-index \
        > "cls_cuka1_$f.json"
done
xrdsym classify "$EXAMPLE" --wavelength CuKa1 --top-k 3 --no-index > demo.txt
