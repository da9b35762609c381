"""The recording rooms call only the rooms below them: nothing is plugged into a room after it is
built, so the calls go the way the constructors (and the import graph) say."""

from __future__ import annotations

import ast

from target_writers import PACKAGE

RECORDING = PACKAGE / "recording"


def _plugged_in(path_text: str) -> list[str]:
    """Assignments to another object's attribute through one of ours (`self.room.hook = ...`);
    the shared context (`self.ctx.*`) is settings, not a room."""
    found = []
    for node in ast.walk(ast.parse(path_text)):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            owner = target.value if isinstance(target, ast.Attribute) else None
            if (
                isinstance(owner, ast.Attribute)
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "self"
                and owner.attr != "ctx"
            ):
                found.append(f"self.{owner.attr}.{target.attr}")  # type: ignore[union-attr]
    return found


def test_no_room_is_plugged_into_another_after_it_is_built() -> None:
    plugged = {
        path.name: hooks
        for path in sorted(RECORDING.glob("*.py"))
        if (hooks := _plugged_in(path.read_text()))
    }
    assert plugged == {}


def test_the_check_sees_a_hook_plugged_in() -> None:
    wired = "class S:\n    def __init__(self):\n        self.starter.on_started = self.pause\n"
    assert _plugged_in(wired) == ["self.starter.on_started"]
    assert _plugged_in("class S:\n    def f(self):\n        self.ctx.queue = None\n") == []
