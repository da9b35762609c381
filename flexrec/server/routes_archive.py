"""HTTP routes of the archive: the Insights `url_provider` and signed media streaming.

- `GET /insights/recordings/{RE}/url` — Flex token required (`Authorization: Bearer`, a `Token`
  query/form field, or `X-Flex-JWE`); answers `{"url": "<short-lived signed media link>"}`.
- `GET|HEAD /media/recordings/{RE}.wav?exp=&p=&sub=&sig=` — streams the decrypted WAV with
  single-range support (206 + Content-Range); an expired or forged link is 403.
- `GET /media/recordings/{RE}/peaks?exp=&p=&sub=&sig=` — waveform peaks JSON, same signature.

Errors are `{"error": ..., "message": ...}` like the rest of the service. Routes stay thin: all
logic is in `ArchiveService`, `MediaLinkSigner` and the token validator.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from flexrec.archive.models import DONE_STATES
from flexrec.archive.service import ArchiveService, RecordingNotArchived
from flexrec.archive.signed_urls import LinkExpired, LinkForged, MediaLinkSigner, VerifiedLink
from flexrec.archive.waveform import decode_waveform
from flexrec.server.auth import check_flex_token, client_of, missing_token
from flexrec.server.token_source import bearer_token, body_token
from flexrec.twilio.flex_tokens import TokenInfo, TokenValidator
from flexrec.web.responses import FLEX_TOKEN, documented
from flexrec.web.token_guard import TokenGuard

_RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
STREAM_CHUNK_BYTES = 256 * 1024


def _fail(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> NoReturn:
    raise HTTPException(status, detail={"error": error, "message": message}, headers=headers)


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range of a body of `total` bytes."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        """Bytes in the range."""
        return self.end - self.start + 1


class RangeNotSatisfiable(ValueError):
    """The Range header asks for bytes the body does not have."""


# ASCII only: str.isdigit() also accepts "²" and other digits int() refuses (it was a 500).
_ASCII_DIGITS = re.compile(r"[0-9]+")
_FAR = 2**63  # any position this long is past every file


def _position(digits: str) -> int:
    # int() refuses more than 4,300 digits; a position that long is simply beyond the end.
    return int(digits) if len(digits) <= 18 else _FAR


def parse_range(header: str | None, total: int) -> ByteRange | None:
    """Parse a single `bytes=` range (RFC 9110); None means "send the whole body".

    Multi-range requests and unknown units are answered with the whole body, which RFC 9110
    allows (a server may ignore Range).
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if (first and not _ASCII_DIGITS.fullmatch(first)) or (
        last and not _ASCII_DIGITS.fullmatch(last)
    ):
        return None
    if not first:
        if not last:
            return None
        suffix = _position(last)
        if suffix == 0 or total == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(0, total - suffix), total - 1, total)
    start = _position(first)
    if start >= total:
        raise RangeNotSatisfiable(header)
    end = min(_position(last), total - 1) if last else total - 1
    if end < start:
        return None  # syntactically invalid range: ignore it
    return ByteRange(start, end, total)


