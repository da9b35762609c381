"""What every console route shares: the service's parts, the session codec and web helpers.

`ConsoleDeps` is what the service hands over; `ConsoleContext` resolves it on first use (the
service builds its parts in the app's lifespan, after the routers are mounted) and offers the
helpers routes need: database sessions, who is signed in, cookies and page rendering.
"""

import logging
import re
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from flexrec.accounts.principal import Principal
from flexrec.accounts.sessions import end_session, load_session, start_session
from flexrec.archive.analyses import Analyses
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.console.auth import (
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SessionCodec,
    csrf_matches,
)
from flexrec.console.pages import render_page
from flexrec.console.throttle import SignInThrottle
from flexrec.coverage.service import CoverageReports
from flexrec.twilio.flex_tokens import TokenValidator
from flexrec.web.token_guard import TokenGuard

log = logging.getLogger(__name__)

RECORDING_SID = re.compile(r"^RE[0-9a-f]{32}$")


@dataclass
class ConsoleDeps:
    """Everything the console needs from the service, built once by the app factory."""

    sessions: sessionmaker[Session]
    secret: str
    media_links: MediaLinkSigner
    token_validator: TokenValidator | None = None
    # The archive's stored waveforms, computed on first use (None: the service has no archive).
    waveform_source: Analyses | None = None
    pause_behavior: str = "silence"  # the policy's Twilio PauseBehavior: silence | skip
    session_max_age_s: int = 2 * 3600
    media_base_url: str = ""  # "" = media served by this same origin
    # Secure cookies; None = when the request came over HTTPS (set True behind a TLS proxy).
    secure_cookies: bool | None = None
    # The app's shared guard in front of Flex token checks; None = one of the console's own.
    token_guard: TokenGuard | None = None
    # Coverage reports over the service's Twilio account (None: the page says it is off).
    coverage: CoverageReports | None = None
    # (recording SID, who, client address) -> a signed export as a zip (flexrec.custody.export);
    # None when the service has no archive.
    exporter: Callable[[str, str, str | None], bytes] | None = None


