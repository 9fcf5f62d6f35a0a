"""The house stays as docs/architecture.md draws it: no import circles, small modules, a light plugin.

Every import counts, including the ones inside functions and under ``TYPE_CHECKING``: a lazy
import still ties two modules together, it only hides the tie from the interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_vlm"
MAX_LINES = 400
# The embedded models' training scripts: one reproducible recipe each, read top to bottom.
LONG_ALLOWED = {"tiny/train.py", "tiny/families.py"}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports (a child importing its own parent package is not a tie)."""
    paths = {module_name(p, package): p for p in package.rglob("*.py")}
    root = package.name

    def known(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target.split(".")[0] != root:
                    continue
                found = known(target)
                if found and found != name and not name.startswith(found + "."):
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from .. import c\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n")
    (package / "d.py").write_text("import pkg.a\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def test_modules_stay_small() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {k: v for k, v in long.items() if k not in LONG_ALLOWED} == {}


@pytest.mark.parametrize("layer", ["models", "scoring", "baseline", "reports", "data", "strategies"])
def test_lower_layers_never_import_the_pytest_facing_modules(layer: str) -> None:
    """The one-way flow: spec -> items -> models -> strategies -> scoring -> baseline -> reports;
    nothing in a layer reaches back up to the plugin, the collector or the item runner."""
    upstream = {"pytest_vlm.plugin", "pytest_vlm.collect", "pytest_vlm.runner"}
    graph = import_graph()
    reaching = {m: sorted(graph[m] & upstream) for m in graph if m.startswith(f"pytest_vlm.{layer}")}
    assert {m: up for m, up in reaching.items() if up} == {}


def test_the_model_registry_loads_no_backend() -> None:
    """ModelSpec and the aliases name models; loading them is the backends' business."""
    graph = import_graph()
    assert graph["pytest_vlm.models.spec"] == set()
    assert graph["pytest_vlm.models.aliases"] == {"pytest_vlm.models.spec"}


def test_loading_the_plugin_imports_no_heavy_package() -> None:
    code = (
        "import sys, pytest_vlm.plugin, pytest_vlm.collect, pytest_vlm.spec\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'rich', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
