"""Console sign-in and sign-out: password form (login CSRF), Flex token, logout with CSRF."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flexrec.accounts.principal import (
    Principal,
    new_csrf_token,
    principal_from_token,
    principal_from_user,
)
from flexrec.accounts.users import authenticate_user
from flexrec.archive.audit_log import SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, record_event
from flexrec.console.auth import (
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    LOGIN_CSRF_FIELD,
    csrf_matches,
    tokens_match,
)
from flexrec.console.context import ConsoleContext
from flexrec.console.throttle import SignInAttempt
from flexrec.twilio.flex_tokens import InvalidToken, TokenServiceUnavailable
from flexrec.web.responses import documented
from flexrec.web.thread_pools import run_on
from flexrec.web.token_guard import (
    TokenGuard,
    TooManyTokenChecks,
    check_token,
    retry_after_header,
)


def add_auth_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """`GET|POST /login`, `POST /login/flex`, `POST /logout`."""
    Maybe = Annotated[Principal | None, Depends(ctx.optional_principal)]

    async def audit(
        request: Request, action: str, actor: str, worker_sid: str | None = None, **detail: str
    ) -> None:
        client = request.client.host if request.client else None
        agent = request.headers.get("user-agent", "")[:200]
        await run_in_threadpool(
            record_event,
            ctx.deps.sessions,
            action,
            actor,
            ip=client,
            worker_sid=worker_sid,
            detail={**detail, "user_agent": agent},
        )

    def sign_in_password(attempt: SignInAttempt, password: str) -> tuple[Principal, str] | None:
        """The principal and its new session's cookie value when the password is right, None
        when it is wrong (the throttle already allowed the attempt)."""
        with ctx.db() as session:
            user = authenticate_user(session, attempt.username, password)
            if user is None:
                return None
            principal, user_id = principal_from_user(user), user.id
        ctx.sign_in_throttle.succeeded(attempt)
        return principal, ctx.start_session(principal, user_id)

    def login_form(
        request: Request, next_path: str, error: str = "", status: int = 200
    ) -> Response:
        """The sign-in page with a fresh login CSRF token in its form and in a cookie."""
        token = new_csrf_token()
        values = {"next": next_path, "error": error, "login_csrf": token}
        response = ctx.page("login.html", "Sign in", None, status=status, values=values)
        ctx.set_login_csrf(response, request, token)
        return response

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, principal: Maybe, next: str | None = None) -> Response:
        if principal is not None:
            return RedirectResponse(ctx.safe_next(next), status_code=303)
        return login_form(request, ctx.safe_next(next))

    @router.post("/login", include_in_schema=False)
    async def login_password(request: Request) -> Response:
        form = await request.form()
        next_path = ctx.safe_next(str(form.get("next") or ""))
        # Login CSRF: only a form our sign-in page served to this browser may sign it in.
        presented = str(form.get(LOGIN_CSRF_FIELD) or "")
        username = str(form.get("username") or "").strip()[:120]
        if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), presented):
            await audit(request, SIGN_IN_FAILED, username, via="password", reason="login_csrf")
            error = "The sign-in form expired or came from another site; please sign in again."
            return login_form(request, next_path, error, status=403)
        password = str(form.get("password") or "")
        # scrypt takes tens of milliseconds and 16 MiB: off the event loop, on a small pool of
        # its own (guesses from many clients never hold the webhooks' threads or much memory).
        client = request.client.host if request.client else "unknown"
        attempt = ctx.sign_in_throttle.begin(username, client) if username else None
        if attempt is not None and attempt.refused:
            await audit(request, SIGN_IN_FAILED, username, via="password", reason="throttled")
            error = f"Too many sign-in attempts; try again in {attempt.retry_after_s} seconds."
            refused = login_form(request, next_path, error, status=429)
            refused.headers["Retry-After"] = str(attempt.retry_after_s)
            return refused
        if attempt is not None and attempt.delay_s:
            await asyncio.sleep(attempt.delay_s)  # an account being guessed: slowed, not locked
        outcome = None
        if attempt is not None:
            outcome = await run_on("password_hashes", sign_in_password, attempt, password)
        if outcome is None:
            await audit(request, SIGN_IN_FAILED, username, via="password", reason="bad_password")
            return login_form(request, next_path, "Wrong user name or password.", status=401)
        principal, cookie = outcome
        await audit(request, SIGN_IN, principal.username, principal.worker_sid, via="password")
        response = RedirectResponse(next_path, status_code=303)
        ctx.set_session(response, request, cookie)
        ctx.clear_login_csrf(response)
        return response

    @router.post("/login/flex", responses=documented(401, 403, 429, 503))
    async def login_flex(request: Request) -> Response:
        """Sign in with a Flex token: JSON `{"token"}`, a Bearer header, or form field `Token`
        (a form also needs the sign-in page's `csrf_token`)."""
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
            # Any site can make a browser post a form (not JSON, not a Bearer header): a form
            # that signs in must carry the login CSRF token our sign-in page served, or an
            # attacker could sign the victim in as the attacker (login CSRF).
            if token and not tokens_match(
                request.cookies.get(LOGIN_CSRF_COOKIE), str(form.get(LOGIN_CSRF_FIELD) or "")
            ):
                raise HTTPException(403, "a form sign-in needs the sign-in page's CSRF token")
        if not token:
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
        validator = ctx.deps.token_validator
        if validator is None:
            raise HTTPException(503, "Flex sign-in is not configured")
        guard = ctx.deps.token_guard or TokenGuard()
        client = request.client.host if request.client else None
        try:
            info = await check_token(guard, validator, token, client)
        except TooManyTokenChecks as exc:
            raise HTTPException(429, str(exc), headers=retry_after_header(exc)) from None
        except InvalidToken:
            await audit(request, SIGN_IN_FAILED, "(flex token)", via="flex", reason="invalid_token")
            raise HTTPException(401, "the Flex token is missing, invalid or expired") from None
        except TokenServiceUnavailable:
            raise HTTPException(503, "Twilio could not check the token; try again") from None
        principal = principal_from_token(info)
        await audit(request, SIGN_IN, principal.username, principal.worker_sid, via="flex")
        cookie = await run_in_threadpool(ctx.start_session, principal)
        response = JSONResponse({"user": principal.public(), "next": f"{ctx.base}/"})
        ctx.set_session(response, request, cookie)
        ctx.clear_login_csrf(response)
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: Maybe) -> Response:
        form = await request.form()
        # The sign-out button is a plain form, so its token may come as a field.
        presented = request.headers.get(CSRF_HEADER) or str(form.get("csrf_token") or "")
        if principal is not None and not csrf_matches(principal, presented):
            raise HTTPException(403, "missing or wrong CSRF token")
        if principal is not None:
            await audit(request, SIGN_OUT, principal.username, principal.worker_sid)
        # Ended on the server too: a copy of the cookie is worthless from now on.
        await run_in_threadpool(ctx.end_session, request)
        response = RedirectResponse(f"{ctx.base}/login", status_code=303)
        ctx.clear_session(response)
        return response
