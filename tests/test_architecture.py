"""The package layout's rules: imports run down the data flow, and modules stay small.

Every import between project modules counts, at module level or inside a function, so
a lazy import cannot hide a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import autodistill

ROOT = Path(autodistill.__file__).parent
#: Boxes of the data flow, lowest first; a module may import its own box or a lower one.
LAYERS: list[set[str]] = [
    {"_version", "_lazy", "_stamps", "errors", "paths", "families", "params", "hookspecs",
     "metrics", "_secrets", "_resources", "_processes", "progress", "_locks"},
    {"_checks"},
    {"components", "students", "testing", "_mi_checks", "_member_checks", "_student_checks"},
    {"registry"},
    {"data"},
    {"training"},
    {"store"},
    {"study"},
    {"meta"},
    {"api"},
    {"cli", "__init__", "__main__"},
]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    return {".".join(("autodistill", *p.relative_to(ROOT).with_suffix("").parts))
            .removesuffix(".__init__"): p for p in ROOT.rglob("*.py")}


def _box(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    box = _box(module)
    for level, boxes in enumerate(LAYERS):
        if box in boxes:
            return level
    raise AssertionError(f"{module}: its box '{box}' is in no layer of tests/test_architecture.py")


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``module`` imports (a package's own re-exports excluded)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                     for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules) | {"autodistill.plugins"}
    return {m: _imports(m, p, known) - {"autodistill.plugins"} for m, p in modules.items()}


def test_imports_run_down_the_data_flow():
    upward = [f"{m} -> {d}" for m, deps in _graph().items() for d in deps
              if _layer(d) > _layer(m)]
    assert not upward, "imports against the data flow:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                circles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_modules_and_functions_stay_small():
    too_long = []
    for module, path in _modules().items():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{module}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert not too_long, "split these:\n" + "\n".join(too_long)
