"""A self-contained console on sample data, for trying the UI and for the console's tests.

`create_sandbox(folder)` builds a SQLite database and a local archive in `folder`, stores the
sample calls, adds one supervisor and two agents, and returns a FastAPI app serving the console
at `/console` and the archive's signed media routes at `/media/...`. No Twilio is involved:
Flex tokens are checked against a fixed table.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from flexrec.accounts.users import create_user
from flexrec.app.sample_transcripts import store_sample_transcript
from flexrec.app.samples import SampleCall, sample_calls, store_sample_call
from flexrec.archive.service import ArchiveService
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.archive.storage import BlobStore, LocalStorage
from flexrec.console.router import ConsoleDeps, create_console_router
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.server.routes_archive import make_archive_router
from flexrec.twilio.flex_tokens import InvalidToken, TokenInfo
from flexrec.web.body_limit import BodyLimitMiddleware

SUPERVISOR = ("sam", "supervisor-pass")
AGENTS = {
    "alice": ("alice-pass", "WK" + "a1" * 16),
    "bob": ("bob-pass-1", "WK" + "b0" * 16),
}


class StaticTokens:
    """A Flex token validator over a fixed table (the sandbox has no Twilio IAM)."""

    def __init__(self, table: Mapping[str, TokenInfo]) -> None:
        self._table = dict(table)

    def validate(self, token: str) -> TokenInfo:
        """The table's entry for the token, else `InvalidToken`."""
        info = self._table.get(token.strip())
        if info is None:
            raise InvalidToken("unknown token")
        return info


def _seed(sessions: sessionmaker[Session], store: BlobStore, calls: list[SampleCall]) -> None:
    with sessions() as session:
        create_user(session, SUPERVISOR[0], SUPERVISOR[1], "supervisor")
        for name, (password, worker_sid) in AGENTS.items():
            create_user(session, name, password, "agent", worker_sid)
        for call in calls:
            store_sample_call(session, store, call)
            store_sample_transcript(session, call)
        session.commit()


@dataclass
class Sandbox:
    """The app and the parts behind it, so tests can look inside."""

    app: FastAPI
    engine: Engine
    sessions: sessionmaker[Session]
    archive: ArchiveService
    signer: MediaLinkSigner
    tokens: StaticTokens
    calls: list[SampleCall]

    def close(self) -> None:
        """Release the database and HTTP pools."""
        self.archive.close()
        self.engine.dispose()


def create_sandbox(folder: Path, *, secret: str | None = None) -> Sandbox:
    """Build the sandbox in `folder` (seeded unless it already holds one); see the module doc."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = secret or secrets.token_urlsafe(32)
    database = folder / "console.db"
    seed = not database.exists()
    # The service's own schema (migrations): transcript search needs its FTS5 table.
    upgrade(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    sessions = make_session_factory(engine)
    store = LocalStorage(folder / "archive")
    archive = ArchiveService(sessions, store, twilio_client=None)
    signer = MediaLinkSigner(secret)
    worker_sids = [sid for _pw, sid in AGENTS.values()]
    calls = sample_calls(worker_sids)
    if seed:
        _seed(sessions, store, calls)
    tokens = StaticTokens(
        {
            "flex-supervisor-token": TokenInfo("sam@flex", None, ("supervisor",), None),
            "flex-alice-token": TokenInfo("alice@flex", AGENTS["alice"][1], ("agent",), None),
        }
    )
    app = FastAPI(title="flexrec console sandbox")
    app.add_middleware(BodyLimitMiddleware)  # as the service does: bodies capped before auth
    app.include_router(
        create_console_router(
            ConsoleDeps(
                sessions=sessions,
                secret=secret,
                media_links=signer,
                token_validator=tokens,
                waveform_source=archive.analyses,
            )
        )
    )
    app.include_router(make_archive_router(archive, tokens, signer))
    return Sandbox(app, engine, sessions, archive, signer, tokens, calls)


def main(argv: list[str] | None = None) -> None:
    """`python -m flexrec.app.sandbox`: serve the sandbox on loopback to try the console."""
    import argparse
    import tempfile

    import uvicorn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--folder", type=Path, default=None, help="default: a new temp folder")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="flexrec-console-"))
    sandbox = create_sandbox(folder)
    agents = ", ".join(f"{name} / {pw}" for name, (pw, _sid) in AGENTS.items())
    print(f"console: http://127.0.0.1:{args.port}/console/  (data in {folder})")
    print(f"supervisor: {SUPERVISOR[0]} / {SUPERVISOR[1]}; agents: {agents}")
    try:
        uvicorn.run(sandbox.app, host="127.0.0.1", port=args.port, log_level="warning")
    finally:
        sandbox.close()


if __name__ == "__main__":
    main()
