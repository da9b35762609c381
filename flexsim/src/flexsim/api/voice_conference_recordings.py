"""Conference Recordings (`/Conferences/{CF}/Recordings[.json|/{RE}.json]`): list, fetch,
pause / resume / stop (Twilio.CURRENT: the conference's running recording) and delete.

OAI paths `.../Conferences/{ConferenceSid}/Recordings.json` (DateCreated filters) and
`.../Recordings/{Sid}.json` (`UpdateConferenceRecording`: Status, PauseBehavior); the spec
names `Twilio.CURRENT` for the conference path explicitly. Flex's "Call Recording" makes these
(the `native_recording` variant); no API creates one (twilio-node issue 1028).
"""

from __future__ import annotations

from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.voice_conferences import ACCOUNT, find_conference
from flexsim.api.voice_views import (
    DATE_CREATED_FILTERS,
    DateFilter,
    account_path,
    apply_recording_update,
    conference_recording_view,
    recording_update,
    v2010_list,
)
from flexsim.errors import invalid_call_state, not_found
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
    found = [r for r in reversed(conference_recordings(ctx, conference))
             if created.accepts(r.date_created)]  # fmt: skip
    account = ctx.world.account_sid
    path = f"{account_path(account)}/Conferences/{conference.sid}/Recordings.json"
    body = v2010_list(
        q,
        "recordings",
        found,
        lambda r: conference_recording_view(r, account),
        path,
        DATE_CREATED_FILTERS,
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
    update = recording_update(req.form)
    recording = _find(ctx, req, conference)
    if recording.status not in LIVE or conference.status != "in-progress":
        raise invalid_call_state()
    apply_recording_update(ctx.world, recording, update)
    return ApiResult(body=conference_recording_view(recording, ctx.world.account_sid))


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
