"""`import flexsim` is cheap: names load on first use, and the public API still works whole."""

from __future__ import annotations

import subprocess
import sys

import pytest

import flexsim

HEAVY = ("fastapi", "starlette", "uvicorn", "numpy", "soundfile", "rich", "aiohttp", "httpx")


def _loaded_after(statement: str) -> set[str]:
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "statement",
    [
        "import flexsim",
        "from flexsim import defaults",
        "from flexsim import twilio_signature",
        "from flexsim import ApiFault",
    ],
)
def test_light_names_load_no_web_server_audio_or_display(statement: str) -> None:
    loaded = _loaded_after(statement)
    assert not {m.split(".")[0] for m in loaded} & set(HEAVY), sorted(loaded)
    # Nothing but the standard library and a few modules of flexsim's own. (Counting every
    # module failed in a fresh venv: which stdlib modules the bare interpreter already holds
    # depends on the site packages' start-up hooks, 16 added in one venv and 40 in another.)
    outside = {m for m in loaded if m.split(".")[0] not in sys.stdlib_module_names}
    own = {m for m in outside if m.split(".")[0] == "flexsim"}
    assert outside == own and len(own) <= 3, sorted(outside)


def test_every_public_name_resolves_and_lists_the_built_in_scenarios() -> None:
    for name in flexsim.__all__:
        assert getattr(flexsim, name) is not None, name
    assert {"basic", "hold", "internal"} <= set(flexsim.scenario_names())
    assert set(dir(flexsim)) >= set(flexsim.__all__)
    with pytest.raises(AttributeError):
        flexsim.no_such_name  # noqa: B018 - the attribute access is the test


def test_a_runner_alone_knows_the_built_in_scenarios() -> None:
    loaded = _loaded_after(
        "from flexsim.runner import SimConfig\nassert SimConfig().scenario_weights['basic'] > 0"
    )
    assert "flexsim.scenarios" in loaded
