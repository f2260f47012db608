"""No module of costlaw reaches into another's private names: a helper used across modules gets a public name
(and a docstring), so what other modules depend on is visible and kept. Checked on the source with ``ast``:

- ``from .x import _name`` (any relative or ``costlaw`` import of a single-underscore name), and
- ``obj._name`` where ``_name`` is a function, class, method or module-level name defined in another module
  (``self._name`` and ``cls._name`` are the object's own business).
"""
import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "costlaw"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _modules():
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.rglob("*.py"))}


def _definitions(trees) -> dict[str, set[Path]]:
    """Private names defined at module or class level, with the files that define them."""
    where = defaultdict(set)
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(node.name):
                where[node.name].add(path)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and _private(target.id):
                        where[target.id].add(path)
    return where


def crossings() -> list[str]:
    trees = _modules()
    defined = _definitions(trees)
    found = []
    for path, tree in trees.items():
        rel = path.relative_to(PACKAGE.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("costlaw")):
                found += [f"{rel}:{node.lineno}: from {'.' * node.level}{node.module or ''} import {a.name}"
                          for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr in defined:
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if defined[node.attr] - {path}:  # defined in another module
                    found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_cross_module_private_names():
    found = crossings()
    assert not found, "private names used across modules (give them public names):\n" + "\n".join(found)
