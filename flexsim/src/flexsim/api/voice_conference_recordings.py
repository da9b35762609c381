"""Conference Recordings (`/Conferences/{CF}/Recordings[.json|/{RE}.json]`): list, fetch,
pause / resume / stop (Twilio.CURRENT: the conference's running recording) and delete.

OAI paths `.../Conferences/{ConferenceSid}/Recordings.json` (DateCreated filters) and
`.../Recordings/{Sid}.json` (`UpdateConferenceRecording`: Status, PauseBehavior); the spec
names `Twilio.CURRENT` for the conference path explicitly. Flex's "Call Recording" makes these
(the `native_recording` variant); no API creates one (twilio-node issue 1028).
"""

from __future__ import annotations

from typing import Literal

from flexsim.api.formats import v2010_page
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.voice_conferences import ACCOUNT, find_conference
from flexsim.api.voice_views import DateFilter, account_path, conference_recording_view
from flexsim.errors import invalid_call_state, invalid_parameter, not_found
from flexsim.world import Conference, Recording

CURRENT = "Twilio.CURRENT"
LIVE = ("in-progress", "paused")


def conference_recordings(ctx: ApiContext, conference: Conference) -> list[Recording]:
    """The conference's recordings, oldest first (deleted ones left out)."""
    return [
        r
        for r in ctx.world.recordings.values()
        if r.conference_sid == conference.sid and not r.deleted
    ]


def _find(ctx: ApiContext, req: ApiRequest, conference: Conference) -> Recording:
    sid = req.path_params["Sid"]
    if sid == CURRENT:
        running = [r for r in conference_recordings(ctx, conference) if r.status in LIVE]
        if not running:
            raise not_found(req.path)
        return running[-1]
    recording = ctx.world.recordings.get(sid)
    if recording is None or recording.conference_sid != conference.sid or recording.deleted:
        raise not_found(req.path)
    return recording


def list_recordings(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Conferences/{CF}/Recordings.json: newest first, DateCreated filters."""
    conference = find_conference(ctx, req, "ConferenceSid")
    q = req.query
    created = DateFilter.from_params("DateCreated", q.get)
    page = q.page()
    found = [r for r in reversed(conference_recordings(ctx, conference))
             if created.accepts(r.date_created)]  # fmt: skip
    chunk, more = page.slice(found)
    account = ctx.world.account_sid
    body = v2010_page(
        "recordings",
        [conference_recording_view(r, account) for r in chunk],
        f"{account_path(account)}/Conferences/{conference.sid}/Recordings.json",
        q.filters(["DateCreated", "DateCreated<", "DateCreated>"]),
        page,
        more,
    )
    return ApiResult(body=body)


def fetch_recording(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Conferences/{CF}/Recordings/{RE|Twilio.CURRENT}.json."""
    conference = find_conference(ctx, req, "ConferenceSid")
    recording = _find(ctx, req, conference)
    return ApiResult(body=conference_recording_view(recording, ctx.world.account_sid))


def update_recording(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Conferences/{CF}/Recordings/{RE|Twilio.CURRENT}.json: pause, resume or stop a
    running recording of a conference in progress (21220 otherwise, as for a call)."""
    conference = find_conference(ctx, req, "ConferenceSid")
    form = req.form
    status = form.enum("Status", {"paused", "in-progress", "stopped"})
    if status is None:
        raise invalid_parameter("Status", "required: paused, in-progress or stopped")
    behavior: Literal["skip", "silence"] = (
        "skip"
        if form.enum("PauseBehavior", {"skip", "silence"}, "silence") == "skip"
        else "silence"
    )
    recording = _find(ctx, req, conference)
    if recording.status not in LIVE or conference.status != "in-progress":
        raise invalid_call_state()
    world = ctx.world
    if status == "paused":
        world.pause_recording(recording, behavior)
    elif status == "in-progress":
        world.resume_recording(recording)
    else:
        world.finish_recording(recording, "stopped")
    return ApiResult(body=conference_recording_view(recording, world.account_sid))


def delete_recording(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """DELETE Conferences/{CF}/Recordings/{RE}.json: 204, then 404."""
    conference = find_conference(ctx, req, "ConferenceSid")
    ctx.world.delete_recording(_find(ctx, req, conference))
    return ApiResult(status=204)


_ONE = f"{ACCOUNT}/Conferences/{{ConferenceSid}}/Recordings/{{Sid}}.json"
OPERATIONS = [
    Operation(
        "GET",
        f"{ACCOUNT}/Conferences/{{ConferenceSid}}/Recordings.json",
        list_recordings,
        "api_v2010",
    ),
    Operation("GET", _ONE, fetch_recording, "api_v2010"),
    Operation("POST", _ONE, update_recording, "api_v2010"),
    Operation("DELETE", _ONE, delete_recording, "api_v2010"),
]
