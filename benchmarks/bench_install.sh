#!/usr/bin/env bash
# Size of each install and the time of `xrdsym --help`, in fresh virtual environments.
#   benchmarks/bench_install.sh [WORKDIR]      (default WORKDIR: a new folder under /tmp)
# Prints one line per install: name, seconds to install, `du -sh` of the environment, the
# wall time of `xrdsym --help` (best of 5) and whether the help imported torch.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-$(mktemp -d /tmp/xrdsym-install.XXXXXX)}"
PYTHON="${PYTHON:-python3}"

measure() {  # name, pip arguments...
    local name="$1"; shift
    local venv="$WORK/$name"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    local start end best=999
    start=$(date +%s)
    if [ "$name" = full ]; then  # as `make test`: the CPU build of torch first, pinned
        "$venv/bin/pip" install --quiet torch==2.13.0
    fi
    "$venv/bin/pip" install --quiet "$@"
    end=$(date +%s)
    for _ in 1 2 3 4 5; do
        local t
        t=$( { /usr/bin/time -f "%e" "$venv/bin/xrdsym" --help >/dev/null; } 2>&1 )
        best=$(echo "$t $best" | awk '{print ($1 < $2) ? $1 : $2}')
    done
    local torch
    torch=$("$venv/bin/python" -c "import sys; from xrdsym.cli import main
try:
    main(['--help'])
except SystemExit:
    pass
print('torch imported' if 'torch' in sys.modules else 'no torch', file=sys.stderr)" 2>&1 >/dev/null)
    echo "$name: install $((end - start)) s, $(du -sh "$venv" | cut -f1), xrdsym --help ${best} s ($torch)"
}

measure light -e "$ROOT"
measure plot -e "$ROOT[plot]"
measure full -e "$ROOT[plot,train,dev]"
