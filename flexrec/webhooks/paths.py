"""Where Twilio posts to flexrec: every webhook path, written once.

The routes (flexrec.server.routes_webhooks), the body caps (flexrec.web.body_limit), the URLs
`flexrec setup` gives Twilio and the recordings' status callback all read them here, so a path
cannot change in one place and not the others. flexsim keeps its own copy of this layout (it
imports nothing of flexrec); the end-to-end tests are what keep the two in step.
"""

from __future__ import annotations

PREFIX = "/webhooks"
TASKROUTER = f"{PREFIX}/taskrouter"  # the workspace's EventCallbackUrl (form)
EVENT_STREAMS = f"{PREFIX}/event-streams"  # an Event Streams webhook sink (JSON batches)
CONFERENCE = f"{PREFIX}/conference"  # conference status callbacks (form)
CALL_STATUS = f"{PREFIX}/call-status"  # call status callbacks (form)
RECORDING_STATUS = f"{PREFIX}/recording-status"  # recording status callbacks (form)


def route(path: str) -> str:
    """`path` below the webhooks router's prefix (`/webhooks/taskrouter` -> `/taskrouter`)."""
    return path.removeprefix(PREFIX)


def webhook_url(public_url: str, path: str) -> str:
    """The absolute URL Twilio is given for `path`, on the service's public URL."""
    return public_url.rstrip("/") + path
