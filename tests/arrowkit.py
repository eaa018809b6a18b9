"""DESIGN.md's arrows, read off the source: which package may import which, and no import
cycle inside a package.

Every import counts: at module level, inside a function, under `if TYPE_CHECKING:`, in the
`import a.b` and `from a import b` forms, relative or absolute. `check(root)` returns one
line per broken rule, `path:line: what (the rule)`, so that a failure says where to look.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Who may use whom (DESIGN.md, "The parts and which way they depend"). A package may always
# use itself; `tests/` may use every package.
USES: dict[str, frozenset[str]] = {
    "web": frozenset({"scheduling", "recording", "bridge", "sessions"}),
    "scheduling": frozenset({"sessions"}),
    "recording": frozenset({"sessions", "bridge"}),
    "bridge": frozenset(),
    "sessions": frozenset(),
}
PACKAGES = tuple(USES)


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module (and, for `from M import name`, the name taken from it)."""

    path: str  # relative to the root, with '/'
    line: int
    importer: str  # dotted module name of the file
    target: str  # dotted module imported
    name: str | None = None  # `from target import name`, when name is not a module


def module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module of a relative `from ...module import` in `importer`."""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, *([module] if module else [])])


def imports_of(root: Path, rel: Path, source: str | None = None) -> Iterator[Import]:
    """Every import in one file, wherever it stands in the file."""
    text = source if source is not None else (root / rel).read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(rel))
    importer = module_name(rel)
    path = rel.as_posix()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, importer, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(importer, rel.name == "__init__.py", node.level, node.module)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                if alias.name != "*" and _is_module(root, sub):
                    yield Import(path, node.lineno, importer, sub)
                else:
                    yield Import(path, node.lineno, importer, target or sub, alias.name)


def sources(root: Path, folders: Iterable[str]) -> Iterator[Path]:
    """The Python files under the given top folders, relative to `root`."""
    for folder in folders:
        for file in sorted((root / folder).rglob("*.py")):
            rel = file.relative_to(root)
            if ".venv" not in rel.parts:
                yield rel


def _top(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def arrow_breaks(imports: Iterable[Import]) -> Iterator[str]:
    """Back-imports: a package importing one it may not use."""
    for imp in imports:
        user, used = _top(imp.importer), _top(imp.target)
        if user not in USES or used not in USES or used == user or used in USES[user]:
            continue
        allowed = ", ".join(sorted(USES[user])) or "nothing of ours"
        yield (
            f"{imp.path}:{imp.line}: {user} → {used} (import {imp.target}) breaks an arrow: "
            f"{user} may use only {allowed}"
        )


def cycle_breaks(imports: Iterable[Import]) -> Iterator[str]:
    """Import cycles among the modules of one package (sub-packages included)."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if _top(imp.importer) == _top(imp.target) and imp.importer != imp.target:
            edges.setdefault(imp.importer, {}).setdefault(imp.target, imp)
    for component in _strong_components(edges):
        cycle = _cycle_in(component, edges)
        steps = " → ".join(cycle)
        lines = ", ".join(
            f"{edges[a][b].path}:{edges[a][b].line}" for a, b in itertools.pairwise(cycle)
        )
        others = (
            ""
            if len(component) == len(cycle) - 1
            else f" (in a cycle together: {', '.join(component)})"
        )
        yield f"{lines}: import cycle {steps}{others}: modules of one package import one way"


def _strong_components(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _cycle_in(component: list[str], edges: dict[str, dict[str, Import]]) -> list[str]:
    """One cycle through the component's first module, shortest first (breadth-first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, {})):
            if w == start:
                return [*paths[v], start]
            if w in members and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return [*component, start]  # not reached: a component has a cycle through every member


def check(root: Path) -> list[str]:
    """Every broken rule in the tree at `root`."""
    package_imports = [i for rel in sources(root, PACKAGES) for i in imports_of(root, rel)]
    return [*arrow_breaks(package_imports), *cycle_breaks(package_imports)]
