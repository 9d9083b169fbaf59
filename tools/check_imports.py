"""Fail when the import graph of src/deepgrad has a cycle other than tensor <-> ops.

Every ``import`` and ``from ... import`` counts, at module level or inside a function
(a function-level import still ties the two modules together; it only defers the
cost), except those under ``if TYPE_CHECKING:``. Relative imports are resolved against
the importing module. An import names the most specific module it loads: ``from .ops
import shape`` depends on ``deepgrad.ops.shape`` when that is a module, on
``deepgrad.ops`` (its ``__init__``) otherwise.

The one allowed cycle is the method-attachment cycle: ``deepgrad.tensor`` defines
Tensor, whose operators call the ops modules, which import Tensor and ``make_result``
from it. It must stay commented as such in tensor.py.

Usage: ``python tools/check_imports.py [path/to/src]``; exit status 1 lists the cycles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "deepgrad"
ALLOWED_CORE = f"{PACKAGE}.tensor"
ALLOWED_PREFIX = f"{PACKAGE}.ops"
CYCLE_COMMENT = "method-attachment cycle"


def module_names(root: Path) -> dict:
    """{dotted module name: file} for every .py file of the package under ``root``."""
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        names[".".join(parts)] = (path, is_package)
    return names


def _is_type_checking(test) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree):
    """Import nodes of a module at any depth, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()  # a module's relative imports start from its package
    if node.level > 1:
        parts = parts[:len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def import_graph(root: Path) -> dict:
    """{module: set of package modules it imports}."""
    modules = module_names(root)
    graph = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve_base(name, is_package, node)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # `import a.b.c` where c is a name
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def reachable(graph: dict, start: str) -> set:
    """Modules ``start`` imports, directly or through others."""
    seen, stack = set(), [start]
    while stack:
        for child in graph[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def strongly_connected(graph: dict) -> list:
    """The import cycles: groups of two or more modules that each import all the others, directly or not.

    The package has about a hundred modules, so each module's reachable set is computed
    outright; a module and the ones that reach it back form its group.
    """
    reach = {module: reachable(graph, module) for module in graph}
    components, placed = [], set()
    for module in sorted(graph):
        if module in placed:
            continue
        component = sorted({module} | {other for other in reach[module] if module in reach[other]})
        placed.update(component)
        if len(component) > 1:
            components.append(component)
    return components


def example_cycle(graph: dict, component: list) -> list:
    """One shortest cycle through the component's first module, as a list of modules."""
    members = set(component)
    start = component[0]
    previous = {start: None}
    queue = [start]
    for node in queue:
        if start in graph[node]:
            path = [node]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])
            return path[::-1] + [start]
        for child in sorted(graph[node] & members):
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return component


def is_allowed(component: list) -> bool:
    """The method-attachment cycle: deepgrad.tensor with modules of deepgrad.ops, nothing else."""
    return ALLOWED_CORE in component and all(
        m == ALLOWED_CORE or m == ALLOWED_PREFIX or m.startswith(ALLOWED_PREFIX + ".") for m in component)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "src"
    graph = import_graph(root)
    problems = []
    for component in strongly_connected(graph):
        if not is_allowed(component):
            problems.append("import cycle: " + " -> ".join(example_cycle(graph, component))
                            + f"\n  (modules in the cycle: {', '.join(component)})")
        elif CYCLE_COMMENT not in (root / PACKAGE / "tensor.py").read_text(encoding="utf-8"):
            problems.append(f"the tensor <-> ops cycle must be commented in tensor.py as the {CYCLE_COMMENT}")
    if problems:
        print("\n".join(problems))
        print(f"{len(problems)} problem(s); the only import cycle allowed is tensor <-> ops. Move the shared "
              "code to a lower module (see docs/LAYOUT.md) instead of importing upwards.")
        return 1
    print(f"import graph of {PACKAGE}: {len(graph)} modules, no cycle other than tensor <-> ops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
