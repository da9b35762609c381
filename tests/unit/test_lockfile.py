"""requirements.lock covers what the two pyproject files declare (else `make setup` fails)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {"flexrec", "flexsim"}  # installed from the work tree, never from the lock


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _declared() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "pyproject.toml", ROOT / "flexsim" / "pyproject.toml"):
        project = tomllib.loads(path.read_text())["project"]
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        names |= {_name(r) for r in requirements}
    return names - LOCAL


def _locked() -> set[str]:
    text = (ROOT / "requirements.lock").read_text()
    return {_name(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, re.M)}


def test_every_declared_dependency_is_locked() -> None:
    missing = sorted(_declared() - _locked())
    assert missing == [], f"not in requirements.lock: {missing}; run `make lock`"


def test_the_lock_pins_exact_versions_with_hashes() -> None:
    text = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+", text, re.M)
    assert pins and text.count("--hash=sha256:") >= len(pins)
    assert not re.search(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(>=|<=|~=|>|<)", text, re.M)
