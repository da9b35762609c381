"""The import rules of docs/design.md hold: the packages' layers, and flexsim used by its API.

The layer rules are import-linter contracts ([tool.importlinter] in pyproject.toml; `make lint`
runs them too). What import-linter cannot see, because tests and benches are not packages, is
checked here from the source: flexrec, its tests and benches import flexsim's public names only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import flexsim

ROOT = Path(__file__).resolve().parents[2]

# Files that reach past flexsim's public API on purpose, and why.
REACHES_INTO_FLEXSIM = {
    # the `flexrec sim` alias is the `flexsim` command itself
    "flexrec/cli/root.py": "flexsim.cli",
    # feeds every form the simulator's callback builders make into flexrec's parsers
    "tests/integration/sim_contract/test_sim_webhooks_contract.py": "the simulator's webhook code",
    # signs deliveries with the simulator's own delivery code, byte for byte what it sends
    "tests/unit/server/test_sim_signed_deliveries.py": "flexsim.delivery.Delivery",
    # VAD under hand-built conditions: a timeline of its own and the hold-music loop
    "tests/unit/analysis/test_analysis_vad.py": "flexsim.audio.sources, flexsim.timeline",
    # the service's cost on Twilio-exact TaskRouter forms built from the simulator's world
    "bench/webhook_throughput.py": "flexsim.callbacks and the world",
    # the same forms, one kind at a time, for the in-process cost of each layer
    "bench/webhook_costs.py": "flexsim.callbacks and the world",
    # swaps the bank's number words for human recordings, as flexsim.espeak_voices swaps it all
    "bench/human_digits.py": "flexsim.speech.bank and flexsim.speech.render",
}


def _flexsim_imports(path: Path) -> list[str]:
    """What `path` imports from flexsim: `flexsim.<module>` or `flexsim:<name>`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "flexsim"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "flexsim":
                found += [f"flexsim:{a.name}" for a in node.names]
            elif node.module.startswith("flexsim."):
                found.append(node.module)
    return found


# flexsim's public modules besides the package itself (flexsim/README.md)
PUBLIC_MODULES = frozenset(
    {"flexsim.testing", "flexsim.testing.http", "flexsim.testing.pytest_plugin"}
)


def _is_public(imported: str) -> bool:
    if imported == "flexsim" or imported in PUBLIC_MODULES:
        return True
    return imported.startswith("flexsim:") and imported.removeprefix("flexsim:") in flexsim.__all__


def test_the_import_linter_contracts_hold() -> None:
    # In a process of its own: run in this one, import-linter left the process's logging in a
    # state where later tests (the access-log levels) saw no records at all.
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, f"an import contract is broken:\n{result.stdout[-3000:]}"


def test_flexrec_its_tests_and_benches_use_flexsim_public_api_only() -> None:
    outside: dict[str, list[str]] = {}
    for folder in ("flexrec", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in REACHES_INTO_FLEXSIM:
                continue
            bad = [imported for imported in _flexsim_imports(path) if not _is_public(imported)]
            if bad:
                outside[name] = bad
    assert outside == {}, "import these from `flexsim` (add to its public API if need be)"


def test_the_listed_exceptions_still_reach_in() -> None:
    # an exception that no longer reaches past the API is a stale entry: remove it
    stale = [
        name
        for name in REACHES_INTO_FLEXSIM
        if all(_is_public(i) for i in _flexsim_imports(ROOT / name))
    ]
    assert stale == []
