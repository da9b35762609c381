"""Every audit action name written anywhere is documented, once, with its meaning."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flexrec.accounts.changes import USER_ACTIONS
from flexrec.archive.audit_actions import AUDIT_ACTION_MEANINGS, audit_action_names
from flexrec.archive.audit_log import CONSOLE_ACTIONS
from flexrec.archive.models import AUDIT_ACTIONS

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "flexrec"

# Calls whose argument at this position (or keyword `action`) is an audit action name.
WRITERS = {"record_event": 1, "audit": 0, "audit_account": 1}


def _written_actions() -> dict[str, str]:
    """Each literal action name the code writes to the audit log, with where."""
    found: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            values: list[ast.expr] = []
            if name == "AuditLog" or name in WRITERS:
                values += [k.value for k in node.keywords if k.arg == "action"]
            if name in WRITERS and len(node.args) > WRITERS[name]:
                values.append(node.args[WRITERS[name]])
            # run_in_threadpool(archive.audit, "view_refused", ...): the writer as an argument
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Attribute | ast.Name):
                inner = first.attr if isinstance(first, ast.Attribute) else first.id
                if inner in WRITERS and len(node.args) > 1 + WRITERS[inner]:
                    values.append(node.args[1 + WRITERS[inner]])
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[value.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_action_the_code_writes_is_documented() -> None:
    written = _written_actions()
    assert {"legal_hold_set", "purge", "view_refused"} <= set(written)  # the scan sees them
    missing = {a: where for a, where in written.items() if a not in AUDIT_ACTION_MEANINGS}
    assert missing == {}, "add these to flexrec/archive/audit_actions.py (and the README)"


def test_every_named_action_constant_is_documented() -> None:
    named = {*AUDIT_ACTIONS, *CONSOLE_ACTIONS, *USER_ACTIONS}
    assert named - set(AUDIT_ACTION_MEANINGS) == set()


def test_the_readme_lists_exactly_the_documented_actions() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- audit-actions -->")[1].strip().split("\n\n")[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert tuple(sorted(listed)) == audit_action_names()
