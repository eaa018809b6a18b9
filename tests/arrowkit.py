"""DESIGN.md's arrows, read off the source: which package may import which, what of the
bridge may be used outside it, and no import cycle inside a package.

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
# use itself; `tests/` may use every package but, outside `tests/bridge/`, only the bridge's
# public face (below), like the packages they test.
USES: dict[str, frozenset[str]] = {
    "web": frozenset({"scheduling", "recording", "bridge", "sessions"}),
    "scheduling": frozenset({"sessions"}),
    "recording": frozenset({"sessions", "bridge"}),
    "bridge": frozenset(),
    "sessions": frozenset(),
}
PACKAGES = tuple(USES)


# The bridge's public face is what `bridge/__init__.py` lists in `__all__`: outside `bridge/`
# one imports `from bridge import X` and nothing else. `recording` gets only the part of the
# face a recorder needs (DESIGN.md: "bridge/'s public tap interface"): the frames and
# tracks, the tap of a room, and the error its calls raise.
RECORDING_FACE = frozenset(
    {
        "BridgeError",
        "EncodedFrame",
        "FrameSubscriber",
        "RoomTap",
        "TrackInfo",
        "TrackKind",
        "TrackSource",
    }
)
# `bridge.bench` is the benchmark: a user of the bridge that lives beside it. The CLI runs it
# (`tiepdan bench bridge`), so `web/cli.py` may import the package `bridge.bench` (never its
# modules); the bridge's own modules never import it.
BENCH = "bridge.bench"
BENCH_USERS = frozenset({"web/cli.py"})

# Attributes that are the bridge's inside: the room's participants, a participant's peer link,
# the peer link's RTCPeerConnection and its published tracks, the bridge's room table. Outside
# `bridge/` and `tests/bridge/`, code asks the bridge's public methods instead (an object's
# own `self.x` is its business, whatever its name). Name-based, so
# an unrelated object with such an attribute outside the bridge needs an entry in
# INTERNALS_ALLOWED, with the reason.
BRIDGE_INTERNALS = frozenset(
    {
        "participants",
        "pc",
        "peer",
        "published",
        "removed",
        "admission",
        "_rooms",
        "_connections",
        "_frame_subscribers",
    }
)
INTERNALS_ALLOWED: dict[tuple[str, str], str] = {
    ("web/metrics_media.py", "participants"): "RoomStats.participants, a published contract",
    ("tests/web/test_metrics_media.py", "pc"): "the test client's own RTCPeerConnection",
}

# Where `tests/` stands: the bridge's own suite may use its insides; other tests use the face.
BRIDGE_TESTS = "tests/bridge/"


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


def bridge_face(root: Path) -> frozenset[str]:
    """The names `bridge/__init__.py` lists in `__all__`."""
    init = root / "bridge" / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


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


def face_breaks(imports: Iterable[Import], face: frozenset[str]) -> Iterator[str]:
    """Imports of the bridge from outside it that go past its public face."""
    for imp in imports:
        if _top(imp.target) != "bridge":
            continue
        user = _top(imp.importer)
        inside = user == "bridge" or imp.path.startswith(BRIDGE_TESTS)
        if inside:
            if user == "bridge" and _in_bench(imp.target) and not _in_bench(imp.importer):
                yield (
                    f"{imp.path}:{imp.line}: {imp.importer} → {imp.target}: the bridge does "
                    f"not use its benchmark ({BENCH} uses the bridge)"
                )
            continue
        yield from _face_break(imp, face, RECORDING_FACE if user == "recording" else face)


def _in_bench(dotted: str) -> bool:
    return dotted == BENCH or dotted.startswith(BENCH + ".")


def _face_break(imp: Import, face: frozenset[str], may: frozenset[str]) -> Iterator[str]:
    where = f"{imp.path}:{imp.line}"
    if imp.target == BENCH and imp.name is not None and imp.path in BENCH_USERS:
        return
    if imp.target != "bridge":
        yield (
            f"{where}: import {imp.target} reaches into the bridge: use its public face, "
            f"`from bridge import …` (bridge/__init__.py __all__)"
        )
    elif imp.name is None:
        yield f"{where}: `import bridge` with no name: import the names, `from bridge import …`"
    elif imp.name not in face:
        yield (
            f"{where}: bridge.{imp.name} is not in the bridge's public face "
            f"(bridge/__init__.py __all__)"
        )
    elif imp.name not in may:
        yield (
            f"{where}: {_top(imp.importer)} may use only the bridge's tap interface "
            f"({', '.join(sorted(may))}), not bridge.{imp.name}"
        )


def internal_breaks(root: Path, rel: Path, source: str | None = None) -> Iterator[str]:
    """Attribute access to the bridge's insides from outside the bridge and its tests."""
    path = rel.as_posix()
    if path.startswith(("bridge/", BRIDGE_TESTS)):
        return
    text = source if source is not None else (root / rel).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text, filename=path)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in BRIDGE_INTERNALS
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            and (path, node.attr) not in INTERNALS_ALLOWED
        ):
            yield (
                f"{path}:{node.lineno}: .{node.attr} is the bridge's inside: ask the bridge "
                f"(a public method of Bridge or Room) instead"
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
    """Every broken rule in the tree at `root` (the packages and `tests/`)."""
    face = bridge_face(root)
    package_imports = [i for rel in sources(root, PACKAGES) for i in imports_of(root, rel)]
    test_files = list(sources(root, ["tests"])) if (root / "tests").is_dir() else []
    test_imports = [i for rel in test_files for i in imports_of(root, rel)]
    return [
        *arrow_breaks(package_imports),
        *cycle_breaks(package_imports),
        *face_breaks([*package_imports, *test_imports], face),
        *(b for rel in [*sources(root, PACKAGES), *test_files] for b in internal_breaks(root, rel)),
    ]
