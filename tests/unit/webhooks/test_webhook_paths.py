"""Every webhook path is written once (flexrec.webhooks.paths): the routes, the body caps, the
recordings' status callback and the URLs `flexrec setup` gives Twilio all agree with it."""

from __future__ import annotations

from typing import Any

from flexrec.recording.context import ServiceContext
from flexrec.server.routes_webhooks import ROUTES
from flexrec.web.body_limit import MAX_WEBHOOK_FORM_BYTES, MAX_WEBHOOK_JSON_BYTES, body_limit_for
from flexrec.webhooks import paths

ALL = {
    paths.TASKROUTER,
    paths.EVENT_STREAMS,
    paths.CONFERENCE,
    paths.CALL_STATUS,
    paths.RECORDING_STATUS,
}


def test_the_edge_serves_exactly_the_written_paths() -> None:
    assert set(ROUTES) == ALL


def test_body_caps_follow_the_paths() -> None:
    assert body_limit_for(paths.EVENT_STREAMS) == MAX_WEBHOOK_JSON_BYTES
    for path in ALL - {paths.EVENT_STREAMS}:
        assert body_limit_for(path) == MAX_WEBHOOK_FORM_BYTES


def test_recordings_call_back_on_the_recording_status_route() -> None:
    unused: Any = None
    context = ServiceContext(
        sessions=unused,
        recordings=unused,
        tasks=unused,
        policy=unused,
        public_url="https://rec.example.com/",
    )
    assert context.status_callback_url == paths.webhook_url(
        "https://rec.example.com/", paths.RECORDING_STATUS
    )
    assert context.status_callback_url == "https://rec.example.com/webhooks/recording-status"
