"""Dockerfile and compose.yaml agree with the code: commands, options, settings, ports, install.

No container engine runs here, so this is what can be checked without one: every command and
option the files use exists, every FLEXREC_/TWILIO_ variable they set is one the service reads,
the ports match the defaults, and the image installs with the script `make setup` runs.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from flexrec.cli import root as cli
from flexrec.config import PolicySettings, ServerSettings, StorageSettings, TwilioSettings
from flexrec.server import routes_health
from flexsim import defaults

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
FLEXREC_SERVICES = ("service", "worker", "sim")
# Read by boto3 for the S3 archive (README: "credentials from boto3's usual AWS_* variables").
BOTO3_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def _settings_variables() -> set[str]:
    names: set[str] = set()
    for model in (TwilioSettings, ServerSettings, StorageSettings, PolicySettings):
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, field in model.model_fields.items():
            names.add((prefix + name).upper())
            alias = field.validation_alias
            for choice in getattr(alias, "choices", []) or []:
                names.add(str(choice).upper())
    return names


def _commands() -> dict[str, Any]:
    cli._register_sim()
    group = typer.main.get_command(cli.app)
    return dict(group.commands)  # type: ignore[attr-defined] # a group: the CLI has commands


@pytest.mark.parametrize("name", FLEXREC_SERVICES)
def test_compose_commands_and_options_exist(name: str) -> None:
    service = COMPOSE["services"][name]
    assert service.get("image", "").startswith("flexrec") or "build" in service
    command, *args = service["command"]
    commands = _commands()
    assert command in commands, f"{name}: flexrec has no command {command!r}"
    known = {opt for p in commands[command].params for opt in p.opts}
    for arg in args:
        if arg.startswith("--"):
            assert arg in known, f"{name}: `flexrec {command}` has no option {arg}"


def test_every_variable_set_is_one_the_service_reads() -> None:
    known = _settings_variables() | BOTO3_VARIABLES
    set_here: set[str] = set(COMPOSE["x-flexrec-env"])
    for name in FLEXREC_SERVICES:
        set_here |= set(COMPOSE["services"][name].get("environment", {}) or {})
    set_here |= set(re.findall(r"\b((?:FLEXREC|TWILIO)_[A-Z_]+)=", DOCKERFILE))
    ours = {v for v in set_here if v.startswith(("FLEXREC_", "TWILIO_", "AWS_"))}
    assert ours - known == set(), f"not read by the service: {sorted(ours - known)}"
    # and the ones it cannot run without are required, not defaulted
    for required in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        assert ":?" in COMPOSE["x-flexrec-env"][required]


def test_ports_match_the_defaults() -> None:
    default_port = ServerSettings().port
    assert f"EXPOSE {default_port}" in DOCKERFILE
    assert f"FLEXREC_PORT={default_port}" in DOCKERFILE
    service = COMPOSE["services"]["service"]
    assert any(p.endswith(f":{default_port}") for p in service["ports"])
    assert service["environment"]["FLEXREC_PORT"] == str(default_port)
    sim = COMPOSE["services"]["sim"]
    assert sim["command"][sim["command"].index("--port") + 1] == str(defaults.DEFAULT_PORT)
    assert f"http://service:{default_port}" in sim["command"]


def test_healthcheck_uses_the_liveness_route() -> None:
    paths = {getattr(r, "path", "") for r in routes_health.router.routes}
    assert "/healthz" in paths
    assert "/healthz" in DOCKERFILE


def test_the_image_installs_with_the_tests_install_script() -> None:
    script = "scripts/install-python.sh"
    assert re.search(rf"^RUN bash {re.escape(script)} ", DOCKERFILE, re.M)
    setup_recipe = (ROOT / "Makefile").read_text().split("$(BIN)/flexrec:", 1)[1].split("\n\n")[0]
    assert script in setup_recipe, "make setup must run the same install script"
    # Everything the script and the two packages' metadata need is copied into the image.
    copied = " ".join(re.findall(r"^COPY (.+)$", DOCKERFILE, re.M))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for needed in ("requirements.lock", "pyproject.toml", script, "flexsim/", "flexrec/"):
        assert needed in copied, needed
    for needed in (project["readme"], *project["license-files"]):
        assert needed in copied, needed
    entry = re.search(r'^ENTRYPOINT \["([^"]+)"\]', DOCKERFILE, re.M)
    assert entry is not None
    assert entry.group(1) in project["scripts"]
