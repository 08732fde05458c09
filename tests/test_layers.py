"""The layering, read from the source: app -> models -> pipeline, calibration beside them and importing none of them,
Qt only under app/ui, and no circle between modules (imports inside functions count too: they are still a
dependency, only a later one)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "models", "pipeline", "calibration")
MAY_IMPORT = {"app": {"app", "models", "pipeline", "calibration"}, "models": {"models", "pipeline", "calibration"},
              "pipeline": {"pipeline", "calibration"}, "calibration": {"calibration"}}
QT = ("PyQt6", "pyqtgraph")
# What every layer shares: the user-facing error types and where the shipped assets are. They sit in the lowest
# layer (the layout fixes four top-level packages) but are leaves: a model module that imports them for an error
# type or an asset path depends on nothing of the engine.
SHARED_BASE = ("pipeline.errors", "pipeline.paths")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from a.b import c``: a.b, and a.b.c in case c is a
    module)."""
    names: set[str] = set()
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: level 1 is the module's own package, 2 its parent, ...
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def internal_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {i for i in imports_of(path) if i in known and i != name} for name, path in known.items()}


def test_imports_point_one_way():
    wrong = []
    for name, path in modules().items():
        layer = name.split(".")[0]
        for imported in imports_of(path):
            top = imported.split(".")[0]
            if top in PACKAGES and top not in MAY_IMPORT[layer]:
                wrong.append(f"{name} imports {imported}")
            if top in QT and not name.startswith("app.ui"):
                wrong.append(f"{name} imports {imported} (Qt belongs to app/ui)")
    assert not wrong, "\n".join(wrong)


def test_the_shared_base_is_a_leaf_of_the_standard_library():
    known = modules()
    for name in SHARED_BASE:
        for imported in imports_of(known[name]):
            top = imported.split(".")[0]
            own = any(imported == b or imported.startswith(b + ".") for b in SHARED_BASE)
            assert own or (top in sys.stdlib_module_names and top not in PACKAGES) or \
                top == "__future__", f"{name} imports {imported}: it must stay a leaf (standard library only)"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other (Tarjan's strongly connected components of more than one)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
            # a package importing its own submodules (its __init__ re-exporting them) is not a circle
            if len(component) > 1 and not _package_and_children(component):
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_circles():
    found = circles(internal_graph())
    assert not found, "\n".join(" <-> ".join(c) for c in found)


def _package_and_children(component: list[str]) -> bool:
    packages = [c for c in component if (REPO / c.replace(".", "/") / "__init__.py").is_file()]
    return len(packages) == 1 and all(c == packages[0] or c.startswith(packages[0] + ".") for c in component)


def test_the_checker_sees_a_wrong_arrow_and_a_circle(tmp_path, monkeypatch):
    """The rules above catch a model module importing the app, and two modules importing each other."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "bad.py").write_text("from app.cli import main\nimport models.worse\n")
    (tmp_path / "models" / "worse.py").write_text("def f():\n    from models import bad\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert "app.cli" in imports_of(tmp_path / "models" / "bad.py")
    assert circles(internal_graph()) == [["models.bad", "models.worse"]]
