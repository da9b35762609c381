"""Console HTML pages (recordings list, player) and the package's static assets."""

import mimetypes
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from flexrec.accounts.principal import Principal
from flexrec.console import queries
from flexrec.console.context import RECORDING_SID, ConsoleContext

_STATIC_ROOT = Path(str(resources.files("flexrec.console").joinpath("static"))).resolve()
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def add_page_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """`GET /`, `GET /recordings/{RE}` and `GET /static/{path}`."""
    Maybe = Annotated[Principal | None, Depends(ctx.optional_principal)]

    @router.get("", include_in_schema=False)
    def root_redirect() -> Response:
        return RedirectResponse(f"{ctx.base}/", status_code=307)

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def recordings_page(request: Request, principal: Maybe) -> Response:
        if principal is None:
            return ctx.login_redirect(request)
        return ctx.page("recordings.html", "Recordings", principal, script="recordings.js")

    @router.get("/recordings/{recording_sid}", response_class=HTMLResponse, include_in_schema=False)
    def player_page(request: Request, recording_sid: str, principal: Maybe) -> Response:
        if principal is None:
            return ctx.login_redirect(request)
        if not RECORDING_SID.match(recording_sid):
            return ctx.error_page(principal, 404, "No such recording.")
        with ctx.db() as session:
            try:
                queries.get_visible_recording(session, principal, recording_sid)
            except queries.RecordingNotFound:
                return ctx.error_page(principal, 404, "No such recording.")
            except queries.RecordingForbidden:
                ctx.audit_refusal(request, principal, recording_sid)
                return ctx.error_page(principal, 403, "This call was taken by another agent.")
        return ctx.page(
            "player.html",
            f"Recording {recording_sid}",
            principal,
            values={"recording_sid": recording_sid},
            script="player.js",
        )

    @router.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> Response:
        target = (_STATIC_ROOT / path).resolve()
        if not target.is_relative_to(_STATIC_ROOT) or not target.is_file():
            raise HTTPException(404, "no such file")
        media_type = _STATIC_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
        response = FileResponse(target, media_type=media_type or "application/octet-stream")
        # Revalidate each time: assets change with the package and are small.
        response.headers["Cache-Control"] = "no-cache"
        return response
