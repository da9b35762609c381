"""The checks `flexrec serve` makes before it answers: credentials, workspace, Twilio, database.

A start refused here names what to fix in one line; a Twilio that cannot be reached only warns,
since webhooks must still be answered meanwhile.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flexrec.cli.errors import CliError
from flexrec.config import Settings
from flexrec.logs import get_logger

if TYPE_CHECKING:
    from flexrec.server.readiness import CheckResult
    from flexrec.server.services import Services

log = get_logger(__name__)


def ask_twilio_early(settings: Settings) -> Callable[[], CheckResult | None]:
    """Ask Twilio whether it takes the credentials and knows the workspace, in the background;
    the returned function waits for the answer (None: ask again, with the service's client).

    The round trip (a few hundred ms to Twilio) overlaps the building of the app, instead of
    adding to the restart's outage.
    """
    if not settings.twilio.workspace_sid:
        return lambda: None  # check_twilio names the workspace to set, with the service's client
    answers: list[CheckResult] = []

    def ask() -> None:
        from flexrec.server.readiness import twilio_credentials
        from flexrec.twilio.client import make_client

        client = make_client(settings.twilio)
        try:
            answers.append(
                twilio_credentials(
                    client, settings.twilio.account_sid, settings.twilio.workspace_sid
                )
            )
        finally:
            client.http_client.close()  # its pool: the service has a client of its own

    thread = threading.Thread(target=ask, name="flexrec-twilio-check", daemon=True)
    thread.start()

    def answer() -> CheckResult | None:
        thread.join()
        return answers[0] if answers else None

    return answer


def card_data_engine(settings: Settings) -> str | None:
    """One line naming the engine that transcribes for spoken card data (None: not checked);
    for the default, that it misses human voices and how to install the better one."""
    card = settings.card_data
    if not card.card_data:
        return None
    if card.transcription_engine == "pocketsphinx":
        return (
            "card data: transcribed by pocketsphinx, the default, which misses card digits read "
            "by human voices; `flexrec transcription install faster-whisper` installs a better "
            "engine (README, spoken card numbers)"
        )
    model = f", model {card.transcription_model}" if card.transcription_model else ""
    return f"card data: transcribed by {card.transcription_engine}{model}"


def require_credentials(settings: Settings) -> None:
    """Refuse to start without the account's SID and auth token (nothing would work)."""
    missing = [
        name
        for name, value in (
            ("TWILIO_ACCOUNT_SID", settings.twilio.account_sid),
            ("TWILIO_AUTH_TOKEN", settings.twilio.auth_token.get_secret_value()),
        )
        if not value
    ]
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not set: export the Flex account's credentials "
            "(Twilio Console > Account info), or run `flexrec demo` to try flexrec without one"
        )
    if not settings.twilio.account_sid.startswith("AC"):
        raise CliError("TWILIO_ACCOUNT_SID must start with AC (the account SID, not an API key)")


def check_dependencies(services: Services) -> None:
    """Fail the start (closing what was opened) when the database or the queue is unreachable.

    Without this a Redis that is down shows only as worker threads logging tracebacks.
    """
    try:
        for check in services.health_checks.values():
            check()
    except BaseException:
        services.close()
        raise


def check_twilio(settings: Settings, services: Services, found: CheckResult | None = None) -> None:
    """Refuse to start without a workspace, or when Twilio refuses the credentials or does not
    know the workspace; start, saying so, when Twilio cannot be reached or fails.

    Refused credentials never heal by themselves: every recording would fail while the process
    looked healthy. An outage may be over in a minute, and meanwhile webhooks must still be
    answered (their Twilio calls wait in the queue, retried), so it only earns a warning (and
    `/readyz` reports it). `found`: Twilio's answer when it was asked already
    (`ask_twilio_early`).
    """
    from flexrec.server.readiness import twilio_credentials

    if services.client is None:
        return
    if not settings.twilio.workspace_sid:
        line = missing_workspace(services.client, settings.twilio.account_sid)
        services.close()
        raise CliError(line)
    if found is None:
        found = twilio_credentials(
            services.client, settings.twilio.account_sid, settings.twilio.workspace_sid
        )
    if not found.ok:
        services.close()
        raise CliError(f"{found.detail}; flexrec did not start")
    if found.detail != "ok":
        print(
            f"flexrec: warning: {found.detail}. Starting anyway: webhooks are answered and "
            "their Twilio calls wait in the queue, retried until Twilio answers (see /readyz)",
            file=sys.stderr,
            flush=True,
        )
        log.warning("twilio_unreachable_at_start", detail=found.detail)


def missing_workspace(client: Any, account_sid: str) -> str:
    """The line for a service started without `TWILIO_WORKSPACE_SID`, naming the account's Flex
    workspace when Twilio can tell it.

    Every task write and the safety net's task listing name the workspace: without it the
    service would answer webhooks while every link into a task failed.
    """
    from flexrec.cli.setup_twilio import FLEX_WORKSPACE_NAME, SetupError, find_workspace
    from flexrec.twilio.errors import GatewayError
    from flexrec.twilio.gateway import SdkGateway

    where = f"the WS… SID in Twilio Console > TaskRouter > Workspaces > {FLEX_WORKSPACE_NAME}"
    try:
        workspace = find_workspace(SdkGateway(client, account_sid, ""), "")
    except (GatewayError, SetupError):
        pass
    else:
        where = f"this account's {workspace.sid}, {workspace.friendly_name!r}"
    return (
        f"TWILIO_WORKSPACE_SID is not set: export the Flex workspace's SID, {where}; "
        "flexrec did not start"
    )
