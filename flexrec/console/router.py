"""The console's HTTP layer: pages, JSON API under `/api`, sign-in and static assets.

Routes only parse, call one function from the console's modules and shape the answer. Mount with
`app.include_router(create_console_router(deps))`; the prefix (default `/console`) is built in.
`deps` may be a zero-argument factory instead, called on the first request: the service builds
its parts in the app's lifespan, after the routers are mounted.
"""

import logging
import mimetypes
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from flexrec.archive.service import ArchiveError
from flexrec.console import queries
from flexrec.console.audit import record_media_access
from flexrec.console.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Principal,
    SessionCodec,
    csrf_matches,
    principal_from_token,
    principal_from_user,
)
from flexrec.console.pages import render_page
from flexrec.console.pauses import recording_pause_gaps
from flexrec.console.peaks import PeaksUnavailable, wavesurfer_peaks
from flexrec.console.users import authenticate_user
from flexrec.twilio.flex_tokens import InvalidToken, TokenInfo, TokenServiceUnavailable

log = logging.getLogger(__name__)

_RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")
_STATIC_ROOT = Path(str(resources.files("flexrec.console").joinpath("static")))
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


class PeaksSource(Protocol):
    """The archive's waveform peaks (`ArchiveService.peaks`): stored min/max buckets or None."""

    def peaks(self, recording_sid: str) -> Mapping[str, Any] | None: ...


class MediaLinks(Protocol):
    """Issues short-lived signed media URLs (`flexrec.archive.signed_urls.MediaLinkSigner`)."""

    def url(
        self,
        base_url: str,
        recording_sid: str,
        purpose: str = "play",
        subject: str = "",
        ttl_s: int | None = None,
    ) -> str: ...


class TokenValidator(Protocol):
    """Flex token validation (`flexrec.twilio.flex_tokens.FlexTokenValidator`)."""

    def validate(self, token: str) -> TokenInfo: ...


@dataclass
class ConsoleDeps:
    """Everything the console needs from the service, built once by the app factory."""

    sessions: Callable[[], Session]
    secret: str
    media_links: MediaLinks
    token_validator: TokenValidator | None = None
    peaks_source: PeaksSource | None = None
    pause_behavior: str = "silence"  # the policy's Twilio PauseBehavior: silence | skip
    session_max_age_s: int = 2 * 3600
    media_base_url: str = ""  # "" = media served by this same origin


class MediaUrlRequest(BaseModel):
    """Body of a media link request."""

    purpose: Literal["play", "download"] = "play"


class _Resolved:
    """The console's dependencies and session codec, built on first use."""

    def __init__(self, source: ConsoleDeps | Callable[[], ConsoleDeps]) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._deps: ConsoleDeps | None = None
        self._codec: SessionCodec | None = None

    def get(self) -> tuple[ConsoleDeps, SessionCodec]:
        with self._lock:
            if self._deps is None or self._codec is None:
                deps = self._source if isinstance(self._source, ConsoleDeps) else self._source()
                secret = deps.secret
                if not secret:
                    # Sessions then last as long as the process: fine for a demo, not for prod.
                    log.warning(
                        "FLEXREC_CONSOLE_SECRET is not set; console sessions end on restart"
                    )
                    secret = secrets.token_urlsafe(32)
                self._codec = SessionCodec(secret, deps.session_max_age_s)
                self._deps = deps
            return self._deps, self._codec


