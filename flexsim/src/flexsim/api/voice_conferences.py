"""Conferences and their Participants: list, fetch, end; hold and mute."""

from __future__ import annotations

from flexsim.api.params import is_sid
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.voice_views import (
    DateFilter,
    account_path,
    conference_view,
    participant_view,
    v2010_list,
)
from flexsim.errors import not_found
from flexsim.world import Conference, Participant

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
CONFERENCE_FILTERS = (
    *("FriendlyName", "Status", "DateCreated", "DateCreated<", "DateCreated>"),
    *("DateUpdated", "DateUpdated<", "DateUpdated>"),
)


def find_conference(ctx: ApiContext, req: ApiRequest, name: str) -> Conference:
    """The conference named by the path parameter `name`, or 404."""
    sid = req.path_params[name]
    conference = ctx.world.conferences.get(sid) if is_sid(sid, "CF") else None
    if conference is None:
        raise not_found(req.path)
    return conference


def list_conferences(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Conferences.json: newest first, filtered by FriendlyName, Status and dates."""
    q = req.query
    name = q.get("FriendlyName")
    status = q.enum("Status", {"init", "in-progress", "completed"})
    created = DateFilter.from_params("DateCreated", q.get)
    updated = DateFilter.from_params("DateUpdated", q.get)
    conferences = [
        c
        for c in reversed(ctx.world.conferences.values())
        if (name is None or c.friendly_name == name)
        and (status is None or c.status == status)
        and created.accepts(c.date_created)
        and updated.accepts(c.date_updated)
    ]
    account = ctx.world.account_sid
    path = f"{account_path(account)}/Conferences.json"
    body = v2010_list(
        q,
        "conferences",
        conferences,
        lambda c: conference_view(c, account),
        path,
        CONFERENCE_FILTERS,
    )
    return ApiResult(body=body)


def fetch_conference(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Conferences/{CF}.json."""
    return ApiResult(body=conference_view(find_conference(ctx, req, "Sid"), ctx.world.account_sid))


def update_conference(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Conferences/{CF}.json: Status=completed ends it (announcements are accepted)."""
    conference = find_conference(ctx, req, "Sid")
    status = req.form.enum("Status", {"completed"})
    req.form.url("AnnounceUrl")
    req.form.enum("AnnounceMethod", {"GET", "POST"})
    if status == "completed":
        ctx.world.end_conference(conference)
    return ApiResult(body=conference_view(conference, ctx.world.account_sid))


def _participant(ctx: ApiContext, req: ApiRequest, conference: Conference) -> Participant:
    key = req.path_params["CallSid"]
    participant = conference.participants.get(key)
    if participant is None:
        # Twilio also accepts the participant's label in place of its call SID.
        participant = next(
            (
                p
                for p in conference.participants.values()
                if p.label == key and p.status != "completed"
            ),
            None,
        )
    if participant is None or participant.status == "completed":
        raise not_found(req.path)
    return participant


def list_participants(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Participants.json: the participants still in the conference."""
    conference = find_conference(ctx, req, "ConferenceSid")
    q = req.query
    muted, hold, coaching = q.boolean("Muted"), q.boolean("Hold"), q.boolean("Coaching")
    participants = [
        p
        for p in conference.participants.values()
        if p.status != "completed"
        and (muted is None or p.muted == muted)
        and (hold is None or p.hold == hold)
        and (coaching is None or p.coaching == coaching)
    ]
    account = ctx.world.account_sid
    path = f"{account_path(account)}/Conferences/{conference.sid}/Participants.json"
    filters = ("Muted", "Hold", "Coaching")
    return ApiResult(
        body=v2010_list(
            q,
            "participants",
            participants,
            lambda p: participant_view(p, conference.sid, account),
            path,
            filters,
        )
    )


def fetch_participant(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Participants/{CA|label}.json."""
    conference = find_conference(ctx, req, "ConferenceSid")
    participant = _participant(ctx, req, conference)
    return ApiResult(body=participant_view(participant, conference.sid, ctx.world.account_sid))


def update_participant(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST Participants/{CA|label}.json: Hold and Muted (hold music URLs are accepted)."""
    conference = find_conference(ctx, req, "ConferenceSid")
    form = req.form
    hold, muted = form.boolean("Hold"), form.boolean("Muted")
    end_on_exit = form.boolean("EndConferenceOnExit")
    form.url("HoldUrl")
    form.enum("HoldMethod", {"GET", "POST"})
    participant = _participant(ctx, req, conference)
    world = ctx.world
    if hold is not None:
        world.set_hold(conference, participant.call_sid, hold)
    if muted is not None:
        world.set_muted(conference, participant.call_sid, muted)
    if end_on_exit is not None:
        participant.end_conference_on_exit = end_on_exit
    return ApiResult(body=participant_view(participant, conference.sid, world.account_sid))


OPERATIONS = [
    Operation("GET", f"{ACCOUNT}/Conferences.json", list_conferences, "api_v2010"),
    Operation("GET", f"{ACCOUNT}/Conferences/{{Sid}}.json", fetch_conference, "api_v2010"),
    Operation("POST", f"{ACCOUNT}/Conferences/{{Sid}}.json", update_conference, "api_v2010"),
    Operation(
        "GET",
        f"{ACCOUNT}/Conferences/{{ConferenceSid}}/Participants.json",
        list_participants,
        "api_v2010",
    ),
    Operation(
        "GET",
        f"{ACCOUNT}/Conferences/{{ConferenceSid}}/Participants/{{CallSid}}.json",
        fetch_participant,
        "api_v2010",
    ),
    Operation(
        "POST",
        f"{ACCOUNT}/Conferences/{{ConferenceSid}}/Participants/{{CallSid}}.json",
        update_participant,
        "api_v2010",
    ),
]
