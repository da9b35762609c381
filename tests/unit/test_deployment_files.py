"""Dockerfile and compose.yaml agree with the code: commands, options, settings, ports, install.

No container engine runs here, so this is what can be checked without one: every command and
option the files use exists, every FLEXREC_/TWILIO_ variable they set is one the service reads,
the ports match the defaults, and the image installs with the script `make setup` runs.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from flexrec import package_version
from flexrec.cli import root as cli
from flexrec.config import PolicySettings, ServerSettings, StorageSettings, TwilioSettings
from flexrec.server import routes_health
from flexsim import defaults, free_port

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


def _healthcheck_code() -> str:
    found = re.search(r"^HEALTHCHECK .*\\\n\s+CMD \[(.+)\]$", DOCKERFILE, re.M)
    assert found is not None, "the Dockerfile has a HEALTHCHECK in exec form"
    argv = json.loads(f"[{found.group(1)}]")
    assert argv[:2] == ["python", "-c"]
    return str(argv[2])


def test_the_image_healthcheck_asks_the_port_the_service_was_given() -> None:
    # It asked 8080 whatever FLEXREC_PORT said: a service moved to another port was "unhealthy".
    seen: list[str] = []

    class Liveness(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Liveness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        env = {**os.environ, "FLEXREC_PORT": str(port)}
        code = _healthcheck_code()
        ok = subprocess.run([sys.executable, "-c", code], env=env, check=False, timeout=20)
        assert ok.returncode == 0 and seen == ["/healthz"]
        env["FLEXREC_PORT"] = str(free_port())  # nothing listens there: unhealthy
        down = subprocess.run(
            [sys.executable, "-c", code], env=env, check=False, timeout=20, capture_output=True
        )
        assert down.returncode != 0
    finally:
        server.shutdown()
        server.server_close()


# Official images (docker-library) are pinned by digest too; MinIO's by release tag.
_PINNED = re.compile(
    r"^(?P<name>[a-z0-9./-]+):(?P<tag>[A-Za-z0-9._-]+)(@sha256:(?P<digest>[0-9a-f]{64}))?$"
)


def test_every_image_is_pinned_to_a_version_and_official_ones_to_a_digest() -> None:
    images = {name: svc["image"] for name, svc in COMPOSE["services"].items() if "image" in svc}
    base = re.search(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert base is not None
    images["Dockerfile FROM"] = base.group(1)
    for where, image in images.items():
        pinned = _PINNED.match(image)
        assert pinned, f"{where}: {image} names no version"
        tag, name = pinned["tag"], pinned["name"]
        assert tag != "latest" and re.search(r"\d+\.\d+|RELEASE\.\d{4}", tag), (where, tag)
        if name == "flexrec":
            assert tag == package_version(), f"{where}: the image is tagged {package_version()}"
        elif "/" not in name:  # docker-library's official images carry their digest
            assert pinned["digest"], f"{where}: {image} has no @sha256 digest"


def test_no_secret_has_a_default() -> None:
    # `${POSTGRES_PASSWORD:-flexrec}` started every deployment with the same password.
    text = (ROOT / "compose.yaml").read_text()
    secret = r"[A-Z_]*(?:PASSWORD|SECRET|USER|AUTH_TOKEN)[A-Z_]*"
    defaulted = re.findall(rf"\$\{{({secret}):?-[^}}]+\}}", text)
    assert defaulted == [], f"secrets with a default: {defaulted}"
    for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "FLEXREC_CONSOLE_SECRET"):
        assert re.search(rf"\$\{{{name}:\?", text), f"{name} must be required"


def test_the_tls_proxy_forwards_to_the_service_and_is_the_only_trusted_proxy() -> None:
    proxy = COMPOSE["services"]["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert {"80:80", "443:443"} <= set(proxy["ports"])
    caddyfile = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "{$FLEXREC_DOMAIN}" in caddyfile
    assert re.search(r"reverse_proxy service:\{\$FLEXREC_PORT:(\d+)\}", caddyfile)
    assert proxy["environment"]["FLEXREC_PORT"] == str(ServerSettings().port)
    mounted = [v.split(":")[0] for v in proxy["volumes"]]
    assert "./deploy/caddy/Caddyfile" in mounted
    address = proxy["networks"]["default"]["ipv4_address"]
    assert COMPOSE["x-flexrec-env"]["FLEXREC_TRUSTED_PROXIES"] == address
    subnet = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
    # The service itself is reachable from the host's loopback only.
    assert all(p.startswith("127.0.0.1:") for p in COMPOSE["services"]["service"]["ports"])


def test_the_worker_does_not_inherit_a_check_of_a_port_it_never_opens() -> None:
    assert COMPOSE["services"]["worker"]["healthcheck"] == {"disable": True}
    sim = COMPOSE["services"]["sim"]["healthcheck"]["test"]
    assert str(defaults.DEFAULT_PORT) in " ".join(sim)


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


def test_every_file_the_package_reads_ships_in_its_wheel() -> None:
    # The image installs flexrec as a wheel (not editable): a data file the package-data globs
    # miss is absent there, as the transcription models once were (the card stage then failed
    # to load its language model in the image only).
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = setuptools["package-data"]["flexrec"]
    package = ROOT / "flexrec"
    shipped = {path for pattern in globs for path in package.glob(pattern) if path.is_file()}
    # C sources are compiled into the wheel, not read: the extension built from them ships.
    compiled = {ROOT / source for ext in setuptools["ext-modules"] for source in ext["sources"]}
    data = {
        path
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc", ".so", ".pyd")
        and "__pycache__" not in path.parts
        and path not in compiled
    }
    assert data, "flexrec has data files"
    assert sorted(str(p.relative_to(package)) for p in data - shipped) == []