def create_console_router(
    deps: ConsoleDeps | Callable[[], ConsoleDeps], prefix: str = "/console"
) -> APIRouter:
    """The console's APIRouter, its paths already under `prefix`."""
    resolved = _Resolved(deps)
    if isinstance(deps, ConsoleDeps):
        resolved.get()  # fail fast on a bad secret when everything is known up front

    def d() -> ConsoleDeps:
        return resolved.get()[0]

    def codec() -> SessionCodec:
        return resolved.get()[1]

    base = prefix.rstrip("/")
    router = APIRouter(prefix=base, tags=["console"])

    @contextmanager
    def db() -> Iterator[Session]:
        session = d().sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def optional_principal(request: Request) -> Principal | None:
        return codec().loads(request.cookies.get(SESSION_COOKIE))

    def api_principal(request: Request) -> Principal:
        principal = optional_principal(request)
        if principal is None:
            raise HTTPException(401, "sign in to the console first")
        return principal

    def csrf_principal(request: Request) -> Principal:
        principal = api_principal(request)
        if not csrf_matches(principal, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
        return principal

    Api = Annotated[Principal, Depends(api_principal)]
    Csrf = Annotated[Principal, Depends(csrf_principal)]
    Maybe = Annotated[Principal | None, Depends(optional_principal)]

    def set_session(response: Response, request: Request, principal: Principal) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            codec().dumps(principal),
            max_age=d().session_max_age_s,
            path=base or "/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def page(
        name: str,
        title: str,
        principal: Principal | None,
        status: int = 200,
        values: dict[str, str] | None = None,
        script: str | None = None,
    ) -> HTMLResponse:
        media_origin = ""
        if d().media_base_url:
            parts = urlsplit(d().media_base_url)
            media_origin = f" {parts.scheme}://{parts.netloc}"
        response = HTMLResponse(
            render_page(
                name, title=title, base=base, principal=principal, values=values, script=script
            ),
            status_code=status,
        )
        # wavesurfer puts a <style> in its shadow root, hence 'unsafe-inline' for styles only.
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"media-src 'self' blob:{media_origin}; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    def login_redirect(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{base}/login?next={quote(target, safe='')}", status_code=303)

    def safe_next(value: str | None) -> str:
        # Only paths inside the console: an open redirect would help phishing.
        if value and value.startswith(f"{base}/") and not value.startswith("//"):
            return value
        return f"{base}/"

    def check_sid(recording_sid: str) -> str:
        if not _RECORDING_SID.match(recording_sid):
            raise HTTPException(404, "no such recording")
        return recording_sid

    # ---- sign-in -------------------------------------------------------------------------

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(principal: Maybe, next: str | None = None) -> Response:
        if principal is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return page("login.html", "Sign in", None, values={"next": safe_next(next), "error": ""})

    def sign_in_password(username: str, password: str) -> Principal | None:
        if not username:
            return None
        with db() as session:
            user = authenticate_user(session, username, password)
            return principal_from_user(user) if user is not None else None

    @router.post("/login", include_in_schema=False)
    async def login_password(request: Request) -> Response:
        form = await request.form()
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        next_path = safe_next(str(form.get("next") or ""))
        principal = await run_in_threadpool(sign_in_password, username, password)
        if principal is None:
            values = {"next": next_path, "error": "Wrong user name or password."}
            return page("login.html", "Sign in", None, status=401, values=values)
        response = RedirectResponse(next_path, status_code=303)
        set_session(response, request, principal)
        return response

    @router.post("/login/flex")
    async def login_flex(request: Request) -> Response:
        """Sign in with a Flex token (JSON `{"token"}` or form field `Token`)."""
        token = ""
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise HTTPException(400, "body is not JSON") from None
            if isinstance(body, dict):
                token = str(body.get("token") or body.get("Token") or "")
        else:
            form = await request.form()
            token = str(form.get("Token") or form.get("token") or "")
        if not token:
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
        validator = d().token_validator
        if validator is None:
            raise HTTPException(503, "Flex sign-in is not configured")
        try:
            info = await run_in_threadpool(validator.validate, token)
        except InvalidToken:
            raise HTTPException(401, "the Flex token is missing, invalid or expired") from None
        except TokenServiceUnavailable:
            raise HTTPException(503, "Twilio could not check the token; try again") from None
        principal = principal_from_token(info)
        response = JSONResponse({"user": principal.public(), "next": f"{base}/"})
        set_session(response, request, principal)
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: Maybe) -> Response:
        form = await request.form()
        presented = request.headers.get(CSRF_HEADER) or str(form.get("csrf_token") or "")
        if principal is not None and not csrf_matches(principal, presented):
            raise HTTPException(403, "missing or wrong CSRF token")
        response = RedirectResponse(f"{base}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=base or "/")
        return response

    # ---- pages ---------------------------------------------------------------------------

    @router.get("", include_in_schema=False)
    def root_redirect() -> Response:
        return RedirectResponse(f"{base}/", status_code=307)

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def recordings_page(request: Request, principal: Maybe) -> Response:
        if principal is None:
            return login_redirect(request)
        return page("recordings.html", "Recordings", principal, script="recordings.js")

    @router.get("/recordings/{recording_sid}", response_class=HTMLResponse, include_in_schema=False)
    def player_page(request: Request, recording_sid: str, principal: Maybe) -> Response:
        if principal is None:
            return login_redirect(request)
        if not _RECORDING_SID.match(recording_sid):
            return error_page(principal, 404, "No such recording.")
        with db() as session:
            try:
                queries.get_visible_recording(session, principal, recording_sid)
            except queries.RecordingNotFound:
                return error_page(principal, 404, "No such recording.")
            except queries.RecordingForbidden:
                return error_page(principal, 403, "This call was taken by another agent.")
        return page(
            "player.html",
            f"Recording {recording_sid}",
            principal,
            values={"recording_sid": recording_sid},
            script="player.js",
        )

    def error_page(principal: Principal | None, status: int, message: str) -> HTMLResponse:
        return page(
            "error.html",
            "Not available",
            principal,
            status=status,
            values={"status": str(status), "message": message},
        )

    # ---- JSON API ------------------------------------------------------------------------

    @router.get("/api/me")
    def me(principal: Api) -> dict[str, Any]:
        """Who is signed in."""
        return {"user": principal.public()}

    @router.get("/api/recordings")
    def list_recordings(
        principal: Api,
        q: Annotated[str | None, Query(max_length=200)] = None,
        date_from: date | None = None,
        date_to: date | None = None,
        agent: Annotated[str | None, Query(max_length=200)] = None,
        queue: Annotated[str | None, Query(max_length=200)] = None,
        direction: Annotated[str | None, Query(pattern="^(inbound|outbound)$")] = None,
        min_duration_s: Annotated[float | None, Query(ge=0)] = None,
        max_duration_s: Annotated[float | None, Query(ge=0)] = None,
        min_talk_ratio: Annotated[float | None, Query(ge=0)] = None,
        max_talk_ratio: Annotated[float | None, Query(ge=0)] = None,
        min_silence_pct: Annotated[float | None, Query(ge=0, le=100)] = None,
        max_silence_pct: Annotated[float | None, Query(ge=0, le=100)] = None,
        min_cross_talk_pct: Annotated[float | None, Query(ge=0, le=100)] = None,
        max_cross_talk_pct: Annotated[float | None, Query(ge=0, le=100)] = None,
        min_interruptions: Annotated[int | None, Query(ge=0)] = None,
        max_interruptions: Annotated[int | None, Query(ge=0)] = None,
        sort: Annotated[str, Query(max_length=40)] = "-started_at",
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 25,
    ) -> dict[str, Any]:
        """Recordings the user may see, filtered, sorted and paged in SQL."""
        filters = queries.RecordingFilters(
            q=q or None,
            date_from=date_from,
            date_to=date_to,
            agent=agent or None,
            queue=queue or None,
            direction=direction,
            min_duration_s=min_duration_s,
            max_duration_s=max_duration_s,
            min_talk_ratio=min_talk_ratio,
            max_talk_ratio=max_talk_ratio,
            min_silence_pct=min_silence_pct,
            max_silence_pct=max_silence_pct,
            min_cross_talk_pct=min_cross_talk_pct,
            max_cross_talk_pct=max_cross_talk_pct,
            min_interruptions=min_interruptions,
            max_interruptions=max_interruptions,
            sort=sort,
            page=page,
            page_size=page_size,
        )
        with db() as session:
            try:
                result = queries.list_recordings(session, principal, filters)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        return {
            "items": result.items,
            "total": result.total,
            "page": result.page,
            "page_size": result.page_size,
            "sort_keys": list(queries.SORT_KEYS),
        }

    def visible(session: Session, principal: Principal, recording_sid: str) -> Any:
        try:
            return queries.get_visible_recording(session, principal, check_sid(recording_sid))
        except queries.RecordingNotFound:
            raise HTTPException(404, "no such recording") from None
        except queries.RecordingForbidden:
            raise HTTPException(403, "this call was taken by another agent") from None

    @router.get("/api/recordings/{recording_sid}")
    def recording_detail(recording_sid: str, principal: Api) -> dict[str, Any]:
        """One call: metadata, channel roles, metrics, speech segments and pause gaps."""
        with db() as session:
            rec, ana = visible(session, principal, recording_sid)
            gaps = recording_pause_gaps(session, rec, d().pause_behavior)
            return {
                **queries.summary(rec, ana),
                "channels": queries.channel_roles(rec),
                "channel_labels": rec.channel_labels,
                "metrics": queries.analysis_metrics(ana),
                "segments": queries.speech_segments(ana),
                "pauses": [
                    {"start_ms": g.start_ms, "end_ms": g.end_ms, "paused_ms": g.paused_ms}
                    for g in gaps
                ],
                "pause_behavior": d().pause_behavior,
            }

    @router.get("/api/recordings/{recording_sid}/peaks")
    def recording_peaks(recording_sid: str, principal: Api) -> dict[str, Any]:
        """Waveform peaks per channel, ready for wavesurfer's `peaks` option."""
        with db() as session:
            rec, ana = visible(session, principal, recording_sid)
            duration_ms = rec.duration_ms or (ana.duration_ms if ana is not None else None)
            stored: Mapping[str, Any] | None = ana.peaks if ana is not None else None
        source = d().peaks_source
        if source is not None:
            # The archive computes them on first use and caches them with the analysis.
            try:
                stored = source.peaks(rec.recording_sid)
            except ArchiveError:
                raise HTTPException(404, "the recording is not in the archive") from None
        if not stored:
            raise HTTPException(404, "no waveform peaks for this recording yet")
        try:
            return wavesurfer_peaks(stored, duration_ms or stored.get("duration_ms"))
        except PeaksUnavailable as exc:
            raise HTTPException(404, str(exc)) from None

    @router.post("/api/recordings/{recording_sid}/media-url")
    def media_url(
        recording_sid: str, body: MediaUrlRequest, request: Request, principal: Csrf
    ) -> dict[str, Any]:
        """A short-lived signed media URL for `purpose` play|download; audited."""
        purpose = body.purpose
        with db() as session:
            rec, _ana = visible(session, principal, recording_sid)
            if not queries.is_playable(rec):
                raise HTTPException(409, "the media is not in the archive (yet or any more)")
            url = d().media_links.url(
                d().media_base_url, rec.recording_sid, purpose, principal.username
            )
            record_media_access(
                session,
                principal,
                rec.recording_sid,
                purpose,
                ip=request.client.host if request.client else None,
                detail={"user_agent": request.headers.get("user-agent", "")[:200]},
            )
        return {"url": url, "purpose": purpose}

    # ---- static assets -------------------------------------------------------------------

    @router.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> Response:
        target = (_STATIC_ROOT / path).resolve()
        if not target.is_relative_to(_STATIC_ROOT.resolve()) or not target.is_file():
            raise HTTPException(404, "no such file")
        media_type = _STATIC_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        response = FileResponse(target, media_type=media_type or "application/octet-stream")
        response.headers["Cache-Control"] = "no-cache"
        return response

    return router