def make_archive_router(
    archive: ArchiveService,
    tokens: TokenValidator,
    signer: MediaLinkSigner,
    public_url: str = "",
    guard: TokenGuard | None = None,
) -> APIRouter:
    """Build the archive's routes; the lead mounts the router on the service app.

    `guard` is the app's shared `TokenGuard` (a fresh one when not given).
    """
    router = APIRouter(tags=["archive"])
    token_guard = guard if guard is not None else TokenGuard()
    audited_links = _AuditedLinks()

    def check_sid(recording_sid: str) -> None:
        if not _RECORDING_SID.match(recording_sid):
            _fail(404, "not_found", "no such recording")

    async def caller(request: Request) -> TokenInfo:
        # Insights' url_provider may send the token as X-Flex-JWE or ?Token= as well.
        token = _token_from(request) or await body_token(request)
        if not token:
            missing_token("send a Flex token as 'Authorization: Bearer' or 'Token'")
        return await check_flex_token(token_guard, tokens, token, client_of(request))

    # One route per method: a route of two methods gives both the same OpenAPI operation id.
    insights = "/insights/recordings/{recording_sid}/url"

    @router.get(insights, operation_id="insights_url_get", responses=FLEX_TOKEN)
    @router.post(insights, operation_id="insights_url_post", responses=FLEX_TOKEN)
    async def insights_media_url(recording_sid: str, request: Request) -> JSONResponse:
        """Flex Insights `url_provider`: a short-lived signed link to the archived media."""
        check_sid(recording_sid)
        who = await caller(request)
        allowed = await run_in_threadpool(
            archive.access.may_access, recording_sid, who.worker_sid, who.roles
        )
        if not allowed:
            # A view refused to a signed-in agent is audited, as in the console.
            await run_in_threadpool(
                archive.holds.audit,
                "view_refused",
                who.identity,
                recording_sid,
                ip=client_of(request),
                worker_sid=who.worker_sid,
                detail={"via": "insights_url_provider"},
            )
            _fail(403, "forbidden", "this recording belongs to another agent's call")
        row = await run_in_threadpool(archive.get, recording_sid)
        if row is None or row.purged_at is not None or row.state not in DONE_STATES:
            _fail(404, "not_archived", "the recording is not in the archive (yet)")
        base = public_url or str(request.base_url)
        url = signer.url(base, recording_sid, "play", who.identity)
        await run_in_threadpool(
            archive.holds.audit,
            "url_issued",
            who.identity,
            recording_sid,
            ip=client_of(request),
            worker_sid=who.worker_sid,
            detail={"via": "insights_url_provider"},
        )
        return JSONResponse({"url": url}, headers={"Cache-Control": "no-store"})

    def verified_link(recording_sid: str, request: Request) -> VerifiedLink:
        q = request.query_params
        try:
            return signer.verify(
                recording_sid, q.get("exp"), q.get("sig"), q.get("p"), q.get("sub")
            )
        except LinkExpired:
            _fail(403, "link_expired", "this media link has expired; ask for a new one")
        except LinkForged:
            _fail(403, "link_invalid", "this media link is not valid")

    media_responses = documented(206, 403, 404, 416)

    @router.get(
        "/media/recordings/{file_name}", operation_id="media_get", responses=media_responses
    )
    @router.head(
        "/media/recordings/{file_name}", operation_id="media_head", responses=media_responses
    )
    async def media(file_name: str, request: Request) -> Response:
        """Stream an archived recording (decrypted) for a signed link, with Range support."""
        recording_sid, dot, extension = file_name.partition(".")
        if not dot or extension != "wav":
            _fail(404, "not_found", "no such media")
        check_sid(recording_sid)
        link = verified_link(recording_sid, request)
        try:
            total = await run_in_threadpool(archive.reader.media_size, recording_sid)
        except RecordingNotArchived:
            _fail(404, "not_archived", "the recording is not in the archive")
        disposition = "attachment" if link.purpose == "download" else "inline"
        headers = {
            "Accept-Ranges": "bytes",
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'{disposition}; filename="{recording_sid}.wav"',
        }
        try:
            byte_range = parse_range(request.headers.get("range"), total)
        except RangeNotSatisfiable:
            return Response(
                status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"}
            )
        status = 200 if byte_range is None else 206
        start, end = (0, total - 1) if byte_range is None else (byte_range.start, byte_range.end)
        if byte_range is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        headers["Content-Length"] = str(end - start + 1)
        if request.method == "HEAD":
            return Response(status_code=status, media_type="audio/wav", headers=headers)
        # The first chunk is read before answering, so a vanished object is still a clean 404;
        # the rest streams, so a long recording never sits whole in memory.
        first_end = min(end, start + STREAM_CHUNK_BYTES - 1)
        try:
            first = await run_in_threadpool(
                archive.reader.read_media_range, recording_sid, start, first_end
            )
        except RecordingNotArchived:
            _fail(404, "not_archived", "the recording is not in the archive")
        if audited_links.first_use(recording_sid, request.query_params.get("sig") or ""):
            # Every byte served is covered by a row: the first request of each signed link
            # writes it, whatever its range; the same link's further ranges (seeks) do not.
            await run_in_threadpool(
                archive.holds.audit,
                link.purpose,
                link.subject or "signed-link",
                recording_sid,
                ip=client_of(request),
                detail={
                    "range": request.headers.get("range"),
                    "served": f"bytes {start}-{end}/{total}",
                    "user_agent": request.headers.get("user-agent"),
                },
            )

        def chunks() -> Iterator[bytes]:
            yield first
            position = first_end + 1
            while position <= end:
                stop = min(end, position + STREAM_CHUNK_BYTES - 1)
                yield archive.reader.read_media_range(recording_sid, position, stop)
                position = stop + 1

        # A sync iterator: Starlette runs it in a worker thread, off the event loop.
        return StreamingResponse(
            chunks(), status_code=status, media_type="audio/wav", headers=headers
        )

    @router.get("/media/recordings/{recording_sid}/peaks", responses=documented(403, 404))
    async def peaks(recording_sid: str, request: Request) -> JSONResponse:
        """Waveform peaks for a signed link, as wavesurfer.js takes them: per channel, max then
        min of each bucket, as fractions of full scale."""
        check_sid(recording_sid)
        verified_link(recording_sid, request)
        try:
            blob: bytes = await run_in_threadpool(archive.analyses.waveform, recording_sid)
        except RecordingNotArchived:
            _fail(404, "not_archived", "the recording is not in the archive")
        data = decode_waveform(blob).wavesurfer()
        return JSONResponse(data, headers={"Cache-Control": "private, max-age=3600"})

    return router


class _AuditedLinks:
    """Signed links whose use this process already wrote to the audit log (bounded memory).

    Forgetting one (eviction, restart, another process) only writes one more row: every
    playback is accounted for at least once, never missed.
    """

    def __init__(self, max_links: int = 10_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max = max_links
        self._lock = threading.Lock()

    def first_use(self, recording_sid: str, signature: str) -> bool:
        """True the first time this link is used to fetch media (and remembered)."""
        key = hashlib.sha256(f"{recording_sid}:{signature}".encode()).hexdigest()
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return True


def _token_from(request: Request) -> str | None:
    bearer = bearer_token(request)
    if bearer:
        return bearer
    for candidate in (request.headers.get("x-flex-jwe"), request.query_params.get("Token")):
        if candidate and candidate.strip():
            return candidate.strip()
    return None
