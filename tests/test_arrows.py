"""DESIGN.md's arrows hold in the source (tests/arrowkit.py), and the check catches each kind
of break in a small synthetic tree, so that it can fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.arrowkit import PACKAGES, check, imports_of, sources

REPO = Path(__file__).resolve().parent.parent


FACE = '__all__ = ["Bridge", "BridgeConfig", "EncodedFrame", "RoomTap"]\n'


def tree(root: Path, files: dict[str, str]) -> Path:
    """A tree with the five packages (empty, but for a small bridge face and a bridge.room
    module) and `files` (path: source) written in."""
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    (root / "bridge" / "__init__.py").write_text(FACE, encoding="utf-8")
    (root / "bridge" / "room.py").touch()
    for rel, source in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(source, encoding="utf-8")
    return root


def test_the_source_keeps_the_arrows() -> None:
    seen = {(i.importer, i.target) for f in sources(REPO, PACKAGES) for i in imports_of(REPO, f)}
    assert ("scheduling.board", "sessions.models") in seen  # the scan reads the real tree
    breaks = check(REPO)
    assert not breaks, "\n".join(breaks)


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "scheduling/plan.py",
            "from recording import Storage\n",
            "scheduling/plan.py:1: scheduling → recording (import recording) breaks an arrow: "
            "scheduling may use only sessions",
        ),
        ("scheduling/plan.py", "import web.app\n", "scheduling/plan.py:1: scheduling → web"),
        (
            "recording/store.py",
            "def run() -> None:\n    from web.keys import DB\n",
            "recording/store.py:2: recording → web (import web.keys)",
        ),
        (
            "recording/store.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from scheduling import x\n",
            "recording/store.py:3: recording → scheduling",
        ),
        (
            "bridge/room.py",
            "import os\nfrom sessions.models import Account\n",
            "bridge/room.py:2: bridge → sessions (import sessions.models) breaks an arrow: "
            "bridge may use only nothing of ours",
        ),
        ("bridge/sub/deep.py", "class A:\n    def f(self) -> None:\n        import web\n", ":3:"),
        ("sessions/models.py", "from bridge import Bridge\n", "sessions → bridge"),
        ("sessions/models.py", "from recording import manifest\n", "sessions → recording"),
    ],
)
def test_a_back_import_is_named_with_its_place(
    tmp_path: Path, path: str, source: str, expected: str
) -> None:
    breaks = check(tree(tmp_path, {path: source}))
    assert len(breaks) == 1, breaks
    assert expected in breaks[0]


def test_what_the_arrows_allow_passes(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "web/app.py": "from bridge import Bridge\nimport recording, scheduling, sessions\n",
            "scheduling/plan.py": "from sessions import models\nfrom . import plan\n",
            "recording/store.py": "import sessions.db\nfrom bridge import EncodedFrame\n",
            "bridge/room.py": "import asyncio\nfrom bridge import config\n",
            "sessions/models.py": "import sqlalchemy\nfrom .db import x\n",
        },
    )
    assert check(root) == []


def test_a_relative_import_is_resolved(tmp_path: Path) -> None:
    """`from ..x import y` two levels up in scheduling/a/b.py is scheduling.x: allowed; the
    same form reaching web from a sub-package of recording is not."""
    root = tree(
        tmp_path,
        {
            "scheduling/a/__init__.py": "",
            "scheduling/a/b.py": "from ..plan import y\n",
            "recording/a/__init__.py": "from ... import web\n",
        },
    )
    assert check(root) == [
        "recording/a/__init__.py:1: recording → web (import web) breaks an arrow: "
        "recording may use only bridge, sessions"
    ]


def test_an_import_cycle_inside_a_package_is_refused(tmp_path: Path) -> None:
    """The cycle recording/storage.py had: the backends imported storage's types while storage
    built the backends (inside a function, which still counts)."""
    root = tree(
        tmp_path,
        {
            "recording/storage.py": "def open_storage() -> None:\n    from . import file_store\n",
            "recording/file_store.py": "from recording.storage import ObjectInfo\n",
        },
    )
    assert check(root) == [
        "recording/file_store.py:1, recording/storage.py:2: import cycle "
        "recording.file_store → recording.storage → recording.file_store: "
        "modules of one package import one way"
    ]


def test_a_longer_cycle_names_every_module_in_it(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "web/pages/__init__.py": "",
            "web/pages/a.py": "from web.pages import b\n",
            "web/pages/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from web.pages.c import x\n",
            "web/pages/c.py": "import web.pages.a\nfrom web.pages import b\n",
        },
    )
    (only,) = check(root)
    assert only.startswith("web/pages/a.py:1, web/pages/b.py:3, web/pages/c.py:1: ")
    assert "web.pages.a → web.pages.b → web.pages.c → web.pages.a" in only
    assert "(in a cycle together: web.pages.a, web.pages.b, web.pages.c)" not in only


def test_one_way_imports_inside_a_package_pass(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "recording/backend.py": "SHA256_META = 'sha256'\n",
            "recording/file_store.py": "from recording.backend import SHA256_META\n",
            "recording/storage.py": "from recording import backend, file_store\n",
            "recording/__init__.py": "from recording.storage import x\n",
        },
    )
    assert check(root) == []


def test_a_cycle_reports_the_modules_caught_with_it(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "sessions/a.py": "from sessions import b\n",
            "sessions/b.py": "from sessions import a, c\n",
            "sessions/c.py": "from sessions.b import y\n",
        },
    )
    (only,) = check(root)
    assert "import cycle sessions.a → sessions.b → sessions.a" in only
    assert "(in a cycle together: sessions.a, sessions.b, sessions.c)" in only


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "web/live.py",
            "from bridge.room import Room\n",
            "web/live.py:1: import bridge.room reaches into the bridge: use its public face, "
            "`from bridge import …` (bridge/__init__.py __all__)",
        ),
        ("web/live.py", "import bridge.service\n", "import bridge.service reaches into"),
        ("web/live.py", "from bridge import room\n", "import bridge.room reaches into"),
        ("web/live.py", "import bridge\n", "`import bridge` with no name"),
        (
            "web/live.py",
            "x = 1\nfrom bridge import Secret\n",
            "web/live.py:2: bridge.Secret is not in the bridge's public face",
        ),
        (
            "recording/service.py",
            "from bridge import Bridge\n",
            "recording/service.py:1: recording may use only the bridge's tap interface",
        ),
        ("tests/web/test_live.py", "from bridge.room import Room\n", "reaches into the bridge"),
        ("web/live.py", "from bridge.bench import run_bench\n", "reaches into the bridge"),
        ("web/cli.py", "from bridge.bench.load import Plan\n", "reaches into the bridge"),
        (
            "bridge/room.py",
            "def f() -> None:\n    from bridge.bench import x\n",
            "bridge/room.py:2: bridge.room → bridge.bench: the bridge does not use its benchmark",
        ),
        (
            "web/live.py",
            "def empty(room: object) -> bool:\n    return not room.participants\n",
            "web/live.py:2: .participants is the bridge's inside",
        ),
        ("recording/service.py", "async def f(p):\n    await p.peer.pc.close()\n", ".pc is"),
        ("tests/web/test_live.py", "assert room._rooms == {}\n", "._rooms is the bridge's inside"),
    ],
)
def test_going_past_the_bridge_face_is_named(
    tmp_path: Path, path: str, source: str, expected: str
) -> None:
    breaks = check(tree(tmp_path, {path: source}))
    assert breaks and expected in breaks[0], breaks


def test_the_face_the_bridge_its_benchmark_and_its_tests_may_use(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "web/cli.py": "def bench() -> None:\n    from bridge.bench import run_bench\n",
            "web/live.py": "from bridge import Bridge, BridgeConfig\nn = len(app.rooms)\n",
            "recording/service.py": "from bridge import EncodedFrame, RoomTap\n",
            "bridge/bench/__init__.py": "from bridge.bench.load import x\n",
            "bridge/bench/load.py": "from bridge.room import Room\nfrom bridge import room\n",
            "bridge/service.py": "from bridge.room import Room\nn = len(room.participants)\n",
            "tests/bridge/test_room.py": "from bridge.room import Room\nassert not r.participants\n",
            "tests/recording/test_tap.py": "from bridge import EncodedFrame\n",
            "recording/rooms.py": "class Rooms:\n    def f(self) -> None:\n        self._rooms = {}\n",
        },
    )
    assert check(root) == []
