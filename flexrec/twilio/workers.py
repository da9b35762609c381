"""Finding a TaskRouter worker by name, so an agent's console account gets the right worker SID
without anyone copying SIDs out of the Twilio Console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flexrec.twilio.gateway import TRANSLATED_ERRORS, translate_error


@dataclass(frozen=True)
class WorkerMatch:
    """One TaskRouter worker: its SID, name and current activity."""

    sid: str
    friendly_name: str
    activity: str | None


def _match(worker: Any) -> WorkerMatch:
    return WorkerMatch(worker.sid, str(worker.friendly_name), worker.activity_name)


def find_workers(client: Any, workspace_sid: str, name: str = "") -> list[WorkerMatch]:
    """Workers whose name is `name` exactly, else those whose name contains it (any case).

    Flex names a worker after the agent's identity (often an e-mail address). With no name,
    every worker (up to 1,000). Twilio errors leave as the gateway's `GatewayError`.
    """
    workers = client.taskrouter.v1.workspaces(workspace_sid).workers
    try:
        if name:
            exact = [_match(w) for w in workers.list(friendly_name=name, limit=50)]
            if exact:
                return exact
        every = [_match(w) for w in workers.list(limit=1000)]
    except TRANSLATED_ERRORS as exc:
        raise translate_error(exc) from exc
    wanted = name.casefold()
    return sorted(
        (w for w in every if wanted in w.friendly_name.casefold()), key=lambda w: w.friendly_name
    )
