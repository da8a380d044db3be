"""The layering of the package: no import cycle among the modules of the sub-packages, nothing
in patterns that imports datasets, models, training or the CLI, no import of the study tooling
(``xrdsym.study``) in the library, and figures that leave matplotlib's global state alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import xrdsym

PACKAGE = Path(xrdsym.__file__).parent

#: The layers in order; a module may import its own layer and those before it.
LAYERS = ("structures", "patterns", "datasets", "models", "training", "cli")


def imports_of(path: Path) -> set[str]:
    """Every ``xrdsym`` module a file imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("xrdsym"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xrdsym"):
            module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                submodule = PACKAGE.parent / (full.replace(".", "/") + ".py")
                names.add(full if submodule.is_file() else module)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    files = [f for p in packages for f in sorted((PACKAGE / p).glob("*.py"))]
    nodes = {module_name(f): f for f in files}
    return {name: imports_of(f) & set(nodes) for name, f in nodes.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, or None (depth-first search)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


#: Sub-packages whose modules, taken together, must import each other without a cycle.
SUBPACKAGES = (
    "structures",
    "patterns",
    "datasets",
    "models",
    "training",
    "cli",
    "study",
    "study/gap",
    "io",
    "classify",
)


def test_no_import_cycle_in_the_subpackages() -> None:
    assert find_cycle(graph(SUBPACKAGES)) is None


def test_patterns_import_nothing_above_them() -> None:
    above = {f"xrdsym.{layer}" for layer in LAYERS[LAYERS.index("patterns") + 1 :]}
    for path in sorted((PACKAGE / "patterns").glob("*.py")):
        upward = {m for m in imports_of(path) if any(m.startswith(a) for a in above)}
        assert not upward, f"{path.name} imports {sorted(upward)}"


def library_files() -> list[Path]:
    """Every module of the library: the package without the study tooling and the CLI."""
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in ("study", "cli")
    ]


def test_the_library_imports_nothing_of_the_study_tooling() -> None:
    files = library_files()
    assert {f.relative_to(PACKAGE).parts[0] for f in files} >= {*LAYERS[:-1], "classify"}
    for path in files:
        study = {m for m in imports_of(path) if m.startswith("xrdsym.study")}
        assert not study, f"{path.relative_to(PACKAGE)} imports {sorted(study)}"


def test_registry_imports_no_model_file() -> None:
    assert not {
        m for m in imports_of(PACKAGE / "models" / "registry.py") if "park" in m or "xrdnet" in m
    }
    code = "from xrdsym.models.registry import list_models; print(len(list_models()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) >= 7


def test_figures_change_no_matplotlib_state(tmp_path: Path) -> None:
    code = f"""
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
import numpy as np
from pathlib import Path
from xrdsym.study.gap.figures import plot_scans
from xrdsym.io.pattern import Pattern
from xrdsym.training.evaluate import plot_confusion
from xrdsym.study.report import plot_learning_curves
out = Path({str(tmp_path)!r})
x = np.linspace(10, 80, 200)
scan = Pattern(two_theta=x, intensity=1 + x, source="a.xy", wavelength=None)
plot_scans([scan], out / "scans.png")
plot_confusion(np.eye(3), ("a", "b", "c"), out / "confusion.png")
run = {{"split": "random", "run": "r", "history": [{{"wall_seconds": 60, "train_top1": 0.5}}]}}
plot_learning_curves([run], out / "curves.png")
print(matplotlib.get_backend(), len(plt.get_fignums()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["svg", "0"]
    for name in ("scans.png", "confusion.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
