"""The layering of the package, stated once here and drawn in ``docs/architecture.md``: every
import between top-level units (sub-packages and top-level modules of ``xrdsym``, and the
research tooling ``research/`` above them all) goes to the same layer or one below, there is no
cycle between units nor among the modules of a sub-package, the classify path with the ONNX
backend never imports torch, and figures leave matplotlib's global state alone."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import xrdsym

PACKAGE = Path(xrdsym.__file__).parent
#: The research tooling: a package of the repository, not installed, that imports xrdsym.
RESEARCH = Path(__file__).resolve().parents[1] / "research"
#: The folder each top-level package lies in.
ROOT_OF = {"xrdsym": PACKAGE.parent, "research": RESEARCH.parent}

#: The layers, bottom to top: a unit imports only from its own layer and those before it.
#: Every sub-package and top-level module of xrdsym belongs to exactly one.
LAYERS: tuple[tuple[str, ...], ...] = (
    # leaves, data
    ("errors", "wavelengths", "sampling", "atomic", "parallel", "spacegroups", "pretrained"),
    ("io",),  # pattern file readers
    ("structures",),  # crystals, CIF reading, spglib
    ("patterns", "simulate", "model_config", "calibration"),  # peaks, profiles, grid
    ("indexing",),  # peak search, lattice search, extinction analysis
    ("datasets",),  # sharded peak lists, splits, structure streams
    ("models", "inference"),  # networks (torch), backends (ONNX Runtime, torch)
    ("classify", "plotting"),  # samples, the Classifier, answers, answer figures
    ("training",),  # training loop, evaluation, calibration, ONNX export
    ("cli", "__init__", "__main__"),  # the command and the package entry points
    ("research",),  # research tooling (not installed): reports, ablation, gap, indexing scores
)


def top_package(module: str) -> str | None:
    """``xrdsym`` or ``research`` for a module of either, else None."""
    top = module.split(".")[0]
    return top if top in ROOT_OF else None


def imports_of(path: Path) -> set[str]:
    """Every ``xrdsym`` and ``research`` module a file imports, at module level or inside
    functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if top_package(a.name))
        elif isinstance(node, ast.ImportFrom) and (top := top_package(node.module or "")):
            module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                submodule = ROOT_OF[top] / (full.replace(".", "/") + ".py")
                names.add(full if submodule.is_file() else module)
    return names


def module_name(path: Path) -> str:
    root = RESEARCH.parent if path.is_relative_to(RESEARCH) else PACKAGE.parent
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph(packages: tuple[Path, ...]) -> dict[str, set[str]]:
    files = [f for p in packages for f in sorted(p.glob("*.py"))]
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


#: Packages whose modules, taken together, must import each other without a cycle: every
#: sub-package of xrdsym and the research tooling with its sub-packages.
SUBPACKAGES = tuple(
    sorted({path.parent for root in (PACKAGE, RESEARCH) for path in root.rglob("*.py")} - {PACKAGE})
)


def test_no_import_cycle_in_the_subpackages() -> None:
    assert find_cycle(graph(SUBPACKAGES)) is None


def unit_of(path: Path) -> str:
    """The top-level unit of a file: ``research`` for the research tooling, else its
    sub-package of xrdsym, or its module name."""
    if path.is_relative_to(RESEARCH):
        return "research"
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def unit_of_module(module: str) -> str | None:
    """The unit of an imported module name (None for the package ``xrdsym`` itself)."""
    parts = module.split(".")
    if parts[0] == "research":
        return "research"
    return parts[1] if len(parts) > 1 else None


def unit_graph() -> dict[str, set[str]]:
    """Imports between top-level units (at module level or inside functions), self-edges off."""
    edges: dict[str, set[str]] = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *RESEARCH.rglob("*.py")]):
        unit = unit_of(path)
        targets = {t for m in imports_of(path) if (t := unit_of_module(m))}
        edges.setdefault(unit, set()).update(targets - {unit})
    return edges


def layer_of(unit: str) -> int:
    for index, layer in enumerate(LAYERS):
        if unit in layer:
            return index
    raise AssertionError(f"{unit} belongs to no layer: add it to LAYERS and docs/architecture.md")


def test_every_unit_has_one_layer() -> None:
    names = [unit for layer in LAYERS for unit in layer]
    assert len(names) == len(set(names))
    assert set(unit_graph()) <= set(names)


def test_units_import_only_their_layer_and_those_below() -> None:
    upward = [
        f"{unit} -> {target}"
        for unit, targets in unit_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(unit)
    ]
    assert not upward, upward


def test_no_import_cycle_between_units() -> None:
    assert find_cycle(unit_graph()) is None


def test_the_library_never_imports_the_research_tooling() -> None:
    edges = unit_graph()
    assert "research" in edges and edges["research"]  # the tooling is seen, and imports xrdsym
    assert not [unit for unit, targets in edges.items() if "research" in targets]


def test_the_layer_check_catches_an_upward_import() -> None:
    edges = {**unit_graph(), "io": {"classify"}}
    assert any(layer_of(t) > layer_of(u) for u, targets in edges.items() for t in targets)
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_the_onnx_classify_path_never_imports_torch() -> None:
    example = PACKAGE / "examples" / "PbSO4_CuKa.csv"
    code = f"""
import json, sys
import xrdsym
from xrdsym.classify import read_sample
classifier = xrdsym.load_model(backend="onnx")
sample = read_sample({str(example)!r}, classifier.grid, "CuKa1")
answer = classifier.classify(sample)[0]
assert classifier.predict_proba([sample]).shape == (1, 230)
print(json.dumps([answer.space_group[0].number, "torch" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    number, torch_imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert 1 <= number <= 230
    assert torch_imported is False


def unexplained_import_lines(source: str) -> list[int]:
    """Line numbers of the imports inside functions of ``source`` that no comment explains: a
    comment line above their block of imports, on the import's line, or on the ``try:``
    around it."""
    lines = source.split("\n")
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for statement in ast.walk(node):
            if not isinstance(statement, ast.Import | ast.ImportFrom):
                continue
            row = statement.lineno - 1
            explained = "#" in lines[row]
            while not explained and row > 0:
                above = lines[row - 1].strip()
                if above.startswith(("import ", "from ")) or above.endswith((",", "(")):
                    row -= 1  # another import of the same block, or a line of one
                    continue
                explained = above.startswith("#") or (above.startswith("try:") and "#" in above)
                break
            if not explained:
                found.append(statement.lineno)
    return sorted(set(found))


def test_every_import_inside_a_function_says_why() -> None:
    """An import inside a function defers a heavy package on purpose, and a comment says so."""
    found = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in unexplained_import_lines(path.read_text())
    ]
    assert not found, found


def test_the_import_check_finds_an_unexplained_import() -> None:
    code = "def f():\n    import json\n\n\ndef g():\n    # heavy: deferred\n    import json\n"
    assert unexplained_import_lines(code) == [2]


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
from research.gap.figures import plot_scans
from xrdsym.io.pattern import Pattern
from xrdsym.training.evaluate import plot_confusion
from research.report import plot_learning_curves
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
