"""The console sandbox (SQLite, local archive, sample calls) behind a TestClient."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_client_helpers import SECRET, TestClient, sign_in

from flexrec.app.sandbox import Sandbox, create_sandbox


@pytest.fixture(scope="session")
def seeded_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded sandbox folder built once; tests get copies (rendering audio takes a while)."""
    folder = tmp_path_factory.mktemp("console-template") / "sandbox"
    create_sandbox(folder, secret=SECRET).close()
    return folder


@pytest.fixture
def sandbox(seeded_folder: Path, tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh copy of the seeded sandbox per test."""
    shutil.copytree(seeded_folder, tmp_path / "sandbox")
    box = create_sandbox(tmp_path / "sandbox", secret=SECRET)
    try:
        yield box
    finally:
        box.close()


@pytest.fixture
def client_for(sandbox: Sandbox) -> Iterator[Callable[..., TestClient]]:
    """Make clients; `client_for("sam", "pw")` returns one already signed in with a password."""
    made: list[TestClient] = []

    def make(username: str | None = None, password: str | None = None) -> TestClient:
        client = TestClient(sandbox.app)
        made.append(client)
        if username is not None:
            response = sign_in(client, username, password or "")
            assert response.status_code == 303, response.text
        return client

    yield make
    for client in made:
        client.close()
