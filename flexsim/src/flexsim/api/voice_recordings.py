"""Account Recordings: list, fetch, delete, and the media (WAV/MP3, mono or both channels)."""

from __future__ import annotations

import anyio.to_thread

from flexsim.api.params import is_sid
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.api.voice_views import DateFilter, account_path, recording_view, v2010_list
from flexsim.errors import TwilioApiError, invalid_parameter, not_found
from flexsim.world import Recording

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}
RECORDING_FILTERS = (
    *("CallSid", "ConferenceSid", "IncludeSoftDeleted"),
    *("DateCreated", "DateCreated<", "DateCreated>"),
)


def _find(ctx: ApiContext, req: ApiRequest, sid: str) -> Recording:
    recording = ctx.world.recordings.get(sid) if is_sid(sid, "RE") else None
    if recording is None or recording.deleted:
        raise not_found(req.path)
    return recording


def list_recordings(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Recordings.json: newest first (DateCreated), filtered by CallSid, ConferenceSid and
    DateCreated."""
    q = req.query
    call_sid = q.sid("CallSid", "CA")
    conference_sid = q.sid("ConferenceSid", "CF")
    include_deleted = bool(q.boolean("IncludeSoftDeleted"))
    created = DateFilter.from_params("DateCreated", q.get)
    world = ctx.world
    if call_sid is not None:
        call = world.calls.get(call_sid)
        candidates = [world.recordings[s] for s in reversed(call.recordings)] if call else []
    else:
        candidates = list(reversed(world.recordings.values()))
    if conference_sid is not None:
        # Flex's conference recordings (native_recording variant); OAI ListRecording's filter
        candidates = [r for r in candidates if r.conference_sid == conference_sid]
    # Newest first by DateCreated, as Twilio lists them (an arranged recording may have started
    # before ones made after it); ties keep the newest-made first.
    recordings = sorted(
        (
            r
            for r in candidates
            if (include_deleted or not r.deleted) and created.accepts(r.date_created)
        ),
        key=lambda r: r.date_created,
        reverse=True,
    )
    account = world.account_sid
    path = f"{account_path(account)}/Recordings.json"
    body = v2010_list(
        q,
        "recordings",
        recordings,
        lambda r: recording_view(r, account, ctx.hosts.api),
        path,
        RECORDING_FILTERS,
    )
    return ApiResult(body=body)


def fetch_recording(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Recordings/{RE}.json."""
    recording = _find(ctx, req, req.path_params["Sid"])
    return ApiResult(body=recording_view(recording, ctx.world.account_sid, ctx.hosts.api))


def delete_recording(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """DELETE Recordings/{RE}.json: 204, then 404 (listed as `deleted` with IncludeSoftDeleted)."""
    ctx.world.delete_recording(_find(ctx, req, req.path_params["Sid"]))
    return ApiResult(status=204)


async def _media(ctx: ApiContext, req: ApiRequest, fmt: str) -> ApiResult:
    requested = req.query.optional_integer("RequestedChannels", 1, 2)
    with ctx.world.lock:
        recording = _find(ctx, req, req.path_params["Sid"])
        if recording.status != "completed":
            # Media exists only once a recording has completed (absent ones have none).
            raise not_found(req.path)
        if requested is not None and requested > recording.channels:
            raise invalid_parameter("RequestedChannels", "the recording has one channel")
    # Imported here: audio synthesis is heavy and only media downloads need it.
    from flexsim.media import MediaRequestError, render_media

    def render() -> bytes:
        return render_media(ctx.world, recording, fmt, requested)

    try:
        data = await anyio.to_thread.run_sync(render)
    except MediaRequestError as error:
        raise TwilioApiError(error.status, error.code, str(error)) from error
    except (KeyError, ValueError) as error:
        raise TwilioApiError(404, 20404, f"Recording media unavailable: {error}") from error
    return ApiResult(raw=data, media_type=MEDIA_TYPES[fmt])


async def fetch_media_wav(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Recordings/{RE}.wav (also what a media URL without extension returns)."""
    return await _media(ctx, req, "wav")


async def fetch_media_mp3(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Recordings/{RE}.mp3."""
    return await _media(ctx, req, "mp3")


OPERATIONS = [
    Operation("GET", f"{ACCOUNT}/Recordings.json", list_recordings, "api_v2010"),
    Operation("GET", f"{ACCOUNT}/Recordings/{{Sid}}.json", fetch_recording, "api_v2010"),
    Operation("DELETE", f"{ACCOUNT}/Recordings/{{Sid}}.json", delete_recording, "api_v2010"),
    # Media paths are not in the OpenAPI specs; the order matters (`.json` must match first).
    Operation("GET", f"{ACCOUNT}/Recordings/{{Sid}}.wav", fetch_media_wav, None),
    Operation("GET", f"{ACCOUNT}/Recordings/{{Sid}}.mp3", fetch_media_mp3, None),
    Operation("GET", f"{ACCOUNT}/Recordings/{{Sid}}", fetch_media_wav, None),
]