class ConsoleContext:
    """The resolved dependencies plus the helpers shared by the console's routes."""

    def __init__(self, source: ConsoleDeps | Callable[[], ConsoleDeps], base: str) -> None:
        self.base = base
        self._source = source
        self._lock = threading.Lock()
        self._resolved: tuple[ConsoleDeps, SessionCodec] | None = None
        self.sign_in_throttle = SignInThrottle()

    def _get(self) -> tuple[ConsoleDeps, SessionCodec]:
        with self._lock:
            if self._resolved is None:
                deps = self._source if isinstance(self._source, ConsoleDeps) else self._source()
                secret = deps.secret
                if not secret:
                    # Sessions then last as long as the process: fine for a demo, not for prod.
                    log.warning("FLEXREC_CONSOLE_SECRET unset: console sessions end on restart")
                    secret = secrets.token_urlsafe(32)
                if deps.token_guard is None:
                    deps.token_guard = TokenGuard()
                self._resolved = (deps, SessionCodec(secret, deps.session_max_age_s))
            return self._resolved

    @property
    def deps(self) -> ConsoleDeps:
        """The service's parts (resolved on first use)."""
        return self._get()[0]

    @property
    def codec(self) -> SessionCodec:
        """Signs and reads session cookies."""
        return self._get()[1]

    def db(self) -> AbstractContextManager[Session]:
        """A session committed on success, rolled back on error, always closed."""
        return self.deps.sessions.begin()

    # ---- who is asking (FastAPI dependencies) ------------------------------------------------

    def optional_principal(self, request: Request) -> Principal | None:
        """The signed-in user of a live session (read from the database each time), or None."""
        key = self.codec.loads(request.cookies.get(SESSION_COOKIE))
        if key is None:
            return None
        with self.db() as session:
            return load_session(session, key, datetime.now(UTC))

    def api_principal(self, request: Request) -> Principal:
        """The signed-in user, else 401."""
        principal = self.optional_principal(request)
        if principal is None:
            raise HTTPException(401, "sign in to the console first")
        return principal

    def csrf_principal(self, request: Request) -> Principal:
        """The signed-in user of a state-changing request carrying the CSRF header, else 401/403."""
        principal = self.api_principal(request)
        if not csrf_matches(principal, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
        return principal

    # ---- responses --------------------------------------------------------------------------

    def _secure(self, request: Request) -> bool:
        if self.deps.secure_cookies is None:
            return request.url.scheme == "https"
        return self.deps.secure_cookies

    def start_session(self, principal: Principal, user_id: int | None = None) -> str:
        """Store a new server-side session; returns the signed cookie value (blocking)."""
        with self.db() as session:
            key = start_session(
                session, principal, user_id, datetime.now(UTC), self.deps.session_max_age_s
            )
        return self.codec.dumps(key)

    def end_session(self, request: Request) -> None:
        """End the request's session on the server, if it has one (blocking)."""
        key = self.codec.loads(request.cookies.get(SESSION_COOKIE))
        if key is not None:
            with self.db() as session:
                end_session(session, key, datetime.now(UTC))

    def set_session(self, response: Response, request: Request, cookie: str) -> None:
        """Attach the signed session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS)."""
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=self.deps.session_max_age_s,
            path=self.base or "/",
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
        )

    def clear_session(self, response: Response) -> None:
        """Expire the session cookie."""
        response.delete_cookie(SESSION_COOKIE, path=self.base or "/")

    def set_login_csrf(self, response: Response, request: Request, token: str) -> None:
        """Attach the sign-in form's double-submit cookie (sent back only to `/login`)."""
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=self.deps.session_max_age_s,
            path=f"{self.base}/login",
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
        )

    def clear_login_csrf(self, response: Response) -> None:
        """Expire the sign-in form's cookie once it has served."""
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{self.base}/login")

    def page(
        self,
        name: str,
        title: str,
        principal: Principal | None,
        status: int = 200,
        values: dict[str, str] | None = None,
        script: str | None = None,
    ) -> HTMLResponse:
        """A rendered page with the console's security headers."""
        media_origin = ""
        if self.deps.media_base_url:
            parts = urlsplit(self.deps.media_base_url)
            media_origin = f" {parts.scheme}://{parts.netloc}"
        html = render_page(
            name, title=title, base=self.base, principal=principal, values=values, script=script
        )
        response = HTMLResponse(html, status_code=status)
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

    def audit_refusal(
        self, request: Request | None, principal: Principal, recording_sid: str
    ) -> None:
        """Audit a view refused to a signed-in user (on its own session: the request fails)."""
        from flexrec.archive.audit_log import VIEW_REFUSED, record_event

        record_event(
            self.deps.sessions,
            VIEW_REFUSED,
            principal.username,
            recording_sid=recording_sid,
            ip=request.client.host if request is not None and request.client else None,
            worker_sid=principal.worker_sid,
            detail={"via": "console", "path": request.url.path if request is not None else ""},
        )

    def error_page(self, principal: Principal | None, status: int, message: str) -> HTMLResponse:
        """A plain error page (403/404) inside the console's layout."""
        values = {"status": str(status), "message": message}
        return self.page("error.html", "Not available", principal, status=status, values=values)

    def login_redirect(self, request: Request) -> RedirectResponse:
        """Send a signed-out visitor to sign in, then back where they were going."""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{self.base}/login?next={quote(target, safe='')}", status_code=303)

    def safe_next(self, value: str | None) -> str:
        """Where to go after signing in: only paths inside the console (no open redirect)."""
        if value and value.startswith(f"{self.base}/") and not value.startswith("//"):
            return value
        return f"{self.base}/"

    @staticmethod
    def check_sid(recording_sid: str) -> str:
        """The SID if it looks like a recording SID, else 404."""
        if not RECORDING_SID.match(recording_sid):
            raise HTTPException(404, "no such recording")
        return recording_sid
